"""Growth forecasts on real registry series: crossing dates, coverage, error, speed.

Run: ``.venv/bin/python bench/growth.py`` (also part of ``make bench``). Prints plain-text tables.

Protocol
--------
For every ``date,value`` series in ``data/real/growth`` (the ``*_daily.csv`` change logs are
skipped) and every quarter end from one year after the series starts to 90 days before it ends
(the origin), each method sees only the data up to the origin and forecasts 730 days ahead.

- **threshold** = the count at the origin plus its growth over the last 182 days (origins whose
  last half-year did not grow are left out of the crossing metrics: there is nothing to cross).
- **predicted crossing** = the first day the forecast's median (the mean for the Gaussian
  baselines) reaches the threshold; **10 % early crossing** = the first day its 90 % quantile does
  (for a path that never falls this is exactly the date by which 10 % of paths have crossed);
  "never within 730 days" counts as day 730.
- **crossing error** = |predicted - actual| in days. When the actual crossing lies beyond the data
  (or beyond 730 days) only the part of the error that is certain counts: ``max(0, end - predicted)``
  where ``end`` is the last day that could be checked.
- **missed warning** = the actual crossing (observed in the data) came earlier than the 10 % early
  crossing date; the rate is over origins whose crossing was observed.
- **coverage@90** = share of origins whose 80 % interval 90 days ahead contains the actual count.
- **MASE@90** = |point forecast - actual| 90 days ahead divided by the mean absolute 90-day change
  within the training data (the error of a "no change" forecast), averaged over origins.
- **s/fit** = median wall time of one fit plus its 730-day forecast.

A second table times what the planner does on every weekly replay: the default ``fit_growth`` plus
1000 paths of 365 days, on the last two years (730 days) of each daily series, 5 runs each, in a
warm process (the first call of a process also imports statsmodels, about 0.5-1 s once).

Methods: ``capacity`` (``fit_growth`` defaults; 1000 paths; the paths' median as the point
forecast, as absolute errors call for, and their quantiles); ``ets_add`` and ``ets_damped``:
statsmodels ``ETSModel`` with additive errors and an additive (or damped) trend, intervals from
``get_prediction``; ``drift90``: least-squares line through the last 90 days (what Prometheus'
``predict_linear`` extrapolates) with its ordinary prediction interval.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from capacity.data import load_apps  # noqa: E402
from capacity.growth.fit import fit_growth  # noqa: E402

H = 730  # days forecast, and the crossing window
H90 = 90
HALF_YEAR = 182
Z80 = stats.norm.ppf(0.9)


def _daily(values: np.ndarray, steps_days: np.ndarray) -> np.ndarray:
    """Interpolate forecasts made at ``steps_days`` (days after the origin) to days 1..H."""
    return np.interp(np.arange(1, H + 1), steps_days, values)


def _steps(index: pd.DatetimeIndex, origin: pd.Timestamp, n: int, step_days: float) -> np.ndarray:
    if step_days <= 1.5:
        return np.arange(1, n + 1, dtype=float)
    future = pd.date_range(origin, periods=n + 1, freq=pd.DateOffset(months=1))[1:]
    return np.asarray((future - origin) / pd.Timedelta(days=1), dtype=float)


def method_capacity(train: pd.Series, step_days: float):
    fit = fit_growth(train)
    paths = fit.paths(H, n=1000, seed=0).to_numpy()
    q10, q50, q90 = np.quantile(paths, [0.1, 0.5, 0.9], axis=0)
    return {"point": q50, "q10": q10, "q50": q50, "q90": q90}


def _ets(train: pd.Series, step_days: float, damped: bool):
    from statsmodels.tsa.exponential_smoothing.ets import ETSModel

    # a plain RangeIndex: statsmodels' prediction results need an index, not an ndarray
    y = pd.Series(train.to_numpy(dtype=float))
    n_steps = H if step_days <= 1.5 else int(np.ceil(H / 30.4)) + 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = ETSModel(y, error="add", trend="add", damped_trend=damped).fit(disp=False)
        fr = res.get_prediction(start=len(y), end=len(y) + n_steps - 1).summary_frame(alpha=0.2)
    steps = _steps(train.index, train.index[-1], n_steps, step_days)
    mean = _daily(fr["mean"].to_numpy(), steps)
    return {"point": mean, "q10": _daily(fr["pi_lower"].to_numpy(), steps), "q50": mean,
            "q90": _daily(fr["pi_upper"].to_numpy(), steps)}


def method_ets_add(train, step_days):
    return _ets(train, step_days, damped=False)


def method_ets_damped(train, step_days):
    return _ets(train, step_days, damped=True)


def method_drift90(train: pd.Series, step_days: float):
    t = np.asarray((train.index - train.index[-1]) / pd.Timedelta(days=1), dtype=float)
    keep = t >= -H90
    if keep.sum() < 3:
        keep[-3:] = True
    x, y = t[keep], train.to_numpy(dtype=float)[keep]
    n = len(x)
    b, a = np.polyfit(x, y, 1)
    resid = y - (a + b * x)
    s = np.sqrt(np.sum(resid**2) / max(n - 2, 1))
    h = np.arange(1, H + 1, dtype=float)
    se = s * np.sqrt(1 + 1 / n + (h - x.mean()) ** 2 / np.sum((x - x.mean()) ** 2))
    mean = a + b * h
    q = stats.t.ppf(0.9, max(n - 2, 1))
    return {"point": mean, "q10": mean - q * se, "q50": mean, "q90": mean + q * se}


METHODS = {
    "capacity": method_capacity,
    "ets_add": method_ets_add,
    "ets_damped": method_ets_damped,
    "drift90": method_drift90,
}


def _first_day(curve: np.ndarray, threshold: float) -> float:
    hit = np.flatnonzero(curve >= threshold)
    return float(hit[0] + 1) if len(hit) else np.inf


def evaluate(name: str, s: pd.Series) -> list[dict]:
    step_days = float(np.median(np.diff(s.index) / pd.Timedelta(days=1)))
    t_all = np.asarray((s.index - s.index[0]) / pd.Timedelta(days=1), dtype=float)
    y_all = s.to_numpy(dtype=float)
    first = s.index[0] + pd.Timedelta(days=365)
    last = s.index[-1] - pd.Timedelta(days=H90)
    origins = pd.date_range(first, last, freq="QE")
    rows = []
    for origin in origins:
        train = s[:origin]
        t_o = float((train.index[-1] - s.index[0]) / pd.Timedelta(days=1))
        y_o = float(train.iloc[-1])
        growth = y_o - float(np.interp(t_o - HALF_YEAR, t_all, y_all))
        threshold = y_o + growth
        end_days = min(H, t_all[-1] - t_o)
        fut = t_all > t_o
        crossed = fut & (y_all >= threshold) & (t_all - t_o <= end_days)
        actual_cross = float(t_all[crossed][0] - t_o) if crossed.any() else np.inf
        actual90 = float(np.interp(t_o + H90, t_all, y_all))
        pre = t_all <= t_o
        ref = np.interp(t_all[pre] - H90, t_all, y_all)
        ok = t_all[pre] >= H90
        scale = float(np.mean(np.abs(y_all[pre][ok] - ref[ok]))) if ok.any() else 1.0
        scale = max(scale, 1.0)
        for method, fn in METHODS.items():
            t0 = time.perf_counter()
            try:
                fc = fn(train, step_days)
            except Exception as exc:  # a baseline failing is a result, not a crash
                rows.append({"series": name, "origin": origin, "method": method,
                             "error": type(exc).__name__})
                continue
            secs = time.perf_counter() - t0
            row = {"series": name, "origin": origin, "method": method, "secs": secs}
            if growth > 0:
                pred = min(_first_day(fc["q50"], threshold), H)
                early = _first_day(fc["q90"], threshold)
                if np.isfinite(actual_cross):
                    row["cross_err"] = abs(pred - actual_cross)
                    row["missed"] = float(actual_cross < early)
                else:
                    row["cross_err"] = max(0.0, end_days - pred)
            lo, hi = fc["q10"][H90 - 1], fc["q90"][H90 - 1]
            row["covered"] = float(lo <= actual90 <= hi)
            row["mase"] = abs(fc["point"][H90 - 1] - actual90) / scale
            rows.append(row)
    return rows


def speed(files: list[Path], repeats: int = 5) -> pd.DataFrame:
    """Seconds for fit_growth + paths(365, n=1000) on 2-year daily series."""
    rows = []
    fit_growth(load_apps(files[0], apps_col="value")["apps"].iloc[-730:])  # warm-up: imports
    for path in files:
        s = load_apps(path, apps_col="value")["apps"]
        if float(np.median(np.diff(s.index) / pd.Timedelta(days=1))) > 1.5:
            continue  # monthly
        s = s.iloc[-730:]
        for _ in range(repeats):
            t0 = time.perf_counter()
            fit = fit_growth(s)
            fit.paths(365, n=1000, seed=0)
            rows.append({"series": path.stem, "secs": time.perf_counter() - t0})
    return pd.DataFrame(rows)


def main() -> None:
    files = sorted(p for p in (ROOT / "data/real/growth").glob("*.csv")
                   if not p.stem.endswith("_daily"))
    all_rows = []
    t_start = time.perf_counter()
    for path in files:
        s = load_apps(path, apps_col="value")["apps"].astype(float)
        all_rows += evaluate(path.stem, s)
    res = pd.DataFrame(all_rows)
    elapsed = time.perf_counter() - t_start

    def table(g: pd.DataFrame) -> pd.Series:
        return pd.Series({
            "origins": int(g["secs"].notna().sum()),
            "cross_err_med_days": g["cross_err"].median(),
            "missed_warning": g["missed"].mean(),
            "coverage80@90": g["covered"].mean(),
            "MASE@90": g["mase"].mean(),
            "s/fit": g["secs"].median(),
            "failures": int(g["error"].notna().sum()) if "error" in g else 0,
        })

    pd.set_option("display.width", 140)
    order = list(METHODS)
    overall = res.groupby("method").apply(table, include_groups=False).loc[order]
    print(f"Growth forecasts on {len(files)} real series, quarterly origins "
          f"({res.groupby('series')['origin'].nunique().sum()} in all), {elapsed:.0f} s")
    print()
    print(overall.to_string(float_format=lambda v: f"{v:.3f}"))
    print()
    per = res.pivot_table(index="series", columns="method", values="cross_err",
                          aggfunc="median")[order]
    print("median crossing error by series (days)")
    print(per.to_string(float_format=lambda v: f"{v:.0f}"))
    print()
    miss = res.pivot_table(index="series", columns="method", values="missed", aggfunc="mean")[order]
    print("missed-warning rate by series")
    print(miss.to_string(float_format=lambda v: f"{v:.2f}"))
    print()
    cov = res.pivot_table(index="series", columns="method", values="covered", aggfunc="mean")[order]
    print("80% coverage at 90 days by series")
    print(cov.to_string(float_format=lambda v: f"{v:.2f}"))
    print()
    sp = speed(files)
    print("speed: fit_growth + 1000 paths x 365 days on a 2-year daily series (seconds)")
    print(sp.groupby("series")["secs"].median().to_string(float_format=lambda v: f"{v:.3f}"))
    print(f"median over all runs: {sp['secs'].median():.3f} s (max {sp['secs'].max():.3f} s, "
          f"{len(sp)} runs)")


if __name__ == "__main__":
    main()
