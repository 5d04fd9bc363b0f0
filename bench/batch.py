"""Benchmark: 1,000 two-year daily series through ``plan_many`` in-process, on 2 processes and on Dask.

Run: ``.venv/bin/python bench/batch.py`` (``--n 200`` for a quick look). Prints plain-text tables.
Target: 1,000 series in under 60 s on this (2-core) machine.

Protocol
--------
- Data: ``N`` seeded synthetic series of 730 daily counts (a quarter each linear, accelerating,
  saturating, and linear with a 1.8-3x jump of the rate somewhere in the second half of the
  history), Poisson daily additions; each is continued 365 more days, unseen by the fit, to score
  the crossing dates. Threshold per series: the last count plus 0.5-1.5x its growth over the last
  180 days.
- Work: ``plan_many`` (growth fit with ``BATCH_FIT_OPTIONS``, then 1,000 paths x 365 days and the
  crossing quantiles) per series.
- Each configuration runs in a fresh Python process so its memory is its own: in-process;
  ``ProcessPoolExecutor(2)`` (spawn); a ``LocalCluster`` of 2 worker processes with 1 thread each.
  ``startup s`` = starting the pool/cluster and warming its workers (imports, a small batch), not
  counted in ``wall s``.
- CPU: ``CPU s`` = user + system CPU seconds of the driver and its workers during the timed run
  (psutil); ``idle est s`` = ``CPU s`` / cores used (1 or 2): the wall time to expect when nothing
  else runs on the machine. The machine this runs on may be shared; the load average is printed.
- Memory: ``driver MB`` = peak RSS of the driver process (``resource.getrusage(RUSAGE_SELF)
  .ru_maxrss``); ``worker MB`` = the largest peak RSS of any worker (``RUSAGE_CHILDREN`` after the
  workers exited, which Linux takes over the whole process tree); ``total MB`` = peak of the summed
  RSS of the driver and all its descendants, sampled every 0.1 s with psutil (shared pages count
  once per process, so this overstates a little).
- Identical: the result frame equals the in-process one exactly (``assert_frame_equal``).
- Accuracy of the batch configuration against ``fit_growth``'s own default (8 backtest origins), on
  the first ``--accuracy-n`` series: median |P50 - actual crossing| in days (series that crossed
  within the year), the share of actual crossing days inside [P10, P90] (80 % nominal; no crossing
  counts as day 366 and is inside when P90 is beyond the horizon too), and the share of crossings
  earlier than P10 (missed warnings).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.batch.fitting import BATCH_FIT_OPTIONS, plan_many  # noqa: E402

DAYS, FUTURE, HORIZON, N_PATHS, SEED = 730, 365, 365, 1000, 2024
KINDS = ("linear", "accelerating", "saturating", "regime_change")


def make_panel(n: int, *, seed: int = SEED) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """History (long frame id, date, value), its unseen continuation, and per-series kind/threshold."""
    rng = np.random.default_rng(seed)
    total = DAYS + FUTURE
    t = np.arange(total, dtype=float)
    dates = pd.date_range("2023-01-01", periods=total, freq="D")
    ids = [f"s{i:04d}" for i in range(n)]
    values = np.empty((n, total))
    meta = []
    for i in range(n):
        kind = KINDS[i % len(KINDS)]
        r0 = rng.uniform(5.0, 60.0)  # apps/day at the start
        level0 = rng.uniform(500.0, 20_000.0)
        if kind == "linear":
            rate = np.full(total, r0)
        elif kind == "accelerating":  # rate doubling every 250-700 days
            rate = r0 * np.exp(np.log(2.0) / rng.uniform(250.0, 700.0) * t)
        elif kind == "saturating":  # logistic, midpoint inside the history
            cap = level0 + r0 * rng.uniform(500.0, 1100.0)
            mid, width = rng.uniform(0.3, 0.8) * DAYS, rng.uniform(60.0, 150.0)
            level = level0 + (cap - level0) / (1.0 + np.exp(-(np.r_[-1.0, t] - mid) / width))
            rate = np.diff(level)
        else:  # regime change: the rate jumps 1.8-3x in the second half of the history
            rate = np.where(t < rng.uniform(0.5, 0.9) * DAYS, r0, r0 * rng.uniform(1.8, 3.0))
        values[i] = level0 + np.cumsum(rng.poisson(rate))
        last = values[i, DAYS - 1]
        meta.append({"id": ids[i], "kind": kind,
                     "threshold": last + rng.uniform(0.5, 1.5) * (last - values[i, DAYS - 181])})
    long = pd.DataFrame({"id": np.repeat(ids, total), "date": np.tile(dates, n), "value": values.ravel()})
    seen = np.tile(np.arange(total) < DAYS, n)
    return (long[seen].reset_index(drop=True), long[~seen].reset_index(drop=True),
            pd.DataFrame(meta).set_index("id"))


def actual_crossings(future: pd.DataFrame, meta: pd.DataFrame) -> pd.Series:
    """Day (1..365) the unseen continuation first reaches the threshold; inf when it does not."""
    v = future["value"].to_numpy().reshape(len(meta), FUTURE)
    above = v >= meta["threshold"].to_numpy()[:, None]
    return pd.Series(np.where(above.any(axis=1), np.argmax(above, axis=1) + 1.0, np.inf), index=meta.index)


# ------------------------------------------------------------------------------ one configuration


class TreeRSS:
    """Peak of the summed RSS of this process and its descendants, sampled in a thread."""

    def __init__(self, every: float = 0.1) -> None:
        import psutil

        self.proc, self.every, self.peak = psutil.Process(), every, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self) -> int:
        total = 0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                total += p.memory_info().rss
            except Exception:  # a process that just exited
                pass
        return total

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(self.every)

    def cpu_seconds(self) -> float:
        """User + system CPU seconds used so far by this process and its live descendants."""
        total = 0.0
        for p in [self.proc, *self.proc.children(recursive=True)]:
            try:
                t = p.cpu_times()
                total += t.user + t.system
            except Exception:  # a process that just exited
                pass
        return total

    def __enter__(self) -> TreeRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _warm() -> None:
    import statsmodels.tsa.statespace.structural  # noqa: F401  (fit_growth imports it lazily)


def run_one(mode: str, n: int, out: Path, fit_options: dict | None) -> dict:
    hist, _, meta = make_panel(n)
    warm_hist, _, warm_meta = make_panel(8, seed=SEED + 1)
    threshold = meta["threshold"]
    kw = dict(threshold=threshold, horizon_days=HORIZON, n_paths=N_PATHS, fit_options=fit_options)
    _warm()
    with TreeRSS() as tree:
        t0 = time.perf_counter()
        if mode == "inproc":
            plan_many(warm_hist, threshold=warm_meta["threshold"])  # same warm-up as the others
            t1, c1 = time.perf_counter(), tree.cpu_seconds()
            result = plan_many(hist, **kw)
            t2, c2 = time.perf_counter(), tree.cpu_seconds()
        elif mode == "pool":
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
                plan_many(warm_hist, threshold=warm_meta["threshold"], executor=ex)
                t1, c1 = time.perf_counter(), tree.cpu_seconds()
                result = plan_many(hist, executor=ex, **kw)
                t2, c2 = time.perf_counter(), tree.cpu_seconds()
        elif mode == "dask":
            from distributed import Client, LocalCluster

            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                              silence_logs=40) as cluster, Client(cluster) as client:
                client.run(_warm)
                plan_many(warm_hist, threshold=warm_meta["threshold"], executor=client)
                t1, c1 = time.perf_counter(), tree.cpu_seconds()
                result = plan_many(hist, executor=client, **kw)
                t2, c2 = time.perf_counter(), tree.cpu_seconds()
        else:
            raise SystemExit(f"unknown mode {mode!r}")
    result.to_parquet(out)
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"mode": mode, "n": n, "startup_s": t1 - t0, "wall_s": t2 - t1, "cpu_s": c2 - c1,
            "chunk": result.attrs["chunk_size"], "cores": 1 if mode == "inproc" else 2,
            "driver_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "worker_mb": children if mode != "inproc" else float("nan"), "total_mb": tree.peak / 2**20,
            "errors": int(result["error"].notna().sum())}


def _subprocess(mode: str, n: int, out: Path, fit_options: dict | None) -> dict:
    cmd = [sys.executable, __file__, "--mode", mode, "--n", str(n), "--result", str(out)]
    if fit_options is not None:
        cmd += ["--fit-options", json.dumps(fit_options)]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode:
        raise SystemExit(f"{mode} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------------------------- accuracy


def accuracy(result: pd.DataFrame, actual: pd.Series) -> dict:
    day0 = result["last_date"]
    res = result.loc[actual.index]

    def days(col: str) -> np.ndarray:
        d = (res[col] - day0.loc[actual.index]).dt.days.to_numpy(float)
        return np.where(np.isnan(d), np.inf, d)

    p10, p50, p90 = days("crossing_p10"), days("crossing_p50"), days("crossing_p90")
    a = actual.to_numpy()
    crossed = np.isfinite(a)
    err = np.abs(np.minimum(p50, HORIZON + 1) - a)[crossed]
    a_inf = np.where(crossed, a, HORIZON + 1)
    inside = (a_inf >= np.minimum(p10, HORIZON + 1)) & (a_inf <= np.minimum(p90, HORIZON + 1))
    return {"mae50": float(np.median(err)), "coverage": float(np.mean(inside)),
            "missed": float(np.mean(a[crossed] < p10[crossed])), "crossed": int(crossed.sum())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000, help="series (default 1000)")
    parser.add_argument("--accuracy-n", type=int, default=200, help="series for the accuracy comparison")
    parser.add_argument("--mode", help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--fit-options", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode:  # one configuration, in a child process
        options = json.loads(args.fit_options) if args.fit_options else None
        print(json.dumps(run_one(args.mode, args.n, Path(args.result), options)))
        return

    print(f"plan_many on {args.n} synthetic two-year daily series ({', '.join(KINDS)}); "
          f"{N_PATHS} paths x {HORIZON} days each; fit options {dict(BATCH_FIT_OPTIONS)}; "
          f"{os.cpu_count()} cores; load average before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        rows, frames = [], {}
        for mode in ("inproc", "pool", "dask"):
            out = Path(tmp) / f"{mode}.parquet"
            rows.append(_subprocess(mode, args.n, out, None))
            frames[mode] = pd.read_parquet(out)
        for r in rows:
            try:
                pd.testing.assert_frame_equal(frames[r["mode"]], frames["inproc"])
                r["identical"] = "yes"
            except AssertionError:
                r["identical"] = "NO"
        names = {"inproc": "in-process", "pool": "2 processes", "dask": "Dask 2 workers"}
        print(f"\n{'mode':<16}{'series':>7}{'chunk':>6}{'startup s':>10}{'wall s':>8}{'series/s':>9}"
              f"{'CPU s':>7}{'idle est s':>11}{'driver MB':>10}{'worker MB':>10}{'total MB':>9}{'errors':>7}"
              f"{'identical':>10}")
        for r in rows:
            print(f"{names[r['mode']]:<16}{r['n']:>7}{r['chunk']:>6}{r['startup_s']:>10.1f}{r['wall_s']:>8.1f}"
                  f"{r['n'] / r['wall_s']:>9.1f}{r['cpu_s']:>7.0f}{r['cpu_s'] / r['cores']:>11.0f}"
                  f"{r['driver_mb']:>10.0f}{r['worker_mb']:>10.0f}{r['total_mb']:>9.0f}{r['errors']:>7}"
                  f"{r['identical']:>10}")
        best = min(r["wall_s"] for r in rows)
        print(f"load average after: {os.getloadavg()[0]:.1f} (other work on the machine slows every row)")
        est = min(r["cpu_s"] / r["cores"] for r in rows)
        print(f"target: {args.n} series in < 60 s -> best wall {best:.1f} s "
              f"({'met' if best < 60 else 'not met' if args.n == 1000 else 'n/a'}); "
              f"on an idle machine (CPU s / cores) about {est:.0f} s")

        k = min(args.accuracy_n, args.n)
        out = Path(tmp) / "default.parquet"
        default_opts = {"n_origins": 8}
        row = _subprocess("pool", k, out, default_opts)
        _, future, meta = make_panel(args.n)
        actual = actual_crossings(future, meta).iloc[:k]
        acc = {"batch " + json.dumps(dict(BATCH_FIT_OPTIONS)): (accuracy(frames["inproc"], actual),
                                                                 rows[1]["cpu_s"] / args.n),
               "fit_growth default " + json.dumps(default_opts): (accuracy(pd.read_parquet(out), actual),
                                                                  row["cpu_s"] / k)}
        print(f"\naccuracy on the first {k} series ({acc[next(iter(acc))][0]['crossed']} cross within "
              f"{HORIZON} days); CPU s per series on 2 processes")
        print(f"{'fit options':<34}{'|P50 err| d':>12}{'P10-P90 cover':>14}{'missed':>8}{'CPU s':>9}")
        for name, (a, s) in acc.items():
            print(f"{name:<34}{a['mae50']:>12.0f}{a['coverage']:>14.0%}{a['missed']:>8.0%}{s:>9.3f}")


if __name__ == "__main__":
    main()
