"""Calibration of the regime-change probabilities of ``segment_rate`` on simulated series (issue 14).

Run: ``.venv/bin/python bench/regimes.py [--reps N] [--seed S]``. Prints two plain-text tables; about a
minute with the default 200 series per cell.

Simulation
----------
Daily counts ``1000 + cumsum(Poisson(rate_d))`` where ``rate_d`` follows a weekly cycle (weekdays 1.2x,
weekends 0.5x the mean ``rate``; the cycle's phase drawn per series). Each series goes through
``segment_rate`` exactly as ``fit_growth`` calls it for daily data (weekly blocks, penalty 2, regimes
of at least 4 weeks).

1. **False changes**: constant mean rate (2, 20, 200 apps/day), 400 and 800 days. For each ``p`` in
   0.5, 0.8, 0.9, 0.95, the share of series where some change is reported with ``prob >= p``. A
   calibrated ``prob`` keeps that share at or below ``1 - p`` (a change with ``prob >= p`` is real
   with probability at least ``p``, and here none is). ``last120`` is the share whose reported change
   (``prob >= 0.5``) lies in the last 120 days, where it would move a forecast.
2. **Detection**: the same series with the rate doubled on a day placed so that ``after`` days of data
   follow it (14, 28, 56). Detected = a change reported with ``prob >= 0.5`` dated within 28 days of the
   true one. The issue asks for at least 90 % at 28 days.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.growth.regimes import segment_rate  # noqa: E402

RATES = (2.0, 20.0, 200.0)
LENGTHS = (400, 800)
PROBS = (0.5, 0.8, 0.9, 0.95)
AFTER = (14, 28, 56)
WEEK = np.array([1.2, 1.2, 1.2, 1.2, 1.2, 0.5, 0.5])
WEEK = WEEK / WEEK.mean()
START = pd.Timestamp("2020-01-01")


def simulate(rng: np.random.Generator, rate: float, days: int, change_at: int | None = None,
             factor: float = 2.0) -> np.ndarray:
    """Live counts on ``days + 1`` days: ``days`` daily Poisson increments after a start of 1000."""
    phase = int(rng.integers(7))
    lam = rate * WEEK[(np.arange(days) + phase) % 7]
    if change_at is not None:
        lam = np.where(np.arange(days) >= change_at, lam * factor, lam)
    return 1000.0 + np.concatenate([[0.0], np.cumsum(rng.poisson(lam))])


def segment(y: np.ndarray) -> pd.DataFrame:
    dates = pd.date_range(START, periods=len(y), freq="D")
    t = np.arange(len(y), dtype=float)
    return segment_rate(dates, t, y, block=7, penalty=2.0, min_blocks=4).table


def false_changes(rng: np.random.Generator, reps: int) -> pd.DataFrame:
    rows = []
    for rate in RATES:
        for days in LENGTHS:
            best, late = [], []
            for _ in range(reps):
                tab = segment(simulate(rng, rate, days))
                best.append(float(tab["prob"].max()) if len(tab) else 0.0)
                end = START + pd.Timedelta(days=days)
                late.append(bool(((tab["prob"] >= 0.5) & (tab["date"] > end - pd.Timedelta(days=120))).any()))
            best = np.array(best)
            row = {"rate": rate, "days": days, "series": reps}
            row.update({f"p>={p}": float(np.mean(best >= p)) for p in PROBS})
            row["last120"] = float(np.mean(late))
            rows.append(row)
    out = pd.DataFrame(rows)
    total = {"rate": "all", "days": "all", "series": int(out["series"].sum())}
    total.update({c: float(out[c].mean()) for c in out.columns if c.startswith("p>=") or c == "last120"})
    out = pd.concat([out, pd.DataFrame([total])], ignore_index=True)
    target = {"rate": "target", "days": "", "series": ""}
    target.update({f"p>={p}": f"<= {1 - p:.2f}" for p in PROBS})
    target["last120"] = ""
    return pd.concat([out, pd.DataFrame([target])], ignore_index=True)


def detection(rng: np.random.Generator, reps: int) -> pd.DataFrame:
    rows = []
    for rate in RATES:
        for days in LENGTHS:
            row = {"rate": rate, "days": days, "series": reps}
            for after in AFTER:
                hit = []
                for _ in range(reps):
                    at = days - after
                    tab = segment(simulate(rng, rate, days, change_at=at))
                    true = START + pd.Timedelta(days=at + 1)  # increment i is y[i+1] - y[i]
                    ok = tab[(tab["prob"] >= 0.5) & ((tab["date"] - true).abs() <= pd.Timedelta(days=28))]
                    hit.append(len(ok) > 0)
                row[f"detected@{after}d"] = float(np.mean(hit))
            rows.append(row)
    out = pd.DataFrame(rows)
    total = {"rate": "all", "days": "all", "series": int(out["series"].sum())}
    total.update({c: float(out[c].mean()) for c in out.columns if c.startswith("detected")})
    return pd.concat([out, pd.DataFrame([total])], ignore_index=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=200, help="series per cell")
    ap.add_argument("--seed", type=int, default=14)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    t0 = time.perf_counter()
    fc = false_changes(rng, args.reps)
    det = detection(rng, args.reps)
    pd.set_option("display.width", 160)
    fmt = lambda v: f"{v:.3f}" if isinstance(v, float) else str(v)  # noqa: E731
    print(f"segment_rate calibration, seed {args.seed}, {args.reps} series per cell, "
          f"{time.perf_counter() - t0:.0f} s")
    print()
    print("1. constant rate (no change): share of series with a change reported at prob >= p")
    print(fc.to_string(index=False, formatters={c: fmt for c in fc.columns}))
    print()
    print("2. rate doubled, 'after' days of data after the change: share detected (prob >= 0.5, "
          "dated within 28 days); target >= 0.90 at 28 days")
    print(det.to_string(index=False, formatters={c: fmt for c in det.columns}))


if __name__ == "__main__":
    main()
