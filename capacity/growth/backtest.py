"""Fitting machinery of :mod:`capacity.growth` (helper module, not public on its own).

- :class:`Prepared` / :func:`prepare`: a validated series on its working grid (daily data filled
  to every day, weekly and monthly data as they are);
- :func:`fit_state`: the segmentation of the rate and every candidate fitted at one origin;
- :func:`run_backtest`: the rolling-origin backtest at the planning horizon, which weighs the
  candidates (weights proportional to the inverse of their scaled error) and calibrates the spread
  of the simulated paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from capacity.errors import InputDataError
from capacity.growth.models import MODELS, Candidate, fit_curve, fit_local_trend, piecewise_candidate
from capacity.growth.paths import SCALE_GRID, CoverageGrid, Uncertainty, origin_draws
from capacity.growth.regimes import Segmentation, segment_rate

__all__ = ["MIN_OBS", "MIN_BLOCKS", "Prepared", "prepare", "FitState", "fit_state",
           "BacktestResult", "run_backtest"]

#: fewest observations and fewest rate blocks (weeks for daily data) a fit accepts
MIN_OBS = 10
MIN_BLOCKS = 8
#: paths per backtest origin used for calibration
_CAL_PATHS = 200
#: shortest training history of a backtest origin, days
_MIN_TRAIN_DAYS = 84
#: the local-trend model sees at most this many recent points (weeks for daily data)
_LLT_POINTS = 260


@dataclass(frozen=True, eq=False)
class Prepared:
    """A validated series on its working grid (daily data filled to every day)."""

    dates: pd.DatetimeIndex
    t: np.ndarray
    y: np.ndarray
    block: int
    min_blocks: int
    daily: bool
    monotone: bool
    n_filled: int

    @property
    def n_blocks(self) -> int:
        return (len(self.y) - 1) // self.block

    def truncate(self, i: int) -> Prepared:
        y = self.y[: i + 1]
        return Prepared(self.dates[: i + 1], self.t[: i + 1], y, self.block, self.min_blocks,
                         self.daily, bool(np.all(np.diff(y) >= 0)), 0)

    def rates(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean level (apps) and rate of new apps (apps/day) over ~4-week blocks, oldest first."""
        agg = 28 if self.daily else (4 if self.block == 1 and self._step() < 10 else 1)
        ends = np.arange(len(self.y) - 1, agg - 1, -agg)[::-1]
        dy = self.y[ends] - self.y[ends - agg]
        dt = self.t[ends] - self.t[ends - agg]
        return (self.y[ends] + self.y[ends - agg]) / 2.0, dy / dt

    def _step(self) -> float:
        return float(np.median(np.diff(self.t))) if len(self.t) > 1 else 1.0

    def points(self) -> tuple[np.ndarray, np.ndarray]:
        """Points the curves are fitted to: block ends (weekly for daily data)."""
        if self.block == 1:
            return self.t, self.y
        ends = np.arange(len(self.y) - 1, -1, -self.block)[::-1]
        return self.t[ends], self.y[ends]


def _needed(daily: bool) -> str:
    if daily:
        return f"at least {MIN_BLOCKS * 7 + 1} daily points ({MIN_BLOCKS} weeks)"
    return f"at least {max(MIN_OBS, MIN_BLOCKS + 1)} points"


def prepare(series: pd.Series) -> Prepared:
    """Put a validated series on its working grid; too little data raises InputDataError."""
    if len(series) < 2:
        raise InputDataError(
            f"fit_growth needs at least {MIN_OBS} observations of the app count; got {len(series)}"
        )
    days = np.asarray((series.index - series.index[0]) / pd.Timedelta(days=1), dtype=float)
    step = float(np.median(np.diff(days)))
    daily = step <= 1.5
    n_filled = 0
    if daily:
        full = pd.date_range(series.index[0], series.index[-1], freq="D", name="date")
        if len(full) != len(series):
            n_filled = len(full) - len(series)
            series = series.reindex(full).interpolate(method="time")
    dates = pd.DatetimeIndex(series.index)
    y = series.to_numpy(dtype=float)
    t = np.asarray((dates - dates[0]) / pd.Timedelta(days=1), dtype=float)
    block = 7 if daily else 1
    min_blocks = 4 if step <= 10 else 2
    prep = Prepared(dates, t, y, block, min_blocks, daily, bool(np.all(np.diff(y) >= 0)),
                     n_filled)
    if len(y) < MIN_OBS or prep.n_blocks < MIN_BLOCKS:
        raise InputDataError(
            f"fit_growth needs {_needed(daily)} of the app count; got {len(series)}"
            + (f" spanning {int(t[-1]) + 1} days" if daily else "")
        )
    return prep


# --------------------------------------------------------------------------------------------
# fitting


@dataclass(frozen=True, eq=False)
class FitState:
    """The segmentation, the fitted candidates (and why others failed) at one origin."""

    seg: Segmentation
    cands: dict[str, Candidate]
    unc: Uncertainty
    llt_params: np.ndarray | None
    failed: dict[str, str] = field(default_factory=dict)


def uncertainty_of(seg: Segmentation, monotone: bool) -> Uncertainty:
    """Rate and noise uncertainty of the paths from the last regime (see capacity.growth.paths)."""
    info = abs(seg.last_sum) + 0.5
    return Uncertainty(
        rate_log_sd=float(np.sqrt(np.log1p(seg.phi / info))),
        hazard=seg.hazard,
        shock_sd=seg.shock_sd,
        phi=seg.phi,
        noise_var=seg.noise_var,
        monotone=monotone,
    )


def fit_state(
    p: Prepared,
    names: Sequence[str],
    cap: float | None,
    penalty: float,
    llt_params: np.ndarray | None = None,
) -> FitState:
    """Segment the rate and fit every candidate in ``names`` to ``p``."""
    seg = segment_rate(p.dates, p.t, p.y, block=p.block, penalty=penalty,
                       min_blocks=p.min_blocks)
    t_last, y_last = float(p.t[-1]), float(p.y[-1])
    cands: dict[str, Candidate] = {}
    failed: dict[str, str] = {}
    if "piecewise" in names:
        s, e = seg.last_sum, seg.last_exposure
        # posterior mean of a quasi-Poisson rate (half a count of prior) keeps a dead-flat
        # regime's rate positive but tiny
        rate = (s + 0.5) / e if s >= 0 else s / e
        cands["piecewise"] = piecewise_candidate(rate, t_last, y_last, p.monotone,
                                                 len(seg.rates))
    tp, yp = p.points()
    rates = p.rates()
    for name in ("linear", "exponential", "logistic", "gompertz"):
        if name in names:
            c = fit_curve(name, tp, yp, t_last=t_last, y_last=y_last, monotone=p.monotone,
                          cap=cap, rates=rates)
            if c is None:
                failed[name] = (
                    "best cap is at the largest value seen: the rate does not fall as a "
                    "saturating curve needs" if name in ("logistic", "gompertz")
                    else "could not be fitted"
                )
            else:
                cands[name] = c
    if "local_trend" in names:
        c, llt_params = fit_local_trend(tp[-_LLT_POINTS:], yp[-_LLT_POINTS:], t_last=t_last,
                                        y_last=y_last, monotone=p.monotone, params=llt_params)
        if c is None:
            failed["local_trend"] = "could not be fitted"
        else:
            cands["local_trend"] = c
    return FitState(seg, cands, uncertainty_of(seg, p.monotone), llt_params, failed)


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Errors and weights of the candidates, the calibrated scale and the coverage figures."""

    table: pd.DataFrame
    weights: dict[str, float]
    scale: float
    coverage: float
    coverage_raw: float
    horizon: int
    n_origins: int
    notes: tuple[str, ...]


def naive_scale(p: Prepared, horizon: float) -> float:
    """Mean absolute change over ``horizon`` days in the training data (the MASE denominator)."""
    t, y = p.t, p.y
    ok = t >= t[0] + horizon
    if ok.sum() >= 2:
        ref = np.interp(t[ok] - horizon, t, y)
        s = float(np.mean(np.abs(y[ok] - ref)))
    else:
        s = abs(y[-1] - y[0]) * horizon / max(t[-1] - t[0], 1.0)
    return max(s, 1.0)


def run_backtest(
    p: Prepared,
    full: FitState,
    names: Sequence[str],
    cap: float | None,
    penalty: float,
    horizon: int,
    n_origins: int,
    level: float,
    seed: int,
) -> BacktestResult:
    """Rolling-origin backtest at the planning horizon, candidate weights and calibration.

    Origins sit ``horizon`` days before the end and then every quarter of the horizon earlier
    (``n_origins`` of them, each with at least 12 weeks of history). At each one every candidate
    is refitted to the data known then (the local-trend model reuses the variances estimated on the
    whole series and only reruns its Kalman filter: the "reduced budget" that keeps this fast)
    and judged every 4 weeks up to the horizon. Weights are proportional to ``1 / mase``
    (candidates under 2 % dropped). The calibration scale is the smallest on the grid whose
    pooled coverage reaches ``level``; the reported coverage judges each origin with the scale
    calibrated on the others.
    """
    span = float(p.t[-1])
    weeks = int(np.ceil(min(horizon, max(28.0, span / 3.0)) / 7.0))
    h_days = 7 * weeks
    checks = np.unique(np.r_[np.arange(4, weeks + 1, 4), weeks]).astype(int)
    spacing = max(7.0, 7.0 * round(h_days / 28.0))
    model_names = [m for m in MODELS if m in full.cands]
    rows: list[dict[str, float]] = []
    origins: list[tuple[FitState, float, np.ndarray]] = []
    for j in range(n_origins):
        t_o = span - h_days - j * spacing
        if t_o < _MIN_TRAIN_DAYS:
            break
        i = int(np.searchsorted(p.t, t_o, side="right")) - 1
        q = p.truncate(i)
        if len(q.y) < MIN_OBS or q.n_blocks < MIN_BLOCKS:
            break
        st = fit_state(q, names, cap, penalty, full.llt_params)
        actual = np.interp(q.t[-1] + 7.0 * checks, p.t, p.y)
        scale = naive_scale(q, h_days)
        row: dict[str, float] = {"origin": float(q.t[-1])}
        for m in model_names:
            c = st.cands.get(m)
            if c is None:
                row[m] = np.nan
                continue
            path = c.mean_path(h_days)
            row[m] = float(np.mean(np.abs(path[7 * checks - 1] - actual))) / scale
            row[m + "_abs"] = float(np.mean(np.abs(path[7 * checks - 1] - actual)))
        rows.append(row)
        origins.append((st, scale, actual))
    notes: list[str] = []
    if len(rows) < 2:
        notes.append(
            f"history too short for a rolling-origin backtest at {h_days} days: "
            "the piecewise model is used alone and the paths are not calibrated"
        )
        w = {m: (1.0 if m == "piecewise" else 0.0) for m in model_names}
        if "piecewise" not in model_names:
            w = {m: 1.0 / len(model_names) for m in model_names}
        table = pd.DataFrame(
            {"mase": np.nan, "mae": np.nan, "weight": pd.Series(w)}, index=model_names
        )
        table.index.name = "model"
        table.attrs.update(horizon_days=h_days, n_origins=len(rows), origins=[])
        return BacktestResult(table, w, 1.0, np.nan, np.nan, h_days, len(rows), tuple(notes))
    err = pd.DataFrame(rows)
    mase = {m: float(np.nanmean(err[m])) if err[m].notna().any() else np.nan
            for m in model_names}
    mae = {m: float(np.nanmean(err[m + "_abs"])) if m + "_abs" in err else np.nan
           for m in model_names}
    w = {}
    for m in model_names:
        enough = err[m].notna().mean() >= 0.5
        w[m] = 1.0 / max(mase[m], 1e-6) if enough and np.isfinite(mase[m]) else 0.0
    total = sum(w.values())
    w = {m: v / total for m, v in w.items()}
    w = {m: (v if v >= 0.02 else 0.0) for m, v in w.items()}
    total = sum(w.values())
    w = {m: v / total for m, v in w.items()}

    # a change the backtest could not see (too recent for any origin) must still steer the forecast
    reg = full.seg.table
    if len(reg) and "piecewise" in model_names:
        last = reg.iloc[-1]
        # origins that saw at least a minimum-length stretch of the new regime
        seen = (p.dates[0] + pd.to_timedelta(err["origin"], unit="D")) >= (
            last["date"] + pd.Timedelta(days=p.min_blocks * p.block * p._step())
        )
        if int(seen.sum()) < 2 and last["prob"] >= 0.5:
            w = {m: (1.0 if m == "piecewise" else 0.0) for m in model_names}
            notes.append(
                f"regime change on {last['date'].date()} is too recent for the backtest to judge "
                f"(at {h_days} days): the forecast follows the new regime (piecewise model only)"
            )

    # calibration: one scale on the rate uncertainty, chosen on the pooled backtest coverage
    rng = np.random.default_rng(seed)
    draws = []
    for st, _, actual in origins:
        present = [m for m in model_names if m in st.cands and w[m] > 0]
        if not present:
            present = list(st.cands)
            ww = np.ones(len(present))
        else:
            ww = np.array([w[m] for m in present])
        bases = np.stack([st.cands[m].increments(h_days).reshape(weeks, 7).sum(axis=1)
                          for m in present])
        draws.append(origin_draws(bases, ww, float(st.cands[present[0]].y_last), st.unc,
                                  checks, actual, _CAL_PATHS, rng))
    grid = CoverageGrid(draws, level, SCALE_GRID)
    k = grid.smallest()
    if grid.pooled(k) < level:
        notes.append("even the widest calibration scale does not reach the nominal coverage")
    n_o = len(draws)
    # honest coverage: each origin judged with the scale calibrated on the other origins
    loo = [grid.origin(i, grid.smallest(skip=i)) for i in range(n_o)]
    one = int(np.argmin(np.abs(SCALE_GRID - 1.0)))
    coverage_raw = grid.pooled(one)
    table = pd.DataFrame(
        {"mase": pd.Series(mase), "mae": pd.Series(mae), "weight": pd.Series(w)},
        index=model_names,
    )
    table.index.name = "model"
    table.attrs.update(horizon_days=h_days, n_origins=n_o,
                       origins=[str((p.dates[0] + pd.Timedelta(days=o)).date())
                                for o in err["origin"]])
    return BacktestResult(table, w, float(SCALE_GRID[k]), float(np.mean(loo)), coverage_raw,
                     h_days, n_o, tuple(notes))
