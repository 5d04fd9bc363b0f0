"""Growth of the live app count: fit, regime changes, calibrated forecast paths.

:func:`fit_growth` fits every candidate shape to a series of live app counts, detects changes in the
rate of new apps (anywhere, the last few weeks included), weighs the candidates by a rolling-origin
backtest at the planning horizon, and calibrates the spread of its simulated paths so that the
backtest's interval coverage matches the nominal level. The result, :class:`GrowthFit`, forecasts
(:meth:`GrowthFit.forecast`) and simulates paths (:meth:`GrowthFit.paths`) for the planner.

Conventions
-----------
- Dates are tz-naive calendar days meaning UTC (a tz-aware index is converted to UTC); counts are
  apps (live, net of deletions) at the end of each day; rates are apps/day.
- Daily input may have gaps: missing days are filled by linear interpolation of the count (the
  apps added over a gap are spread evenly over it) and the number of filled days is reported in
  :meth:`GrowthFit.summary`'s notes. Weekly or monthly input is used as it is.
- Randomness only through ``seed`` arguments: the same data and seeds give identical results.

The machinery lives in four helper modules: :mod:`capacity.growth.models` (the candidate shapes,
one class each, in the registry :data:`MODELS`), :mod:`capacity.growth.regimes` (segmentation of
the rate), :mod:`capacity.growth.backtest` (preparation, fitting at one origin, the rolling-origin
backtest) and :mod:`capacity.growth.paths` (paths and their calibration).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from capacity.errors import FitError, InputDataError
from capacity.growth.backtest import (
    CVOrigin,
    as_series,
    fit_with_origins,
    no_nested_coverage,
    prepare,
    run_backtest,
)
from capacity.growth.models import CAP_UNBOUNDED, MODELS, Candidate
from capacity.growth.paths import Uncertainty, mean_path, simulate_paths
from capacity.growth.regimes import Segmentation
from capacity.validation import Interval, Options, Seed, StrList, check_args

if TYPE_CHECKING:
    import altair as alt

__all__ = ["fit_growth", "GrowthFit", "MODELS"]

# the argument constraints the public methods share
_DAYS = Interval(int, 1, None)
_COUNT = Interval(int, 1, None)
_LEVEL = Interval(float, 0, 1, closed="neither")


# --------------------------------------------------------------------------------------------
# results


@dataclass(frozen=True, eq=False)
class GrowthFit:
    """A fitted growth model: candidates, their weights, regime changes and calibrated paths.

    Attributes
    ----------
    history : Series
        The observed live app counts (float, sorted, as given: gaps are not filled here).
    segmentation : Segmentation
        The regimes of the rate of new apps at the last observation (see
        :mod:`capacity.growth.regimes`); :attr:`regimes` is its table of changes.
    backtest : DataFrame
        Per candidate: ``mase`` (mean absolute error at the checkpoints up to the horizon, scaled
        by the in-sample mean absolute change over the horizon), ``mae`` (apps) and ``weight``.
        ``backtest.attrs`` holds the horizon, the origins and the coverage figures (``coverage``,
        ``coverage_raw``; the strictly forward-looking one is :attr:`coverage_nested`).
    weights : Series
        Weight of each fitted candidate in the combined forecast (sums to 1).
    coverage : float
        Achieved backtest coverage of the calibrated ``level`` intervals (each origin judged with
        the scale calibrated on the other origins); NaN when the history is too short.
    coverage_raw : float
        The same coverage before calibration (scale 1).
    scale : float
        Calibrated multiplier on the spread of the rate uncertainty.
    level : float
        The interval level the calibration targets.
    horizon_days : int
        Planning horizon of the backtest (days).
    uncertainty : Uncertainty
        Parameters of the simulated rate uncertainty and increment noise.
    candidates : tuple of Candidate
        The fitted candidate shapes (see :mod:`capacity.growth.models`).
    failed : dict
        Candidates that could not be fitted, with the reason.
    notes : tuple of str
        Anything the planner should know about the fit.
    cv_origins : tuple of CVOrigin
        What the backtest fitted at each origin (see :meth:`cross_validation`).

    Also ``regimes`` (the table of changes), ``coverage_nested``, ``last_date``, ``last_value``,
    ``rate`` (apps/day now), ``cap`` (apps), ``cap_determined``, ``monotone`` and ``params``
    (every candidate's parameters).
    """

    history: pd.Series
    segmentation: Segmentation = field(repr=False)
    backtest: pd.DataFrame
    weights: pd.Series
    coverage: float
    coverage_raw: float
    scale: float
    level: float
    horizon_days: int
    uncertainty: Uncertainty = field(repr=False)
    candidates: tuple[Candidate, ...] = field(repr=False)
    failed: dict[str, str] = field(repr=False, default_factory=dict)
    notes: tuple[str, ...] = ()
    cv_origins: tuple[CVOrigin, ...] = field(repr=False, default=())
    #: computes :attr:`coverage_nested`, a diagnostic the forecast does not need, when it is asked for
    _nested_coverage: Callable[[], float] = field(repr=False, default=no_nested_coverage)

    # -- fitted state -------------------------------------------------------------------------

    @property
    def regimes(self) -> pd.DataFrame:
        """One row per detected change in the rate of new apps: ``date`` (first day of the new
        regime), ``rate_before``, ``rate_after`` (apps/day), ``ratio`` (after / before), ``lr``
        (largest quasi-likelihood-ratio statistic over the dates of a change between the
        neighbouring regimes), ``prob`` (one minus its p-value under no change, from its simulated
        null distribution: see :mod:`capacity.growth.regimes`) and ``date_low``/``date_high``
        (approximate 90 % interval of the date).

        Every change's test runs on first use (the forecast itself needs only the last change's),
        then the table is kept.
        """
        return self.segmentation.table

    @property
    def coverage_nested(self) -> float:
        """The strictly forward-looking backtest coverage: each origin's ``level`` interval at the
        scale chosen only on the checkpoints observed before that origin (scale 1 with fewer than
        4 of them); NaN when the history is too short. Computed on first use, then kept."""
        if "_coverage_nested" not in self.__dict__:
            self.__dict__["_coverage_nested"] = float(self._nested_coverage())
        return self.__dict__["_coverage_nested"]

    @property
    def last_date(self) -> pd.Timestamp:
        """Date of the last observation."""
        return self.history.index[-1]

    @property
    def last_value(self) -> float:
        """Last observed count (apps)."""
        return float(self.history.iloc[-1])

    @property
    def monotone(self) -> bool:
        """True when the history never fell (paths then never fall)."""
        return self.uncertainty.monotone

    @property
    def rate(self) -> float:
        """Weighted mean rate of new apps on the first forecast day (apps/day)."""
        return float(sum(self.weights.get(c.name, 0.0) * c.rate_now for c in self.candidates))

    @property
    def params(self) -> pd.Series:
        """Every candidate's fitted parameters, indexed by (model, parameter)."""
        items = {(c.name, k): float(v) for c in self.candidates for k, v in c.params.items()}
        s = pd.Series(items, dtype=float)
        s.index = s.index.set_names(["model", "parameter"])
        return s

    def _saturating(self) -> Candidate | None:
        """The saturating candidate with the smallest backtest error (the first on a tie)."""
        sat = [c for c in self.candidates if c.saturating]
        if not sat:
            return None
        err = self.backtest["mase"]

        def error(c: Candidate) -> float:
            e = err.get(c.name, np.nan)
            return e if np.isfinite(e) else np.inf

        return min(sat, key=error)

    @property
    def cap(self) -> float:
        """Estimated saturation level (apps) of the better saturating candidate by backtest
        (logistic or Gompertz); NaN when none was fitted."""
        c = self._saturating()
        return c.cap if c is not None else np.nan

    @property
    def cap_determined(self) -> bool:
        """False when the data do not pin the cap down (see :meth:`summary`'s notes)."""
        c = self._saturating()
        return bool(c is not None and c.cap_determined)

    # -- forecasting --------------------------------------------------------------------------

    def _future_index(self, horizon_days: int) -> pd.DatetimeIndex:
        return pd.date_range(self.last_date + pd.Timedelta(days=1), periods=horizon_days,
                             freq="D", name="date")

    def paths(self, horizon_days: int, *, n: int = 1000, seed: int | np.random.Generator = 0) -> pd.DataFrame:
        """Simulate future paths of the live app count.

        Parameters
        ----------
        horizon_days : int
            Number of future days, starting the day after the last observation.
        n : int
            Number of paths.
        seed : int or numpy.random.Generator
            Seed of the random generator (same seed, same paths).

        Returns
        -------
        DataFrame, shape (n, horizon_days)
            Index ``RangeIndex`` named ``"path"``, columns the future dates (daily). Values are
            app counts, ``>= 0``, and non-decreasing along each path when the history never fell.
            The paths carry the uncertainty of the current rate, the risk of further trend changes
            and day-to-day noise, with the calibrated spread.
        """
        check_args("GrowthFit.paths", horizon_days=(horizon_days, [_DAYS]), n=(n, [_COUNT]),
                   seed=(seed, [Seed()]))
        names = [c.name for c in self.candidates if self.weights.get(c.name, 0.0) > 0]
        by_name = {c.name: c for c in self.candidates}
        bases = np.stack([by_name[m].increments(horizon_days) for m in names])
        w = np.array([self.weights[m] for m in names])
        rng = np.random.default_rng(seed)
        lv = simulate_paths(bases, w, self.uncertainty, self.last_value, n, rng, self.scale)
        return pd.DataFrame(lv, index=pd.RangeIndex(n, name="path"),
                            columns=self._future_index(horizon_days))

    def forecast(
        self, horizon_days: int, *, level: float = 0.8, n: int = 2000, seed: int | np.random.Generator = 0
    ) -> pd.DataFrame:
        """Point forecast and central interval of the live app count.

        Parameters
        ----------
        horizon_days : int
            Number of future days.
        level : float
            Central interval probability, in (0, 1).
        n : int
            Paths simulated.
        seed : int or numpy.random.Generator
            Their seed.

        Returns
        -------
        DataFrame
            Indexed by the future dates; ``mean`` (the combined forecast, apps: see Notes) and
            ``lower``/``upper`` (the paths' ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles,
            widened to include the mean when a very skewed distribution would leave it outside a
            narrow interval).

        Notes
        -----
        ``mean`` is the mixture of the candidates' mean paths: the last count plus the weighted mean
        of their mean daily increments (the weights of :attr:`weights`), not the average of the
        simulated paths. It is the forecast the backtest scored (each candidate's mean path, judged
        on its scaled error) and it does not depend on the random numbers. The average of the paths
        adds the skew of the rate uncertainty (a log-normal multiplier and compounded future
        changes), so a handful of paths with a large rate would pull it far from every candidate;
        that tail belongs in ``upper``, not in the point forecast.
        """
        check_args("GrowthFit.forecast", horizon_days=(horizon_days, [_DAYS]), level=(level, [_LEVEL]),
                   n=(n, [_COUNT]), seed=(seed, [Seed()]))
        p = self.paths(horizon_days, n=n, seed=seed).to_numpy()
        mean = self._mean_path(horizon_days)
        lo, hi = np.quantile(p, [(1 - level) / 2, (1 + level) / 2], axis=0)
        return pd.DataFrame(
            {"mean": mean, "lower": np.minimum(lo, mean), "upper": np.maximum(hi, mean)},
            index=self._future_index(horizon_days),
        )

    def _mean_path(self, horizon_days: int) -> np.ndarray:
        names = [c.name for c in self.candidates if self.weights.get(c.name, 0.0) > 0]
        by_name = {c.name: c for c in self.candidates}
        bases = np.stack([by_name[m].increments(horizon_days) for m in names])
        w = np.array([self.weights[m] for m in names])
        return mean_path(bases, w, self.last_value, self.monotone)

    def cross_validation(
        self, *, models: bool = False, n: int = 500, seed: int | np.random.Generator = 0
    ) -> pd.DataFrame:
        """The rolling-origin backtest's forecasts next to what happened, one row per origin and day.

        Like statsforecast's ``cross_validation``: at each backtest origin the candidates were fitted
        on the data up to that day only, and their forecast over the backtest horizon
        (:attr:`horizon_days`) is set against the observed counts.

        Parameters
        ----------
        models : bool
            Also return one set of rows per candidate (its mean path, and intervals from paths of that
            candidate alone), besides the combined forecast.
        n : int
            Paths simulated per origin for ``lower``/``upper``.
        seed : int or numpy.random.Generator
            Their seed.

        Returns
        -------
        DataFrame
            Columns ``origin`` (the last day the fit saw), ``date`` (always after ``origin``),
            ``horizon`` (days after the origin), ``actual``, ``mean`` (the combined forecast, as in
            :meth:`forecast`), ``lower``/``upper`` (the central :attr:`level` interval) and ``model``
            (``"combined"`` or the candidate's name). Oldest origin first. Daily input has a row for
            every day of the horizon; weekly or monthly input one per observation. Empty when the
            history was too short for a backtest.

        Notes
        -----
        Each origin's intervals use the calibration scale chosen on the *other* origins, as
        :attr:`coverage` does, so the share of ``combined`` rows at the backtest's checkpoints (every
        28 days and the horizon's last day) with ``lower <= actual <= upper`` estimates
        :attr:`coverage`. It is not identical: :attr:`coverage` comes from the calibration's 200 paths
        per origin at weekly resolution with normal increment noise; these rows from ``n`` daily
        paths simulated as :meth:`paths` does (gamma noise), with other random numbers.
        """
        check_args("GrowthFit.cross_validation", n=(n, [_COUNT]), seed=(seed, [Seed()]))
        q = [(1 - self.level) / 2, (1 + self.level) / 2]
        frames = []
        cv = sorted(self.cv_origins, key=lambda o: o.date)
        # one generator per origin: an origin's rows never depend on another origin's
        seeds = np.random.default_rng(seed).integers(0, 2**63 - 1, size=len(cv))
        for o, s in zip(cv, seeds, strict=True):
            rng = np.random.default_rng(s)
            if not len(o.offsets):
                continue
            names = list(o.bases)
            runs = [("combined", names, [o.weights[m] for m in names])]
            if models:
                runs += [(m, [m], [1.0]) for m in names]
            for label, ms, ws in runs:
                bases = np.stack([o.bases[m] for m in ms])
                w = np.asarray(ws, dtype=float)
                lv = simulate_paths(bases, w, o.unc, o.y_last, n, rng, o.scale)[:, o.offsets - 1]
                mean = mean_path(bases, w, o.y_last, o.unc.monotone)[o.offsets - 1]
                lo, hi = np.quantile(lv, q, axis=0)
                frames.append(pd.DataFrame({
                    "origin": o.date,
                    "date": o.date + pd.to_timedelta(o.offsets, unit="D"),
                    "horizon": o.offsets,
                    "actual": o.actual,
                    "mean": mean,
                    "lower": np.minimum(lo, mean),
                    "upper": np.maximum(hi, mean),
                    "model": label,
                }))
        cols = ["origin", "date", "horizon", "actual", "mean", "lower", "upper", "model"]
        if not frames:
            return pd.DataFrame({c: pd.Series(dtype=float) for c in cols})
        return pd.concat(frames, ignore_index=True)[cols]

    # -- reporting ----------------------------------------------------------------------------

    def summary(self) -> pd.DataFrame:
        """One row per candidate: weight, backtest error, current rate, cap and parameters.

        Returns
        -------
        DataFrame
            Indexed by model; columns ``weight``, ``mase``, ``rate_now`` (apps/day), ``cap`` and
            ``cap_se`` (apps, saturating models), ``cap_determined``, ``params`` (text) and
            ``note``. ``summary().attrs["notes"]`` repeats the fit's notes.
        """
        rows = []
        for c in self.candidates:
            shown = {k: v for k, v in c.params.items() if k not in ("cap", "cap_se")}
            rows.append({
                "model": c.name,
                "weight": float(self.weights.get(c.name, 0.0)),
                "mase": float(self.backtest["mase"].get(c.name, np.nan)),
                "rate_now": c.rate_now,
                # a cap at the search bound is no estimate: inf says "unbounded"
                "cap": np.inf if c.note == CAP_UNBOUNDED else c.params.get("cap", np.nan),
                "cap_se": c.params.get("cap_se", np.nan),
                "cap_determined": c.cap_determined,
                "params": ", ".join(f"{k}={v:.4g}" for k, v in shown.items()),
                "note": c.note,
            })
        for name, why in self.failed.items():
            rows.append({"model": name, "weight": 0.0, "note": why})
        out = pd.DataFrame(rows).set_index("model")
        out.attrs["notes"] = list(self.notes)
        return out

    def __repr__(self) -> str:
        w = ", ".join(f"{k}={v:.2f}" for k, v in self.weights.items() if v > 0)
        cov = "n/a" if not np.isfinite(self.coverage) else f"{self.coverage:.2f}"
        return (
            f"GrowthFit(last_date={self.last_date.date()}, last_value={self.last_value:,.0f}, "
            f"rate={self.rate:.4g}/day, regimes={len(self.segmentation.changes)}, weights=[{w}], "
            f"coverage={cov} at {self.level:.0%}, scale={self.scale:.2f})"
        )

    def chart(
        self,
        horizon_days: int | None = None,
        *,
        level: float = 0.8,
        threshold: float | None = None,
        n: int = 1000,
        seed: int | np.random.Generator = 0,
    ) -> alt.LayerChart:
        """History, forecast fan, detected regime changes and an optional threshold line.

        Parameters
        ----------
        horizon_days : int, optional
            Days to forecast (default: the backtest horizon).
        level : float
            Interval of the fan.
        threshold : float, optional
            Draw a horizontal line at this app count (for instance the count at which a resource
            runs out).
        n : int
            Paths simulated for the fan.
        seed : int or numpy.random.Generator
            Their seed.

        Returns
        -------
        altair.LayerChart
            Not displayed or saved.
        """
        check_args("GrowthFit.chart", horizon_days=(horizon_days, [_DAYS, None]), level=(level, [_LEVEL]),
                   threshold=(threshold, [Interval(float, 0, None), None]), n=(n, [_COUNT]),
                   seed=(seed, [Seed()]))
        import altair as alt

        horizon_days = self.horizon_days if horizon_days is None else horizon_days
        fc = self.forecast(horizon_days, level=level, n=n, seed=seed).reset_index()
        hist = self.history
        if len(hist) > 1500:  # keep the embedded data small: weekly points are plenty here
            hist = hist.iloc[::-1].iloc[:: max(1, len(hist) // 1000)].iloc[::-1]
        hist = hist.rename("apps").reset_index()
        base = alt.Chart(hist).encode(x=alt.X("date:T", title="date"))
        layers = [
            alt.Chart(fc).mark_area(opacity=0.3, color="darkorange").encode(
                x="date:T", y=alt.Y("lower:Q", title="live apps"), y2="upper:Q",
                tooltip=["date:T", "mean:Q", "lower:Q", "upper:Q"],
            ),
            alt.Chart(fc).mark_line(strokeDash=[4, 2], color="darkorange").encode(
                x="date:T", y="mean:Q"
            ),
            base.mark_line(color="steelblue").encode(y=alt.Y("apps:Q", title="live apps")),
        ]
        if len(self.regimes):
            reg = self.regimes[["date", "rate_before", "rate_after", "ratio", "prob"]]
            layers.append(
                alt.Chart(reg).mark_rule(color="firebrick").encode(
                    x="date:T", tooltip=["date:T", "rate_before:Q", "rate_after:Q", "ratio:Q",
                                         "prob:Q"],
                )
            )
        if threshold is not None:
            layers.append(
                alt.Chart(pd.DataFrame({"threshold": [float(threshold)]}))
                .mark_rule(color="gray", strokeDash=[6, 3])
                .encode(y="threshold:Q")
            )
        return alt.layer(*layers).properties(
            title=f"Live apps: history and {level:.0%} forecast band", width=560, height=300
        )


# --------------------------------------------------------------------------------------------
# public entry point


def fit_growth(
    apps: pd.Series | pd.DataFrame,
    *,
    models: str | Collection[str] | None = None,
    horizon_days: int = 180,
    level: float = 0.8,
    cap: float | None = None,
    penalty: float = 2.0,
    n_origins: int = 8,
    seed: int | np.random.Generator = 0,
) -> GrowthFit:
    """Fit growth curves and regime changes to a series of live app counts.

    Parameters
    ----------
    apps : Series or DataFrame
        Live app counts (apps, at the end of each day) on a DatetimeIndex; daily (gaps allowed),
        weekly or monthly. A frame must have one column or an ``apps`` column (the frame returned
        by :func:`capacity.data.load_apps` works as it is).
    models : str or list of str, optional
        The candidate (one name) or candidates to fit, from the registry :data:`MODELS`; all
        registered ones by default. They are fitted and reported in the registry's order.
    horizon_days : int
        Planning horizon (days, >= 7): the candidates are weighed and the intervals calibrated by
        a rolling-origin backtest at this horizon (shortened to a third of the history if needed).
    level : float
        Interval level the calibration targets, in (0, 1).
    cap : float, optional
        Fixed saturation level (apps) for the saturating curves (logistic, Gompertz); estimated
        otherwise (bounded below by the largest value seen).
    penalty : float
        Penalty per regime change, in units of ``log(n)`` quasi-deviance (> 0; higher: fewer
        changes).
    n_origins : int
        Backtest origins (spaced a quarter of the horizon apart, newest first; 0 skips the
        backtest).
    seed : int or numpy.random.Generator
        Seed of the calibration's random numbers.

    Returns
    -------
    GrowthFit

    Raises
    ------
    ArgumentError
        An option of the wrong type or out of range, or a model name that is not registered.
    InputDataError
        Missing, negative or non-numeric counts, repeated dates, no DatetimeIndex, too few points,
        or a fixed cap below the largest value seen.
    FitError
        None of the requested models could be fitted.

    Notes
    -----
    1. The rate of new apps (weekly sums of the daily increments) is segmented into regimes of
       constant rate (:mod:`capacity.growth.regimes`); a regime may start in the last 4 weeks.
    2. Every requested candidate of :data:`MODELS` is fitted (:mod:`capacity.growth.models`) and
       replayed at ``n_origins`` rolling origins (:mod:`capacity.growth.backtest`), each fitted on
       the data known then only (the local trend's variances included); its weight is proportional
       to the inverse of its scaled error there. Each origin's own forecast combines its candidates
       with nested weights: from the checkpoints of older origins observed by its date. A regime
       change too recent for the backtest to judge makes the weights a mixture: the piecewise
       model (which follows the new regime) gets the change's ``prob`` times the chance that the
       new rate has lasted rather than been a one-off batch (the regime's newer half judged between
       its older half's rate and the previous regime's, ``segmentation.last_persists``), the
       backtest's weights share the rest; the final fit and every origin use the same rule.
    3. Paths combine the weighted mean rate with the uncertainty of the current rate, the risk of
       further changes (with the history's frequency and size) and day-to-day noise; one scale on
       the rate uncertainty is calibrated so that the backtest's ``level`` intervals cover as
       often as they should (:mod:`capacity.growth.paths`).

    Examples
    --------
    >>> from capacity.data import load_apps
    >>> fit = fit_growth(load_apps("capacity/sample/apps.csv")[:"2010-10-20"])  # doctest: +SKIP
    >>> fit.regimes[["date", "rate_before", "rate_after"]]  # doctest: +SKIP
            date  rate_before  rate_after
    0 2010-09-06   128.832972       315.0
    """
    names = _model_names(models)
    check_args("fit_growth", horizon_days=(horizon_days, [Interval(int, 7, None)]), level=(level, [_LEVEL]),
               cap=(cap, [Interval(float, 0, None, closed="neither"), None]),
               penalty=(penalty, [Interval(float, 0, None, closed="neither")]),
               n_origins=(n_origins, [Interval(int, 0, None)]), seed=(seed, [Seed()]))
    series = as_series(apps)
    prep = prepare(series)
    if cap is not None and cap < prep.y.max():
        raise InputDataError(f"cap={cap!r} is below the largest app count seen ({prep.y.max():,.0f})")
    full, every_origin = fit_with_origins(prep, names, cap, penalty, int(horizon_days), int(n_origins))
    if not full.cands:
        why = "; ".join(f"{m}: {reason}" for m, reason in full.failed.items())
        raise FitError(f"fit_growth: none of the models {names} could be fitted ({why})")
    level = float(level)
    bt = run_backtest(prep, full, every_origin, int(horizon_days), int(n_origins), level, seed)
    weights = pd.Series({m: float(bt.weights.get(m, 0.0)) for m in full.cands}, name="weight")
    weights.index.name = "model"
    backtest = bt.table
    backtest.attrs.update(coverage=bt.coverage, coverage_raw=bt.coverage_raw, scale=bt.scale,
                          level=level)
    return GrowthFit(
        history=series,
        segmentation=full.seg,
        backtest=backtest,
        weights=weights,
        coverage=bt.coverage,
        coverage_raw=bt.coverage_raw,
        scale=bt.scale,
        level=level,
        horizon_days=bt.horizon,
        uncertainty=full.unc,
        candidates=tuple(full.cands.values()),
        failed=full.failed,
        notes=_notes(prep, full, bt),
        cv_origins=bt.cv,
        _nested_coverage=bt.nested_coverage,
    )


def _model_names(models: str | Collection[str] | None) -> list[str]:
    """The registered names ``models`` asks for: all of them, one (a string) or several."""
    if models is None:
        return list(MODELS)
    if isinstance(models, str):  # one name, not its letters
        check_args("fit_growth", models=(models, [Options(MODELS)]))
        return [models]
    check_args("fit_growth", models=(models, [StrList(MODELS), None]))
    return list(models)


def _notes(prep, full, bt) -> tuple[str, ...]:
    """The backtest's notes, then the filled days, then each candidate's note."""
    notes = list(bt.notes)
    if prep.n_filled:
        notes.append(f"{prep.n_filled} missing days filled by linear interpolation of the count")
    notes += [f"{c.name}: {c.note}" for c in full.cands.values() if c.note]
    return tuple(notes)
