"""Preparation, the fit at one origin, the rolling-origin backtest (helper module of :mod:`capacity.growth`).

- :func:`as_series`, :class:`Prepared` / :func:`prepare`: the input checked, then on its working
  grid (daily data filled to every day, weekly and monthly data as they are);
- :func:`fit_state`: the segmentation of the rate (:mod:`capacity.growth.regimes`) and every
  registered candidate (:data:`capacity.growth.models.MODELS`) fitted at one origin;
- :func:`run_backtest`: the rolling-origin backtest at the planning horizon, which weighs the
  candidates (weights proportional to the inverse of their scaled error) and calibrates the spread
  of the simulated paths (:mod:`capacity.growth.paths`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InputDataError
from capacity.growth.models import MODELS, Candidate, Observed
from capacity.growth.paths import SCALE_GRID, CoverageGrid, OriginDraws, Uncertainty, origin_draws
from capacity.growth.regimes import Segmentation, segment_rate

__all__ = ["MIN_OBS", "MIN_BLOCKS", "Prepared", "as_series", "prepare", "FitState", "fit_state", "observe",
           "BacktestResult", "CVOrigin", "Schedule", "Origin", "run_backtest", "replay"]

#: fewest observations and fewest rate blocks (weeks for daily data) a fit accepts
MIN_OBS = 10
MIN_BLOCKS = 8
#: paths per backtest origin used for calibration
_CAL_PATHS = 200
#: shortest training history of a backtest origin, days
_MIN_TRAIN_DAYS = 84


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


def as_series(apps: pd.Series | pd.DataFrame) -> pd.Series:
    """Validate the input and return a float Series on a sorted, unique, tz-naive day index."""
    apps = _one_series(apps)
    name = apps.name if apps.name is not None else "apps"
    idx = apps.index
    if idx.tz is not None:
        idx = idx.tz_convert("UTC").tz_localize(None)
    idx = idx.normalize()
    raw = pd.Series(apps.to_numpy(), index=idx)
    values = pd.to_numeric(raw, errors="coerce")
    bad_type = values.isna() & raw.notna()
    if bad_type.any():
        first = int(np.flatnonzero(bad_type.to_numpy())[0])
        raise InputDataError(
            f"column {name!r}: value {apps.iloc[first]!r} on {idx[first].date()} "
            f"(row {first + 1}) is not a number"
        )
    if values.isna().any():
        first = int(np.flatnonzero(values.isna().to_numpy())[0])
        raise InputDataError(
            f"column {name!r}: missing value (NaN) on {idx[first].date()} (row {first + 1}); "
            f"drop the row instead: gaps in the dates are handled"
        )
    if (values < 0).any():
        first = int(np.flatnonzero((values < 0).to_numpy())[0])
        raise InputDataError(
            f"column {name!r}: negative app count {values.iloc[first]:g} on "
            f"{idx[first].date()} (row {first + 1})"
        )
    values = values.astype(float).sort_index(kind="stable")
    dup = values.index.duplicated()
    if dup.any():
        raise InputDataError(
            f"column {name!r}: date {values.index[dup][0].date()} appears more than once"
        )
    values.index.name = "date"
    values.name = "apps"
    return values


def _one_series(apps: pd.Series | pd.DataFrame) -> pd.Series:
    """The counts as a Series on a DatetimeIndex: a frame's ``apps`` column or its only one."""
    if isinstance(apps, pd.DataFrame):
        if "apps" in apps.columns:
            apps = apps["apps"]
        elif apps.shape[1] == 1:
            apps = apps.iloc[:, 0]
        else:
            raise InputDataError(
                f"fit_growth needs a Series of live app counts or a frame with an 'apps' column; "
                f"got columns {list(apps.columns)}"
            )
    if not isinstance(apps, pd.Series):
        raise InputDataError(
            f"fit_growth needs a pandas Series of live app counts, got {type(apps).__name__}"
        )
    if not isinstance(apps.index, pd.DatetimeIndex):
        raise InputDataError(
            f"fit_growth needs a DatetimeIndex on the app counts, got {type(apps.index).__name__}"
        )
    return apps


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
# fitting at one origin


@dataclass(frozen=True, eq=False)
class FitState:
    """The segmentation, the fitted candidates (and why others failed) at one origin."""

    seg: Segmentation
    cands: dict[str, Candidate]
    unc: Uncertainty
    failed: dict[str, str] = field(default_factory=dict)

    @property
    def reuse(self) -> dict[str, Any]:
        """What each candidate leaves for the backtest origins (:attr:`Candidate.reuse`), by name."""
        return {m: c.reuse for m, c in self.cands.items() if c.reuse is not None}

    @property
    def regime_model(self) -> str | None:
        """Name of the fitted candidate that follows the current regime (piecewise), if any."""
        return next((m for m, c in self.cands.items() if c.model.follows_regime), None)


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


def observe(p: Prepared, seg: Segmentation, cap: float | None, reuse: Mapping[str, Any]) -> Observed:
    """What the candidates are fitted to: ``p``'s points and block rates, its regimes and the cap."""
    tp, yp = p.points()
    level, rate = p.rates()
    return Observed(tp, yp, level, rate, float(p.t[-1]), float(p.y[-1]), p.monotone, seg, cap, reuse)


def fit_state(
    p: Prepared,
    names: Collection[str],
    cap: float | None,
    penalty: float,
    reuse: Mapping[str, Any] | None = None,
) -> FitState:
    """Segment the rate and fit every registered candidate named in ``names`` to ``p``.

    ``reuse`` is what the whole series' fit left for the backtest origins (:attr:`FitState.reuse`).
    """
    seg = segment_rate(p.dates, p.t, p.y, block=p.block, penalty=penalty,
                       min_blocks=p.min_blocks)
    data = observe(p, seg, cap, reuse or {})
    cands: dict[str, Candidate] = {}
    failed: dict[str, str] = {}
    for name, model in MODELS.items():
        if name not in names:
            continue
        c = model.fit(data)
        if c is None:
            failed[name] = model.failure
        else:
            cands[name] = c
    return FitState(seg, cands, uncertainty_of(seg, p.monotone), failed)


# --------------------------------------------------------------------------------------------
# the rolling-origin backtest


@dataclass(frozen=True, eq=False)
class CVOrigin:
    """What :meth:`capacity.growth.fit.GrowthFit.cross_validation` needs about one backtest origin.

    ``bases`` holds each candidate's mean new apps per day over the backtest horizon, fitted on the
    data up to ``date``; ``weights`` the weights the calibration used there; ``scale`` the
    calibration scale chosen on the *other* origins (the one :attr:`GrowthFit.coverage` judges this
    origin with); ``offsets`` the days after the origin with an observation in the horizon (every day
    for daily data) and ``actual`` the counts there.
    """

    date: pd.Timestamp
    y_last: float
    bases: dict[str, np.ndarray]
    weights: dict[str, float]
    unc: Uncertainty
    scale: float
    offsets: np.ndarray
    actual: np.ndarray


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
    cv: tuple[CVOrigin, ...] = ()


@dataclass(frozen=True, eq=False)
class Schedule:
    """When the backtest looks: ``weeks`` ahead of each origin, judged at the week numbers ``checks``
    (every 4 weeks and the last one), origins ``spacing`` days apart."""

    weeks: int
    checks: np.ndarray
    spacing: float

    @property
    def days(self) -> int:
        """The backtest horizon, days (whole weeks)."""
        return 7 * self.weeks

    @classmethod
    def of(cls, span: float, horizon: int) -> Schedule:
        """The schedule for a history of ``span`` days: ``horizon`` days ahead (at most a third of
        the history, at least 4 weeks), origins a quarter of it apart."""
        weeks = int(np.ceil(min(horizon, max(28.0, span / 3.0)) / 7.0))
        checks = np.unique(np.r_[np.arange(4, weeks + 1, 4), weeks]).astype(int)
        return cls(weeks, checks, max(7.0, 7.0 * round(7 * weeks / 28.0)))


@dataclass(frozen=True, eq=False)
class Origin:
    """One backtest origin: the fit on the data known then and what happened next."""

    t: float
    state: FitState
    scale: float
    actual: np.ndarray


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
    names: Collection[str],
    cap: float | None,
    penalty: float,
    horizon: int,
    n_origins: int,
    level: float,
    seed: int | np.random.Generator,
) -> BacktestResult:
    """Rolling-origin backtest at the planning horizon, candidate weights and calibration.

    Origins sit ``horizon`` days before the end and then every quarter of the horizon earlier
    (``n_origins`` of them, each with at least 12 weeks of history). At each one every candidate
    is refitted to the data known then (reusing what the whole series' fit left, such as the
    local-trend variances: the "reduced budget" that keeps this fast) and judged every 4 weeks up
    to the horizon. Weights are proportional to ``1 / mase`` (candidates under 2 % dropped). The
    calibration scale is the smallest on the grid whose pooled coverage reaches ``level``; the
    reported coverage judges each origin with the scale calibrated on the others.
    """
    sched = Schedule.of(float(p.t[-1]), horizon)
    origins = replay(p, full, names, cap, penalty, sched, n_origins)
    if len(origins) < 2:
        lead = full.regime_model
        note = (f"history too short for a rolling-origin backtest at {sched.days} days: "
                + (f"the {lead} model is used alone" if lead else "the candidates are weighed equally")
                + " and the paths are not calibrated")
        w = _fallback_weights(full)
        table = _table(full, w, sched.days, [], n_origins=len(origins))
        return BacktestResult(table, w, 1.0, np.nan, np.nan, sched.days, len(origins), (note,))
    scaled, absolute = _errors(origins, list(full.cands), sched)
    mase, w = _weigh(scaled)
    notes: list[str] = []
    if not w:
        w = _fallback_weights(full)
        notes.append("no candidate could be judged at half the backtest origins or more: the weights do "
                     "not come from the backtest")
    recent = _recent_change(p, full, origins, sched.days)
    if recent:
        w = _fallback_weights(full)
        notes.append(recent)
    scale, coverage, coverage_raw, cal_notes, loo = _calibrate(origins, w, sched, level, seed)
    mae = {m: float(np.nanmean(absolute[m])) if m in absolute else np.nan for m in full.cands}
    days = [str((p.dates[0] + pd.Timedelta(days=o.t)).date()) for o in origins]
    table = _table(full, w, sched.days, days, n_origins=len(origins), mase=mase, mae=mae)
    usable = [o for o in origins if o.state.cands]
    cv = tuple(_cv_origin(p, o, w, sched.days, s) for o, s in zip(usable, loo, strict=True))
    return BacktestResult(table, w, scale, coverage, coverage_raw, sched.days, len(origins),
                          tuple(notes + cal_notes), cv)


def _present(cands: Mapping[str, Candidate], w: dict[str, float]) -> dict[str, float]:
    """The weights used at an origin: the final ones of its fitted candidates, equal ones without any."""
    present = {m: w[m] for m in w if m in cands and w[m] > 0}
    return present or {m: 1.0 for m in cands}


def _cv_origin(p: Prepared, o: Origin, w: dict[str, float], days: int, scale: float) -> CVOrigin:
    """One origin's forecast ingredients and what was observed in its horizon."""
    present = _present(o.state.cands, w)
    bases = {m: o.state.cands[m].increments(days) for m in present}
    ahead = (p.t > o.t) & (p.t <= o.t + days)
    offsets = np.rint(p.t[ahead] - o.t).astype(int)
    first = next(iter(present))
    return CVOrigin(p.dates[0] + pd.Timedelta(days=o.t), float(o.state.cands[first].y_last), bases,
                    present, o.state.unc, scale, offsets, p.y[ahead].copy())


def replay(
    p: Prepared,
    full: FitState,
    names: Collection[str],
    cap: float | None,
    penalty: float,
    sched: Schedule,
    n_origins: int,
) -> list[Origin]:
    """Refit at each backtest origin, newest first, while enough history remains before it."""
    span = float(p.t[-1])
    origins = []
    for j in range(n_origins):
        t_o = span - sched.days - j * sched.spacing
        if t_o < _MIN_TRAIN_DAYS:
            break
        i = int(np.searchsorted(p.t, t_o, side="right")) - 1
        q = p.truncate(i)
        if len(q.y) < MIN_OBS or q.n_blocks < MIN_BLOCKS:
            break
        st = fit_state(q, names, cap, penalty, full.reuse)
        actual = np.interp(q.t[-1] + 7.0 * sched.checks, p.t, p.y)
        origins.append(Origin(float(q.t[-1]), st, naive_scale(q, sched.days), actual))
    return origins


def _errors(origins: list[Origin], model_names: list[str], sched: Schedule):
    """Per origin (rows) and model: the mean absolute error at the checkpoints, scaled by the origin's
    naive error (NaN where the model could not be fitted) and in apps (missing there)."""
    at = 7 * sched.checks - 1
    scaled, absolute = [], []
    for o in origins:
        s: dict[str, float] = {}
        a: dict[str, float] = {}
        for m in model_names:
            c = o.state.cands.get(m)
            if c is None:
                s[m] = np.nan
                continue
            a[m] = float(np.mean(np.abs(c.mean_path(sched.days)[at] - o.actual)))
            s[m] = a[m] / o.scale
        scaled.append(s)
        absolute.append(a)
    return pd.DataFrame(scaled, columns=model_names), pd.DataFrame(absolute)


def _normalised(w: dict[str, float]) -> dict[str, float]:
    total = sum(w.values())
    return {m: v / total for m, v in w.items()}


def _weigh(scaled: pd.DataFrame) -> tuple[dict[str, float], dict[str, float]]:
    """Each model's MASE, and weights proportional to ``1 / mase`` for the models judged at half
    the origins or more (under 2 % dropped); no weights when no model is."""
    mase = {m: float(np.nanmean(scaled[m])) if scaled[m].notna().any() else np.nan for m in scaled}
    w = {}
    for m in scaled:
        enough = scaled[m].notna().mean() >= 0.5
        w[m] = 1.0 / max(mase[m], 1e-6) if enough and np.isfinite(mase[m]) else 0.0
    if sum(w.values()) == 0:
        return mase, {}
    w = _normalised(w)
    return mase, _normalised({m: (v if v >= 0.02 else 0.0) for m, v in w.items()})


def _fallback_weights(full: FitState) -> dict[str, float]:
    """All the weight on the model that follows the current regime, or equal weights without one."""
    lead = full.regime_model
    if lead is None:
        return {m: 1.0 / len(full.cands) for m in full.cands}
    return {m: (1.0 if m == lead else 0.0) for m in full.cands}


def _recent_change(p: Prepared, full: FitState, origins: list[Origin], h_days: int) -> str | None:
    """Why the forecast must follow the new regime alone, if the last change is too recent for the
    backtest to judge (fewer than two origins saw a minimum-length stretch of it); else None."""
    reg = full.seg.table
    if not len(reg) or full.regime_model is None:
        return None
    last = reg.iloc[-1]
    seen = (p.dates[0] + pd.to_timedelta(pd.Series([o.t for o in origins]), unit="D")) >= (
        last["date"] + pd.Timedelta(days=p.min_blocks * p.block * p._step())
    )
    if int(seen.sum()) >= 2 or last["prob"] < 0.5:
        return None
    return (f"regime change on {last['date'].date()} is too recent for the backtest to judge "
            f"(at {h_days} days): the forecast follows the new regime ({full.regime_model} model only)")


def _calibrate(
    origins: list[Origin], w: dict[str, float], sched: Schedule, level: float, seed: int | np.random.Generator
) -> tuple[float, float, float, list[str]]:
    """One scale on the rate uncertainty, chosen on the pooled backtest coverage.

    Returns the scale, the coverage with each origin judged at the scale calibrated on the others,
    the coverage at scale 1, the notes and those other-origin scales (one per usable origin).
    """
    usable = [o for o in origins if o.state.cands]
    if len(usable) < 2:
        return 1.0, np.nan, np.nan, ["too few backtest origins could fit a candidate: the paths are "
                                     "not calibrated"], [1.0] * len(usable)
    rng = np.random.default_rng(seed)
    grid = CoverageGrid([_draws(o, w, sched, rng) for o in usable], level, SCALE_GRID)
    k = grid.smallest()
    notes = []
    if grid.pooled(k) < level:
        notes.append("even the widest calibration scale does not reach the nominal coverage")
    # honest coverage: each origin judged with the scale calibrated on the other origins
    loo_k = [grid.smallest(skip=i) for i in range(len(usable))]
    loo = [grid.origin(i, j) for i, j in enumerate(loo_k)]
    one = int(np.argmin(np.abs(SCALE_GRID - 1.0)))
    return (float(SCALE_GRID[k]), float(np.mean(loo)), grid.pooled(one), notes,
            [float(SCALE_GRID[j]) for j in loo_k])


def _draws(o: Origin, w: dict[str, float], sched: Schedule, rng: np.random.Generator) -> OriginDraws:
    """The calibration's random numbers at one origin, with its weighted weekly mean increments."""
    cands = o.state.cands
    used = _present(cands, w)
    present = list(used)
    ww = np.array(list(used.values()))
    bases = np.stack([cands[m].increments(sched.days).reshape(sched.weeks, 7).sum(axis=1) for m in present])
    return origin_draws(bases, ww, float(cands[present[0]].y_last), o.state.unc, sched.checks, o.actual,
                        _CAL_PATHS, rng)


def _table(full: FitState, w: dict[str, float], h_days: int, origins: list[str], *, n_origins: int,
           mase: dict[str, float] | None = None, mae: dict[str, float] | None = None) -> pd.DataFrame:
    """The backtest table: ``mase``, ``mae`` and ``weight`` per fitted candidate, the design in attrs."""
    names = list(full.cands)
    table = pd.DataFrame(
        {"mase": pd.Series(mase, dtype=float) if mase else np.nan,
         "mae": pd.Series(mae, dtype=float) if mae else np.nan,
         "weight": pd.Series(w)},
        index=names,
    )
    table.index.name = "model"
    table.attrs.update(horizon_days=h_days, n_origins=n_origins, origins=origins)
    return table
