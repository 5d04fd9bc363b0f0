"""Preparation, the fit at one origin, the rolling-origin backtest (helper module of :mod:`capacity.growth`).

- :func:`as_series`, :class:`Prepared` / :func:`prepare`: the input checked, then on its working
  grid (daily data filled to every day, weekly and monthly data as they are);
- :func:`fit_state`: the segmentation of the rate (:mod:`capacity.growth.regimes`) and every
  registered candidate (:data:`capacity.growth.models.MODELS`) fitted at one origin;
- :func:`fit_with_origins`: that fit on the whole series and at every backtest origin, in one batch;
- :func:`run_backtest`: the rolling-origin backtest at the planning horizon, which weighs the
  candidates (weights proportional to the inverse of their scaled error) and calibrates the spread
  of the simulated paths (:mod:`capacity.growth.paths`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import InputDataError
from capacity.growth.models import MODELS, Candidate, Observed
from capacity.growth.paths import SCALE_GRID, CoverageGrid, OriginDraws, Uncertainty, origin_draws
from capacity.growth.regimes import Segmentation, segment_rate

__all__ = ["MIN_OBS", "MIN_BLOCKS", "Prepared", "as_series", "prepare", "FitState", "fit_state", "observe",
           "fit_states", "BacktestResult", "CVOrigin", "Schedule", "Origin", "fit_with_origins",
           "run_backtest", "no_nested_coverage"]

#: fewest observations and fewest rate blocks (weeks for daily data) a fit accepts
MIN_OBS = 10
MIN_BLOCKS = 8
#: paths per backtest origin used for calibration
_CAL_PATHS = 200
#: fewest checkpoints observed before an origin for its nested calibration (else scale 1)
_MIN_CAL_CHECKS = 4
#: older warm-up origins replayed before the scored ones: they only feed the scored origins' nested
#: weights and calibration (what a forecaster at that origin could already have learned)
_WARMUP = 4
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
    infinite = ~np.isfinite(values.to_numpy(dtype=float))
    if infinite.any():
        first = int(np.flatnonzero(infinite)[0])
        raise InputDataError(
            f"column {name!r}: app count {values.iloc[first]:g} on {idx[first].date()} "
            f"(row {first + 1}) is not a finite number"
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

    ``reuse`` is what the fit at the previous, older origin left (:attr:`FitState.reuse`).
    """
    return fit_states([p], names, cap, penalty, [reuse or {}])[0]


def fit_states(
    ps: list[Prepared],
    names: Collection[str],
    cap: float | None,
    penalty: float,
    reuses: list[Mapping[str, Any]] | None = None,
) -> list[FitState]:
    """:func:`fit_state` for several truncations at once: each model fits all of them in one call
    (:meth:`~capacity.growth.models.GrowthModel.fit_many`, vectorised by the local trend)."""
    segs = [segment_rate(p.dates, p.t, p.y, block=p.block, penalty=penalty, min_blocks=p.min_blocks)
            for p in ps]
    reuses = reuses or [{} for _ in ps]
    datas = [observe(p, seg, cap, r) for p, seg, r in zip(ps, segs, reuses, strict=True)]
    cands: list[dict[str, Candidate]] = [{} for _ in ps]
    failed: list[dict[str, str]] = [{} for _ in ps]
    for name, model in MODELS.items():
        if name not in names:
            continue
        for i, c in enumerate(model.fit_many(datas)):
            if c is None:
                failed[i][name] = model.failure
            else:
                cands[i][name] = c
    return [FitState(seg, c, uncertainty_of(seg, p.monotone), f)
            for p, seg, c, f in zip(ps, segs, cands, failed, strict=True)]


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


def no_nested_coverage() -> float:
    """The strictly nested coverage of a backtest too short to have one: NaN."""
    return float("nan")


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """Errors and weights of the candidates, the calibrated scale and the coverage figures.

    ``nested_coverage()`` computes the strictly forward-looking coverage (each origin at the scale
    chosen on the checkpoints observed before it) when asked: it is a diagnostic that nothing in the
    forecast uses, and its scale searches cost about as much as the calibration's own.
    """

    table: pd.DataFrame
    weights: dict[str, float]
    scale: float
    coverage: float
    coverage_raw: float
    horizon: int
    n_origins: int
    notes: tuple[str, ...]
    cv: tuple[CVOrigin, ...] = ()
    nested_coverage: Callable[[], float] = no_nested_coverage


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
    every_origin: list[Origin],
    horizon: int,
    n_origins: int,
    level: float,
    seed: int | np.random.Generator,
) -> BacktestResult:
    """Rolling-origin backtest at the planning horizon, candidate weights and calibration, leak-free.

    ``every_origin`` comes from :func:`fit_with_origins` (the same ``horizon`` and ``n_origins``).
    Origins sit ``horizon`` days before the end and then every quarter of the horizon earlier
    (``n_origins`` of them, each with at least 12 weeks of history). At each one everything is
    estimated from the data known then: the segmentation, every candidate with all its parameters
    (the local trend's variances included) and the path uncertainty; each forecast is judged every 4
    weeks up to the horizon.

    The scheme is nested. An origin's own weights and calibration scale come only from the
    checkpoints of older origins that had been observed by that origin's date (the weights
    proportional to ``1 / mase`` over them, the scale the smallest on the grid whose pooled coverage
    there reaches ``level``; with nothing observed yet, the fallback weights and scale 1). The final
    fit's weights come from every origin's errors, and its scale from every origin's checkpoints,
    each origin's paths combined with its *own* nested weights: no choice is scored on the data that
    made it. The reported coverage judges each scored origin at the scale calibrated on the other
    scored origins (leave one out); the strictly nested figure, each origin at the scale chosen on
    the checkpoints observed before it, is :attr:`BacktestResult.nested_coverage`.
    """
    sched = Schedule.of(float(p.t[-1]), horizon)
    origins = every_origin[-n_origins:] if n_origins else []
    if len(origins) < 2:
        lead = full.regime_model
        note = (f"history too short for a rolling-origin backtest at {sched.days} days: "
                + (f"the {lead} model is used alone" if lead else "the candidates are weighed equally")
                + " and the paths are not calibrated")
        w = _fallback_weights(full)
        table = _table(full, w, sched.days, [], n_origins=len(origins))
        return BacktestResult(table, w, 1.0, np.nan, np.nan, sched.days, len(origins), (note,))
    model_names = list(full.cands)
    warm = len(every_origin) - len(origins)
    scaled_all, absolute_all = _errors(every_origin, model_names, sched)
    seen_all = _seen(every_origin, sched)
    scaled, absolute = scaled_all[warm:], absolute_all[warm:]
    everything = np.ones(scaled.shape[::2], dtype=bool)
    mase, w = _weigh(scaled, everything, model_names)
    notes: list[str] = []
    if not w:
        w = _fallback_weights(full)
        notes.append("no candidate could be judged at half the backtest origins or more: the weights do "
                     "not come from the backtest")
    # the final fit: judged by every scored origin
    w, recent = _mixed(p, full, w, np.array([o.t for o in origins]), sched.days)
    if recent:
        notes.append(recent)
    # the nested weights of every origin: from what the older origins had shown by then, mixed with
    # the new regime by the same rule, judged by the older origins with a checkpoint observed by then
    own = []
    t_all = np.array([o.t for o in every_origin])
    for j, o in enumerate(every_origin):
        wj = _weigh(scaled_all, seen_all[j], model_names)[1] if seen_all[j].any() else {}
        wj = wj or _fallback_weights(o.state)
        own.append(_mixed(p, o.state, wj, t_all[seen_all[j].any(axis=1)], sched.days)[0])
    scale, coverage, coverage_raw, cal_notes, loo_scales, nested_coverage = _calibrate(
        every_origin, own, seen_all, warm, sched, level, seed)
    own = own[warm:]
    mae = {m: float(np.nanmean(absolute[:, k])) if np.isfinite(absolute[:, k]).any() else np.nan
           for k, m in enumerate(model_names)}
    days = [str((p.dates[0] + pd.Timedelta(days=o.t)).date()) for o in origins[::-1]]
    table = _table(full, w, sched.days, days, n_origins=len(origins), mase=mase, mae=mae)
    usable = [(o, wo) for o, wo in zip(origins, own, strict=True) if o.state.cands]
    cv = tuple(_cv_origin(p, o, wo, sched.days, s) for (o, wo), s in zip(usable, loo_scales, strict=True))
    return BacktestResult(table, w, scale, coverage, coverage_raw, sched.days, len(origins),
                          tuple(notes + cal_notes), cv, nested_coverage)


def _present(cands: Mapping[str, Candidate], w: dict[str, float]) -> dict[str, float]:
    """The weights used at an origin: its weights of its fitted candidates, equal ones without any."""
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


def fit_with_origins(
    p: Prepared,
    names: Collection[str],
    cap: float | None,
    penalty: float,
    horizon: int,
    n_origins: int,
) -> tuple[FitState, list[Origin]]:
    """:func:`fit_state` on all of ``p`` and at every backtest origin (**oldest first**, the warm-up
    origins included), all in one batch (``fit_many``): the origins' truncations are prefixes of the
    whole, so the local trends' filters run once along it. ``n_origins`` scored origins are asked
    for; fewer come while too little history remains before one."""
    sched = Schedule.of(float(p.t[-1]), horizon)
    qs = _truncations(p, sched, n_origins + _WARMUP if n_origins else 0)
    *states, full = fit_states([*qs, p], names, cap, penalty)
    origins = [Origin(float(q.t[-1]), st, naive_scale(q, sched.days),
                      np.interp(q.t[-1] + 7.0 * sched.checks, p.t, p.y))
               for q, st in zip(qs, states, strict=True)]
    return full, origins


def _truncations(p: Prepared, sched: Schedule, n_origins: int) -> list[Prepared]:
    """``p`` cut at each backtest origin, oldest first, while enough history remains before it."""
    span = float(p.t[-1])
    qs = []
    for j in range(n_origins):
        t_o = span - sched.days - j * sched.spacing
        if t_o < _MIN_TRAIN_DAYS:
            break
        i = int(np.searchsorted(p.t, t_o, side="right")) - 1
        q = p.truncate(i)
        if len(q.y) < MIN_OBS or q.n_blocks < MIN_BLOCKS:
            break
        qs.append(q)
    return qs[::-1]


def _seen(origins: list[Origin], sched: Schedule) -> np.ndarray:
    """``seen[j, i, k]``: origin ``i``'s checkpoint ``k`` had been observed by origin ``j``'s date."""
    t = np.array([o.t for o in origins])
    at = t[:, None] + 7.0 * sched.checks[None, :]
    return at[None, :, :] <= t[:, None, None]


def _errors(origins: list[Origin], model_names: list[str], sched: Schedule) -> tuple[np.ndarray, np.ndarray]:
    """Absolute errors per origin, model and checkpoint: scaled by the origin's naive error, and in
    apps; NaN where the model could not be fitted. Shapes (origins, models, checkpoints)."""
    at = 7 * sched.checks - 1
    absolute = np.full((len(origins), len(model_names), len(at)), np.nan)
    for i, o in enumerate(origins):
        for k, m in enumerate(model_names):
            c = o.state.cands.get(m)
            if c is not None:
                absolute[i, k] = np.abs(c.mean_path(sched.days)[at] - o.actual)
    scale = np.array([o.scale for o in origins])[:, None, None]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a model fitted at no origin: NaN
        mae = np.nanmean(absolute, axis=2)
    return absolute / scale, mae


def _normalised(w: dict[str, float]) -> dict[str, float]:
    total = sum(w.values())
    return {m: v / total for m, v in w.items()}


def _weigh(
    scaled: np.ndarray, seen: np.ndarray, names: list[str]
) -> tuple[dict[str, float], dict[str, float]]:
    """Each model's MASE over the ``seen`` checkpoints (per origin, then averaged over the origins with
    any), and weights proportional to ``1 / mase`` for the models judged at half those origins or more
    (under 2 % dropped); no weights when no model is."""
    rows = seen.any(axis=1)
    with np.errstate(invalid="ignore"):
        per = np.where(seen[:, None, :], scaled, 0.0).sum(axis=2) / np.maximum(seen.sum(axis=1), 1)[:, None]
    per = np.where(np.isnan(scaled).any(axis=2), np.nan, per)[rows]
    mase, w = {}, {}
    for k, m in enumerate(names):
        col = per[:, k]
        judged = np.isfinite(col)
        mase[m] = float(col[judged].mean()) if judged.any() else np.nan
        enough = judged.mean() >= 0.5 if len(col) else False
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


def _recent_prob(p: Prepared, state: FitState, judges: np.ndarray) -> float:
    """The probability of ``state``'s last change when it is too recent for the backtest to judge:
    fewer than two of the origins at times ``judges`` (days) lie a minimum-length stretch after it;
    else 0 (the backtest's weights already reflect it)."""
    seg = state.seg
    if not len(seg.changes) or state.regime_model is None:
        return 0.0
    # in days since the first date (``judges``' unit): cheaper than pandas' date arithmetic
    change = (seg.changes[-1] - p.dates[0]) / pd.Timedelta(days=1)
    seen = np.asarray(judges, dtype=float) >= change + p.min_blocks * p.block * p._step()
    return 0.0 if int(np.sum(seen)) >= 2 else seg.last_prob


def _mixed(
    p: Prepared, state: FitState, w: dict[str, float], judges: np.ndarray, h_days: int
) -> tuple[dict[str, float], str | None]:
    """The weights at one origin (or the final fit): the mixture of "the rate has changed and the new
    rate lasts" (all the weight on the model that follows the new regime) with probability the last
    change's ``prob`` times the chance that its rate has lasted to now (the segmentation's
    ``last_persists``), when that change is too recent for the backtest to judge
    (:func:`_recent_prob`), and of the backtest's weights ``w`` with the rest; with the note that
    says so (None without such a change)."""
    # Why the chance that the new rate lasts is judged on the regime's own newer half, not on its age
    # or the history's change hazard (bench/growth.py's 625 cases, MASE@90, ETS 0.589): with the
    # change's probability alone 0.639, since the changes that hurt are batches, certain (prob ~ 1) but
    # over by the end, and their newer half shows it: 0.594. A Lindy survival age / (age + d) gets 0.587
    # but halves the sample's lasting 2010 acceleration (its 2010-12-08 milestone falls out of the band)
    # and puts helm_stable_charts at 1.29x ETS; an exponential survival at the change hazard 0.624.
    prob = _recent_prob(p, state, judges)
    lead = state.regime_model
    if prob <= 0.0 or lead is None:
        return w, None
    lasts = state.seg.last_persists
    weight = prob * lasts
    mixed = {m: (1.0 - weight) * v for m, v in w.items()}
    mixed[lead] = mixed.get(lead, 0.0) + weight
    mixed = _normalised(mixed)
    date = state.seg.changes[-1].date()
    share = (f"weight {mixed[lead]:.3f} on the {lead} model, from the change's probability {prob:.3f} "
             f"and the chance {lasts:.3f} that its new rate has lasted")
    if weight >= 0.5:
        why = f"the forecast follows the new regime ({share}; the backtest's weights have the rest)"
    else:
        why = f"the forecast mostly keeps the backtest's weights ({share})"
    return mixed, f"regime change on {date} is too recent for the backtest to judge (at {h_days} days): {why}"


def _calibrate(
    origins: list[Origin],
    own: list[dict[str, float]],
    seen: np.ndarray,
    warm: int,
    sched: Schedule,
    level: float,
    seed: int | np.random.Generator,
) -> tuple[float, float, float, list[str], list[float], Callable[[], float]]:
    """One scale on the rate uncertainty, chosen on the pooled backtest coverage.

    ``origins`` are oldest first; the first ``warm`` are warm-up origins that only feed the nested
    choices of the others. Each origin's paths combine its candidates with its own nested weights
    ``own``. Returns the final scale (on every checkpoint of the scored origins), their coverage with
    each judged at the scale calibrated on the other scored origins, their coverage at scale 1, the
    notes, those other-origin scales (one per usable scored origin) and a function that computes the
    strictly nested coverage (:func:`_nested_coverage`) when asked.
    """
    usable = [i for i, o in enumerate(origins) if o.state.cands]
    scored = [r for r, i in enumerate(usable) if i >= warm]
    if len(scored) < 2:
        return 1.0, np.nan, np.nan, ["too few backtest origins could fit a candidate: the paths are "
                                     "not calibrated"], [1.0] * len(scored), no_nested_coverage
    # one generator per origin, so an origin's random numbers never depend on another origin
    seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=len(origins))
    grid = CoverageGrid([_draws(origins[i], own[i], sched, np.random.default_rng(seeds[i])) for i in usable],
                        level, SCALE_GRID)
    final = np.zeros((len(usable), len(sched.checks)), dtype=bool)
    final[scored] = True
    k = grid.smallest(final)
    notes = []
    if grid.pooled(k, final) < level:
        notes.append("even the widest calibration scale does not reach the nominal coverage")
    one = int(np.argmin(np.abs(SCALE_GRID - 1.0)))
    # each scored origin judged at the scale calibrated on the other scored origins (leave one out)
    loo_k = []
    for r in scored:
        mask = final.copy()
        mask[r] = False
        loo_k.append(grid.smallest(mask))
    cov = [grid.origin(r, j) for r, j in zip(scored, loo_k, strict=True)]
    nested = partial(_nested_coverage, grid, seen[np.ix_(usable, usable)], scored, sched)
    return (float(SCALE_GRID[k]), float(np.mean(cov)), grid.pooled(one, final), notes,
            [float(SCALE_GRID[j]) for j in loo_k], nested)


def _nested_coverage(grid: CoverageGrid, seen: np.ndarray, scored: list[int], sched: Schedule) -> float:
    """The strictly nested coverage: each scored origin at the scale chosen on the checkpoints of
    older origins observed before it, at half the horizon or more (at least
    :data:`_MIN_CAL_CHECKS` of them, else scale 1). ``seen`` is :func:`_seen` over the usable
    origins, ``scored`` their indices among those."""
    one = int(np.argmin(np.abs(grid.grid - 1.0)))
    long = 7 * sched.checks >= sched.days / 2
    nested = []
    for r in scored:
        mask = seen[r] & long[None, :]
        j = grid.smallest(mask) if mask.sum() >= _MIN_CAL_CHECKS else one
        nested.append(grid.origin(r, j))
    return float(np.mean(nested))


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

    def col(values: Mapping[str, float] | None) -> np.ndarray:
        return np.array([(values or {}).get(m, np.nan) for m in names], dtype=float)

    table = pd.DataFrame({"mase": col(mase), "mae": col(mae), "weight": col(w)},
                         index=pd.Index(names, name="model"))
    table.attrs.update(horizon_days=h_days, n_origins=n_origins, origins=origins)
    return table
