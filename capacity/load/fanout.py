"""Measured fan-out: a strategy's deliveries-per-message formula estimated from the broker's own counts.

The messaging cost model (:mod:`capacity.load.messaging`) needs ``F_s(N)``, the deliveries per message
under strategy ``s`` at ``N`` apps. A configuration can type the formula in (``base_components``,
``apps_per_component``, ``k``), but a broker counts its deliveries: Redis PUBLISH returns the number of
receivers, RabbitMQ and Kafka expose publish and deliver rates. Messaging samples may therefore carry a
``deliveries`` column, deliveries per message in the interval of the reading (deliveries / messages);
:func:`fit_fanout` estimates a strategy's formula from it, with block-bootstrap intervals, and compares
the estimate with the configured formula.

The formula of each built-in strategy is linear in its measured fields (see
:attr:`capacity.load.strategies.Strategy.measured_fields`): broadcast
``F = base_components + N / apps_per_component`` is a least-squares line of deliveries against apps,
targeted ``F = k`` is their mean. The fit is a non-negative least squares (no negative components, no
shrinking fan-out), and its intervals come from a circular block bootstrap over calendar days, like the
cost model's, since consecutive readings share their components.

A configured value *disagrees* with the measurement when it lies outside the measured interval; the
fit then says so in its notes and, when the configured formula's deliveries differ from the measured
ones by more than ``tolerance`` somewhere in the observed range (a difference that matters to the cost
model), warns with :class:`FanoutWarning`. A strategy whose formula is not configured (a config table
with only its ``kind``) takes the measured values.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, InputDataError
from capacity.load._nnls import block_counts, nnls_gram
from capacity.load.strategies import FIELD_UNITS, Strategy
from capacity.validation import HasMethods, InstanceOf, Interval, Seed, check_args
from capacity.validation.arrays import check_numbers

__all__ = ["FanoutFit", "FanoutWarning", "fit_fanout", "DELIVERIES_COLUMN", "FANOUT_TOLERANCE"]

#: the samples' column of measured deliveries per message
DELIVERIES_COLUMN = "deliveries"
#: the largest relative difference between configured and measured F that passes without a warning
FANOUT_TOLERANCE = 0.02

_COUNT = Interval(float, 0, None)
_STRATEGY = HasMethods("deliveries", "measured_terms", what="a Strategy")
_LEVEL = Interval(float, 0, 1, closed="neither")


class FanoutWarning(UserWarning):
    """A configured fan-out formula disagrees with the broker's measured deliveries."""


@dataclass(frozen=True)
class FanoutFit:
    """A strategy's fan-out formula estimated from measured deliveries (from :func:`fit_fanout`).

    Attributes
    ----------
    name : str
        The strategy's name.
    strategy : Strategy
        The strategy with its measured fields set to the estimates: what the cost model uses.
    configured : Strategy
        The strategy as given (its configured or default formula).
    table : DataFrame
        One row per measured field: param, configured (NaN if not configured), estimate, std_err,
        lower, upper (percentile interval at ``level``), unit, measured (False: the readings could
        not determine it, e.g. a slope in apps from a single app count, so it keeps its configured
        value and has no interval).
    n_obs : int
        Readings with a measured delivery count.
    apps_range : tuple of float
        Smallest and largest app count among them [apps].
    resid_sd : float
        Spread of the measured deliveries around the fitted formula [deliveries].
    max_rel_diff : float
        Largest ``|F_configured / F_measured - 1|`` over the observed apps; NaN if nothing is configured.
    disagrees : tuple of str
        Configured fields outside their measured interval.
    level : float
    notes : tuple of str
        What the fit found, in sentences (for reports).
    """

    name: str
    strategy: Strategy
    configured: Strategy
    table: pd.DataFrame = field(repr=False)
    n_obs: int
    apps_range: tuple[float, float]
    resid_sd: float
    max_rel_diff: float
    disagrees: tuple[str, ...]
    level: float
    notes: tuple[str, ...] = field(repr=False)

    @property
    def material(self) -> bool:
        """Whether the configured formula disagrees and is off by more than :data:`FANOUT_TOLERANCE`."""
        return bool(self.disagrees) and self.max_rel_diff > FANOUT_TOLERANCE


def _day_stats(x: np.ndarray, y: np.ndarray, day_idx: np.ndarray,
               n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-day Gram matrices and right-hand sides of the least squares of ``y`` on ``x``."""
    p = x.shape[1]
    gram = np.empty((n_days, p, p))
    rhs = np.empty((n_days, p))
    for j in range(p):
        rhs[:, j] = np.bincount(day_idx, weights=x[:, j] * y, minlength=n_days)
        for k in range(j, p):
            gram[:, j, k] = gram[:, k, j] = np.bincount(day_idx, weights=x[:, j] * x[:, k], minlength=n_days)
    return gram, rhs


def _free_columns(x: np.ndarray) -> np.ndarray:
    """Which columns of ``x`` the data identify: a column (nearly) collinear with the earlier ones
    is not (e.g. the slope in apps when every reading has the same app count)."""
    free = np.zeros(x.shape[1], dtype=bool)
    for j in range(x.shape[1]):
        trial = free.copy()
        trial[j] = True
        cols = x[:, trial]
        cross = cols.T @ cols
        norms = np.sqrt(np.diag(cross))
        if np.all(norms > 0) and np.linalg.eigvalsh(cross / np.outer(norms, norms))[0] > 1e-8:
            free = trial
    return free


def _quantiles(values: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of replicates (rows), without interpolating (a replicate may be inf)."""
    tail = (1 - level) / 2
    return (np.quantile(values, tail, axis=0, method="inverted_cdf"),
            np.quantile(values, 1 - tail, axis=0, method="inverted_cdf"))


def _std(values: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        finite = np.all(np.isfinite(values), axis=0)
        return np.where(finite, np.nanstd(np.where(np.isfinite(values), values, np.nan), axis=0, ddof=1),
                        math.inf)


def _estimate(strategy: Strategy, apps: np.ndarray, deliveries: np.ndarray, day_idx: np.ndarray,
              block_days: int, n_boot: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate and bootstrap replicates of ``theta``, and which of its entries were measured
    (the others keep the configured values)."""
    x = np.asarray(strategy.measured_terms(apps), dtype=float)
    free = _free_columns(x)
    # columns the data cannot identify stay at the configured formula's values (solved on a grid
    # wide enough to identify all of them)
    grid = np.linspace(0.0, 2.0 * max(float(apps.max()), 1.0), 8)
    theta_conf = np.linalg.lstsq(np.asarray(strategy.measured_terms(grid), dtype=float),
                                 np.asarray(strategy.delivered(grid), dtype=float), rcond=None)[0]
    target = deliveries - x[:, ~free] @ theta_conf[~free]
    scale = np.abs(x[:, free]).max(axis=0)
    n_days = int(day_idx.max()) + 1
    gram, rhs = _day_stats(x[:, free] / scale, target, day_idx, n_days)
    point = nnls_gram(gram.sum(axis=0)[None], rhs.sum(axis=0)[None])[0] / scale
    counts = block_counts(n_days, block_days, n_boot, rng)
    boot = nnls_gram(np.einsum("rd,dij->rij", counts, gram), counts @ rhs) / scale
    theta = np.tile(theta_conf, (n_boot + 1, 1))
    theta[0, free], theta[1:, free] = point, boot
    return theta[0], theta[1:], free


def fit_fanout(
    apps: Any,
    deliveries: Any,
    *,
    strategy: Strategy,
    days: Any = None,
    configured: Collection[str] | None = None,
    level: float = 0.9,
    block_days: int = 7,
    n_boot: int = 400,
    seed: int | np.random.Generator | None = 0,
    warn: bool = True,
) -> FanoutFit:
    """Estimate a strategy's fan-out formula from measured deliveries per message.

    Parameters
    ----------
    apps : array-like
        Live apps of each reading [apps], finite and >= 0 (1-D).
    deliveries : array-like
        Deliveries per message measured in each reading [deliveries], finite and >= 0, aligned with
        ``apps``.
    strategy : Strategy
        The strategy in force in these readings, as configured; it says which formula to fit
        (:attr:`~capacity.load.strategies.Strategy.measured_fields`) and keeps its other fields.
    days : array-like of int, optional
        Calendar day (any integer label) of each reading, for the block bootstrap; by default every
        reading is its own day.
    configured : collection of str, optional
        The measured fields the configuration gave (the others were defaults); ``None``: all of them.
    level : float, default 0.9
        Interval level, in (0, 1).
    block_days : int, default 7
        Bootstrap block length [days], >= 1.
    n_boot : int, default 400
        Bootstrap replicates, >= 2.
    seed : int, Generator or None, default 0
    warn : bool, default True
        Warn (:class:`FanoutWarning`) when the configured formula disagrees materially.

    Returns
    -------
    FanoutFit

    Raises
    ------
    ArgumentError
        A bad argument, named.
    InputDataError
        The measured deliveries give a formula the strategy refuses (e.g. ``k = 0`` for targeted).
    """
    owner = "fit_fanout"
    n = check_numbers(owner, "apps", apps, _COUNT, scalar=False, max_ndim=1)
    d = check_numbers(owner, "deliveries", deliveries, _COUNT, scalar=False, max_ndim=1)
    check_args(owner, strategy=(strategy, [_STRATEGY]), level=(level, [_LEVEL]),
               block_days=(block_days, [Interval(int, 1, None)]), n_boot=(n_boot, [Interval(int, 2, None)]),
               seed=(seed, [Seed(), None]), warn=(warn, [InstanceOf(bool)]),
               configured=(configured, [InstanceOf(list, tuple, set, frozenset), None]))
    if d.shape != n.shape or n.size == 0:
        raise ArgumentError(f"{owner}: apps and deliveries must be non-empty and aligned, not {n.size} "
                            f"and {d.size} values")
    day_idx = (np.unique(np.asarray(days), return_inverse=True)[1].ravel() if days is not None
               else np.arange(n.size))
    if day_idx.shape != n.shape:
        raise ArgumentError(f"{owner}: days must hold one label per reading ({n.size}), not {day_idx.size}")
    fields = tuple(strategy.measured_fields)
    given = set(fields if configured is None else configured) & set(fields)
    if not fields:
        return _unfitted(strategy, n, d, level)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    theta, boot, free = _estimate(strategy, n, d, day_idx, block_days, n_boot, rng)
    try:
        fitted = strategy.from_measured(theta)
    except ArgumentError as err:
        raise InputDataError(f"samples, column {DELIVERIES_COLUMN!r}: the deliveries measured under "
                             f"{strategy.name!r} give an impossible formula ({err})") from None
    table = _table(strategy, theta, boot, given, free, level)
    result = _compare(strategy, fitted, table, n, d, level)
    if warn and result.material:
        warnings.warn(f"{strategy.name}: {result.notes[-1]}", FanoutWarning, stacklevel=2)
    return result


TABLE_COLUMNS = ["param", "configured", "estimate", "std_err", "lower", "upper", "unit", "measured"]


def _table(strategy: Strategy, theta: np.ndarray, boot: np.ndarray, given: set[str], free: np.ndarray,
           level: float) -> pd.DataFrame:
    """One row per measured field (``theta[j]`` determines ``measured_fields[j]``)."""
    point = strategy.measured_values(theta)
    reps = strategy.measured_values(boot)
    rows = []
    for j, name in enumerate(strategy.measured_fields):
        values = np.asarray(reps[name], dtype=float)
        lower, upper = _quantiles(values, level) if free[j] else (math.nan, math.nan)
        rows.append({"param": name,
                     "configured": float(getattr(strategy, name)) if name in given else math.nan,
                     "estimate": float(point[name]), "std_err": float(_std(values)) if free[j] else math.nan,
                     "lower": float(lower), "upper": float(upper), "unit": FIELD_UNITS.get(name, ""),
                     "measured": bool(free[j])})
    return pd.DataFrame(rows, columns=TABLE_COLUMNS)


def _inside(value: float, lower: float, upper: float) -> bool:
    """``lower <= value <= upper`` up to rounding (a degenerate interval of exact counts)."""
    slack = 1e-9 * max(abs(lower), abs(upper), 1.0) if math.isfinite(upper) else 0.0
    return lower - slack <= value <= upper + slack


def _compare(strategy: Strategy, fitted: Strategy, table: pd.DataFrame, apps: np.ndarray,
             deliveries: np.ndarray, level: float) -> FanoutFit:
    """The fit's verdict on the configured formula, with its notes."""
    grid = np.linspace(apps.min(), apps.max(), 50)
    measured = np.asarray(fitted.delivered(grid), dtype=float)
    resid = deliveries - np.asarray(fitted.delivered(apps), dtype=float)
    configured = table["configured"].notna()
    disagrees = tuple(r.param for r in table[configured & table["measured"]].itertuples()
                      if not _inside(r.configured, r.lower, r.upper))
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(np.asarray(strategy.delivered(grid), dtype=float) / measured - 1)
    max_diff = float(np.nanmax(diff)) if configured.any() else math.nan
    shown = ", ".join(
        (f"{r.param} {r.estimate:.4g} [{r.lower:.4g}, {r.upper:.4g}]" if r.measured
         else f"{r.param} {r.estimate:.4g} (not measurable here)")
        + (f" (configured {r.configured:.4g})" if not math.isnan(r.configured) else " (not configured)")
        for r in table.itertuples())
    notes = [f"{strategy.name} fan-out measured from {apps.size:,} readings at {apps.min():,.0f}-"
             f"{apps.max():,.0f} apps: {shown}, {level:.0%} intervals"]
    if not table["measured"].all():
        fixed = ", ".join(table.loc[~table["measured"], "param"])
        notes.append(f"{strategy.name}: the readings span too few app counts to measure {fixed}, which "
                     "keeps its configured value")
    if disagrees:
        notes.append(f"configured {', '.join(disagrees)} outside the measured interval; the configured "
                     f"formula's deliveries differ from the measured ones by up to {max_diff:.1%} over the "
                     "observed apps" + (" (the measured formula is used)" if max_diff > FANOUT_TOLERANCE
                                        else ", within the tolerance"))
    return FanoutFit(name=strategy.name, strategy=fitted, configured=strategy, table=table,
                     n_obs=int(apps.size), apps_range=(float(apps.min()), float(apps.max())),
                     resid_sd=float(np.sqrt(np.mean(resid**2))), max_rel_diff=max_diff, disagrees=disagrees,
                     level=level, notes=tuple(notes))


def _unfitted(strategy: Strategy, apps: np.ndarray, deliveries: np.ndarray, level: float) -> FanoutFit:
    """A strategy without measured fields: its formula stays; the measurement is only reported."""
    resid = deliveries - np.asarray(strategy.delivered(apps), dtype=float)
    table = pd.DataFrame(columns=TABLE_COLUMNS)
    note = (f"{strategy.name}: its formula has no measured fields, so it is kept; the measured deliveries "
            f"(mean {deliveries.mean():.4g} per message) enter the cost model as observed")
    return FanoutFit(name=strategy.name, strategy=strategy, configured=strategy, table=table,
                     n_obs=int(apps.size), apps_range=(float(apps.min()), float(apps.max())),
                     resid_sd=float(np.sqrt(np.mean(resid**2))), max_rel_diff=math.nan, disagrees=(),
                     level=level, notes=(note,))
