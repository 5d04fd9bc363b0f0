"""Messaging-tier CPU as a function of the app count and the fan-out strategy.

The cost model, linear in its three non-negative parameters, is

    busy_cores(N) = u0 + a*N + b*N*F_s(N)

``u0`` [cores] is background work, ``a`` [cores/app] the per-message cost of the messages the apps
emit, ``b`` [cores/(app*delivery)] the cost of each delivery, and ``F_s(N)`` the deliveries per
message under fan-out strategy ``s`` (:mod:`capacity.load.strategies`). The CPU of the average
messaging server is ``busy_cores / (servers * cores_per_server) * 100`` [%].

Because ``u0, a, b`` are shared by all strategies, a model fitted on samples taken under one
strategy predicts the others: that is the counterfactual "what if we targeted messages now?".

Use :func:`fit_messaging` on the output of :func:`capacity.data.load_messaging` followed by
:func:`capacity.data.attach_apps`; it returns a :class:`MessagingModel`. For capacity planning
use the model's *mean* CPU (the average server, averaged over the day's cycle and the noise), with
parameter uncertainty from :meth:`MessagingModel.draws`; the wider observation interval of
:meth:`MessagingModel.predict` (``lower``/``upper``) describes single hourly server readings.

**Measured fan-out.** Samples may carry a ``deliveries`` column, the deliveries per message the
broker counted in the reading's interval (Redis PUBLISH returns the receiver count). The fit then
estimates each strategy's formula from it (:mod:`capacity.load.fanout`), reports the estimates with
intervals beside the configured values (:meth:`MessagingModel.fanout_summary`, :attr:`MessagingModel.notes`),
warns when they disagree, and puts the measured deliveries into the design, so that ``a`` and ``b``
are separated by how the deliveries vary and not only by the curvature of ``N*F(N)``. A strategy's
formula need not be configured then (a config table with only its ``kind``).

**Cost forms.** ``cost=`` picks the form (:mod:`capacity.load.costs`): the plain one above, a
``quadratic`` term ``c*N**2`` for superlinear cost not caused by fan-out, or a per-delivery cost that
falls with each connection's message rate (``rate``); ``cost="auto"`` chooses by the error on the
largest app counts held out of the fit, keeping the plain form unless another predicts them clearly
better. The notes say what was chosen and why.

Arguments are checked up front (:mod:`capacity.validation`): a bad one raises
:class:`~capacity.errors.ArgumentError` naming it (for arrays, its first bad item); a bad samples frame
raises :class:`~capacity.errors.InputDataError` naming the column and row. The chart is drawn by
:mod:`capacity.load.charts`, which knows nothing of the model.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special

from capacity.errors import ArgumentError, CapacityError, FitError, InputDataError
from capacity.load._nnls import block_counts as _block_counts
from capacity.load._nnls import nnls_gram as _nnls_gram
from capacity.load.costs import BASE_PARAMS, COST_FORMS, UNITS, CostForm, PerConnectionRate, Plain, RateAware
from capacity.load.costs import cost_form as _cost_form
from capacity.load.fanout import DELIVERIES_COLUMN, FanoutFit, FanoutWarning, fit_fanout
from capacity.load.profile import LoadProfile, fit_profile
from capacity.load.strategies import Broadcast, Strategy, resolve_strategy, strategy_from_config
from capacity.validation import (
    Boolean,
    HasMethods,
    InstanceOf,
    Interval,
    Options,
    Seed,
    check_args,
    check_mapping,
)
from capacity.validation.arrays import Includes, check_numbers

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "fit_messaging",
    "MessagingModel",
    "busy_cores",
]

PARAMS = BASE_PARAMS
REQUIRED_COLUMNS = ("timestamp", "apps", "cpu_percent", "strategy", "servers")
#: optional columns: measured deliveries per message; publish rate [messages/s] and subscriber
#: connections (the ``rate`` cost form)
OPTIONAL_COLUMNS = (DELIVERIES_COLUMN, "messages", "connections")
#: the largest app count :meth:`MessagingModel.apps_at` searches by default
MAX_APPS = 1e9

# what the arguments may be (capacity.validation)
_APPS = Interval(float, 0, None)  # live apps, each item
_SERVERS = Interval(float, 1, None)  # servers in service, each item (an average may be fractional)
_PARAM = Interval(float, 0, None)  # u0, a, b: the cost model's parameters are non-negative
_POSITIVE = Interval(float, 0, None, closed="neither")
_LEVEL = [Interval(float, 0, 1, closed="neither"), None]
_LIMIT = Interval(float, 0, 1, closed="right")  # a utilisation: 0.7 is 70 % of one server
_STRATEGY = HasMethods("deliveries", what="a Strategy")
_COST = [Options(sorted([*COST_FORMS, "auto"])), InstanceOf(CostForm)]


# --------------------------------------------------------------------------------------------
# numerics


def _inverse_mills(alpha: np.ndarray) -> np.ndarray:
    """phi(alpha) / (1 - Phi(alpha)), computed in logs so it stays finite far in the tail."""
    return np.exp(-0.5 * alpha**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(-alpha))


# --------------------------------------------------------------------------------------------
# strategies and parameters as inputs


def _columns(form: CostForm, apps: np.ndarray, strategy: Strategy) -> np.ndarray:
    """The form's design columns [cores per unit of each parameter] under one strategy."""
    f = np.asarray(strategy.deliveries(apps), dtype=float)
    rate = strategy.connection_rate(apps) if isinstance(strategy, RateAware) else None
    return form.columns(apps, f, np.asarray(strategy.delivered(apps), dtype=float), rate)


def _strategy_columns(owner: str, form: CostForm, apps: np.ndarray, strategy: Any,
                      resolve: Any) -> np.ndarray:
    """Design columns per element; ``strategy`` may also be an array of names aligned with ``apps``.

    ``resolve(strategy)`` turns a name or Strategy into the Strategy the model evaluates.
    """
    if isinstance(strategy, str) or _STRATEGY.holds(strategy):
        return _columns(form, apps, resolve(strategy))
    names = np.asarray(strategy, dtype=object)
    if names.shape != apps.shape:
        # a relation between two arguments, which capacity.validation's constraints cannot state
        raise ArgumentError(
            f"{owner}: strategy must be a name, a Strategy or one name per app (shape {apps.shape}), "
            f"not shape {names.shape}"
        )
    out = np.empty(apps.shape + (len(form.params),))
    for name in pd.unique(names.ravel()):
        rows = names == name
        out[rows] = _columns(form, apps[rows], resolve(name))
    return out


def _param_arrays(owner: str, params: Any, ndim: int) -> dict[str, Any]:
    """u0, a, b and any extra parameters (c, b_r) from a mapping/Series (scalars) or a DataFrame of
    draws (one per leading row)."""
    check_args(owner, params=(params, [InstanceOf(Mapping, pd.Series, pd.DataFrame)]))
    if isinstance(params, pd.DataFrame):
        where, keys = "params.columns", params.columns
    elif isinstance(params, pd.Series):
        where, keys = "params.index", params.index
    else:
        where, keys = "params keys", params
    check_args(owner, **{where: (list(keys), [Includes(PARAMS)])})
    names = [*PARAMS, *(p for p in UNITS if p not in PARAMS and p in list(keys))]
    values = {p: check_numbers(owner, f"params[{p!r}]", params[p], _PARAM) for p in names}
    if isinstance(params, pd.DataFrame):
        shape = (len(params),) + (1,) * max(ndim - 1, 0)
        return {p: v.reshape(shape) for p, v in values.items()}
    return values


def _busy(apps: np.ndarray, strategy: Any, params: Mapping[str, Any]) -> np.ndarray:
    """``u0 + a*N + b*N*F_s(N)`` (+ ``c*N**2``, + ``b_r*N*D*w(r)`` when given) on checked arrays [cores]."""
    f = np.asarray(strategy.deliveries(apps), dtype=float)
    out = params["u0"] + apps * (params["a"] + params["b"] * f)
    if "c" in params:
        out = out + params["c"] * apps**2
    if "b_r" in params:
        weight = np.asarray(strategy.rate_weight(apps), dtype=float)
        out = out + params["b_r"] * apps * np.asarray(strategy.delivered(apps), dtype=float) * weight
    return out


def busy_cores(apps: Any, *, strategy: Strategy, params: Any) -> Any:
    """Busy cores of the messaging tier: ``u0 + a*N + b*N*F_s(N)``.

    With the extra parameters of a cost form (:mod:`capacity.load.costs`) among ``params``, their
    terms are added: ``c*N**2`` (quadratic) and ``b_r*N*D(N)/(1 + r/r0)`` (rate; it needs a strategy
    of the fitted model, :attr:`MessagingModel.strategies`, which knows each connection's rate).

    Parameters
    ----------
    apps : float, array-like or Series
        Live app counts [apps], any shape, each finite and >= 0.
    strategy : Strategy
        Fan-out strategy in force.
    params : mapping, Series or DataFrame
        ``u0`` [cores], ``a`` [cores/app], ``b`` [cores/(app*delivery)], optionally ``c``
        [cores/app^2] and ``b_r`` [cores/(app*delivery)], each finite and >= 0. A DataFrame holds one
        draw per row; draw ``i`` applies to ``apps[i]`` (its first axis), so apps of shape
        ``(paths, days)`` pair with ``paths`` draws, and ``apps[None, :]`` evaluates every draw on the
        same grid (result ``(draws, len(grid))``).

    Returns
    -------
    float, ndarray or Series
        Busy cores [cores]; a Series keeps its index.

    Raises
    ------
    ArgumentError
        A bad argument, named (for arrays, its first bad item).
    """
    n = check_numbers("busy_cores", "apps", apps, _APPS)
    check_args("busy_cores", strategy=(strategy, [_STRATEGY]))
    values = _param_arrays("busy_cores", params, n.ndim)
    if "b_r" in values and not hasattr(strategy, "rate_weight"):
        raise ArgumentError("busy_cores: params hold 'b_r' (the 'rate' cost form), which needs a strategy "
                            f"of the fitted model (MessagingModel.strategies), not {strategy!r}")
    out = _busy(n, strategy, values)
    if isinstance(apps, pd.Series):
        return pd.Series(out, index=apps.index, name="busy_cores")
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------------------------
# fitting: check the samples, build the design, EM for the censored fit, per-day statistics for
# the bootstrap, daily means for the chart


def _first_bad(samples: pd.DataFrame, column: str, ok: Any, allow_missing: bool = False) -> int | None:
    """Row index of the first value of ``column`` that is not a number meeting ``ok``, or None."""
    raw = samples[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    missing = raw.isna().to_numpy()
    bad = ~ok(values) & ~(missing & allow_missing)
    return int(np.argmax(bad)) if bad.any() else None


def _bad_value(samples: pd.DataFrame, column: str, i: int) -> Any:
    value = samples[column].iloc[i]
    return value.item() if isinstance(value, np.generic) else value


def _check_samples(samples: pd.DataFrame, strategies: Mapping[str, Strategy]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in samples.columns]
    if missing:
        hint = " (use capacity.data.attach_apps)" if "apps" in missing else ""
        raise InputDataError(f"samples: missing column(s) {missing}{hint}")
    if len(samples) < 10:
        raise InputDataError(f"samples: {len(samples)} rows are too few; at least 10 are needed")
    checks = {
        "apps": (lambda v: np.isfinite(v) & (v >= 0), ""),
        "cpu_percent": (lambda v: np.isfinite(v) & (v >= 0), ""),
        "servers": (lambda v: np.isfinite(v) & (v >= 1), " >= 1"),
        # optional columns: measured deliveries may be missing in some readings (then the formula)
        DELIVERIES_COLUMN: (lambda v: np.isfinite(v) & (v >= 0), " (or empty)"),
        "messages": (lambda v: np.isfinite(v) & (v >= 0), ""),
        "connections": (lambda v: np.isfinite(v) & (v >= 1), " >= 1"),
    }
    for column, (ok, tail) in checks.items():
        if column not in samples.columns:
            continue
        i = _first_bad(samples, column, ok, allow_missing=column == DELIVERIES_COLUMN)
        if i is not None:
            value = _bad_value(samples, column, i)
            raise InputDataError(f"samples, column {column!r}: row {i + 1} holds {value!r}, "
                                 f"not a finite non-negative number{tail}")
    if samples["timestamp"].isna().any():
        i = int(np.argmax(samples["timestamp"].isna().to_numpy()))
        raise InputDataError(f"samples, column 'timestamp': row {i + 1} is missing")
    names = pd.unique(samples["strategy"].astype(str))
    unknown = [s for s in names if s not in strategies]
    if unknown:
        given = ", ".join(sorted(strategies)) or "none"
        raise InputDataError(
            f"samples, column 'strategy': no Strategy given for {unknown[0]!r} "
            f"(strategies given: {given})"
        )


def _check_needs(form: CostForm, samples: pd.DataFrame) -> None:
    missing = [c for c in form.needs if c not in samples.columns]
    if missing:
        raise InputDataError(f"samples: the {form.name!r} cost form needs column(s) {missing} "
                             "(publish rate [messages/s] and subscriber connections per reading)")


def _days(samples: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Calendar days (datetime64[D] as int) and the day of each reading (an index into them)."""
    day_ns = samples["timestamp"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    days, day_idx = np.unique(day_ns, return_inverse=True)
    return days, day_idx.ravel()


def _measured(samples: pd.DataFrame, use: bool) -> np.ndarray | None:
    """Measured deliveries per message (NaN where a reading has none), or None without the column."""
    if not use or DELIVERIES_COLUMN not in samples.columns:
        return None
    values = pd.to_numeric(samples[DELIVERIES_COLUMN], errors="coerce").to_numpy(dtype=float)
    return values if np.isfinite(values).any() else None


def _design(samples: pd.DataFrame, strategies: Mapping[str, Strategy], form: CostForm,
            measured: np.ndarray | None, cores_per_server: float) -> np.ndarray:
    """The form's design in percent of one server: ``cpu = design @ params``.

    A reading with a measured delivery count uses it (plus the strategy's cost without deliveries,
    e.g. a pattern scan); one without uses the strategy's formula.
    """
    apps = samples["apps"].to_numpy(dtype=float)
    names = samples["strategy"].astype(str).to_numpy(dtype=object)
    cols = np.empty((len(apps), len(form.params)))
    for name in pd.unique(names):
        rows = names == name
        n, strategy = apps[rows], strategies[name]
        f = np.asarray(strategy.deliveries(n), dtype=float)
        delivered = np.asarray(strategy.delivered(n), dtype=float)
        if measured is not None:
            has = np.isfinite(measured[rows])
            f = np.where(has, measured[rows] + (f - delivered), f)
            delivered = np.where(has, measured[rows], delivered)
        rate = None
        if form.needs:
            rate = (samples["messages"].to_numpy(dtype=float)[rows] * delivered
                    / samples["connections"].to_numpy(dtype=float)[rows])
        cols[rows] = form.columns(n, f, delivered, rate)
    # cpu = busy_cores / (servers * cores) * 100
    per_core = 100.0 / (samples["servers"].to_numpy(dtype=float) * cores_per_server)
    return per_core[:, None] * cols


@dataclass(frozen=True)
class _Readings:
    """The samples as arrays, with the scaled design ``z`` (the form's columns in % of one server)."""

    apps: np.ndarray
    y: np.ndarray  # cpu_percent [%]
    servers: np.ndarray
    names: np.ndarray  # strategy per reading
    z: np.ndarray
    scale: np.ndarray  # design = z * scale
    censored: np.ndarray
    cap: float  # censor_at, or inf
    days: np.ndarray  # calendar days (datetime64[D] as int)
    day_idx: np.ndarray  # day of each reading, an index into days


def _readings(samples: pd.DataFrame, design: np.ndarray, censor_at: float | None) -> _Readings:
    y = samples["cpu_percent"].to_numpy(dtype=float)
    scale = np.abs(design).max(axis=0)
    if np.any(scale[: len(PARAMS)] == 0):
        raise FitError("every sample has zero apps (or zero deliveries): a and b are not identifiable")
    days, day_idx = _days(samples)
    scale = np.where(scale > 0, scale, 1.0)  # a zero extra column: not identifiable, found later
    return _Readings(
        apps=samples["apps"].to_numpy(dtype=float), y=y, servers=samples["servers"].to_numpy(dtype=float),
        names=samples["strategy"].astype(str).to_numpy(dtype=object), z=design / scale, scale=scale,
        censored=y >= censor_at if censor_at is not None else np.zeros(len(y), dtype=bool),
        cap=float(censor_at) if censor_at is not None else np.inf,
        days=days, day_idx=day_idx,
    )


def _identifiable(z: np.ndarray) -> bool:
    # uncentred correlation of the design columns: an exactly (or nearly) collinear design, e.g.
    # a constant fan-out everywhere (then N and N*F are proportional), has a ~0 eigenvalue
    cross = z.T @ z
    norms = np.sqrt(np.diag(cross))
    if np.any(norms == 0):
        return False
    return bool(np.linalg.eigvalsh(cross / np.outer(norms, norms))[0] >= 1e-10)


def _check_identifiable(z: np.ndarray) -> None:
    if not _identifiable(z):
        raise FitError(
            "u0, a and b are not identifiable from these samples: the fan-out F(N) is (nearly) "
            "constant or proportional to a constant across them; include samples where the "
            "fan-out grows with the app count (e.g. under broadcast)"
        )


def _wnnls(z: np.ndarray, w: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Weighted NNLS of ``target`` on the columns of ``z``."""
    zw = z * w[:, None]
    return _nnls_gram((zw.T @ z)[None], (zw.T @ target)[None])[0]


@dataclass(frozen=True)
class _EMFit:
    theta: np.ndarray  # u0, a, b in the scaled design's units
    var_abs: float
    var_rel: float
    iterations: int
    converged: bool
    change: float  # the last relative change, for the warning


def _e_step(r: _Readings, mu: np.ndarray, var: np.ndarray, y_star: np.ndarray) -> np.ndarray:
    """Impute censored readings in ``y_star`` (in place); return the (expected) squared residuals."""
    resid2 = (r.y - mu) ** 2
    if r.censored.any():
        c = r.censored
        sd = np.sqrt(var[c])
        alpha = (r.cap - mu[c]) / sd
        lam = _inverse_mills(alpha)
        y_star[c] = mu[c] + sd * lam
        resid2[c] = var[c] * (1 + alpha * lam)
    return resid2


def _variance_update(mu: np.ndarray, var: np.ndarray, resid2: np.ndarray,
                     floor: float) -> tuple[float, float]:
    """Moment update of ``s_abs^2, s_rel^2``, weighted by 1/var^2 (the variance of a squared residual)."""
    vw = 1 / var**2
    feats = np.column_stack([np.ones_like(mu), mu**2])
    fw = feats * vw[:, None]
    gram2 = fw.T @ feats
    v = np.linalg.lstsq(gram2, fw.T @ resid2, rcond=None)[0]
    if v[1] < 0:
        v = np.array([np.sum(vw * resid2) / np.sum(vw), 0.0])
    elif v[0] < 0:
        v = np.array([0.0, np.sum(vw * mu**2 * resid2) / np.sum(vw * mu**4)])
    return max(v[0], floor), max(v[1], 0.0)


def _em(r: _Readings, *, max_iter: int, tol: float) -> _EMFit:
    """The censored-normal maximum likelihood by EM (see :func:`fit_messaging`)."""
    # start: unweighted NNLS on the uncensored readings, relative noise guessed at 5 %
    theta = _wnnls(r.z, (~r.censored).astype(float), r.y)
    floor = 1e-6 * max(float(np.mean(r.y)), 1e-9) ** 2  # keeps weights finite where mu ~ 0
    var_abs, var_rel = floor, 0.05**2
    y_star = r.y.copy()
    converged, iteration, change = False, 0, math.inf
    for iteration in range(1, max_iter + 1):  # noqa: B007 (iteration is reported)
        mu = r.z @ theta
        var = var_abs + var_rel * mu**2
        resid2 = _e_step(r, mu, var, y_star)
        new_abs, new_rel = _variance_update(mu, var, resid2, floor)
        new_theta = _wnnls(r.z, 1 / (new_abs + new_rel * mu**2), y_star)
        change = np.max(np.abs(new_theta - theta)) / max(np.max(np.abs(new_theta)), 1e-12)
        change = max(change, abs(new_rel - var_rel) / max(new_rel, 1e-12) if new_rel else 0.0)
        theta, var_abs, var_rel = new_theta, new_abs, new_rel
        if change < tol:
            converged = True
            break
    return _EMFit(theta=theta, var_abs=var_abs, var_rel=var_rel, iterations=iteration, converged=converged,
                  change=float(change))


def _day_statistics(r: _Readings, fit: _EMFit) -> tuple[np.ndarray, np.ndarray]:
    """Per-day Gram matrices and right-hand sides of the weighted fit, shapes (days, p, p), (days, p).

    A censored reading's imputed value moves with the parameters (d y*/d mu = 1 - info, info =
    lam*(lam - alpha) in (0, 1)); linearising the imputation at the fit turns it into a pseudo-reading
    with weight w*info and a response that leaves the full-sample solution unchanged. Holding
    imputations fixed instead would let censored readings count as fully observed and make the
    intervals too narrow.
    """
    mu = r.z @ fit.theta
    w = 1 / (fit.var_abs + fit.var_rel * mu**2)
    weight, target = w.copy(), w * r.y
    if r.censored.any():
        c = r.censored
        sd = np.sqrt(1 / w[c])
        alpha = (r.cap - mu[c]) / sd
        lam = _inverse_mills(alpha)
        info = np.clip(lam * (lam - alpha), 0.0, 1.0)
        weight[c] = w[c] * info
        target[c] = w[c] * (mu[c] + sd * lam - (1 - info) * mu[c])
    n_days, p = len(r.days), r.z.shape[1]
    gram = np.empty((n_days, p, p))
    rhs = np.empty((n_days, p))
    for j in range(p):
        rhs[:, j] = np.bincount(r.day_idx, weights=target * r.z[:, j], minlength=n_days)
        for k in range(j, p):
            gram[:, j, k] = gram[:, k, j] = np.bincount(
                r.day_idx, weights=weight * r.z[:, j] * r.z[:, k], minlength=n_days
            )
    return gram, rhs


def _resample(gram: np.ndarray, rhs: np.ndarray, scale: np.ndarray, block_days: int, n: int,
              seed: int | np.random.Generator | None) -> np.ndarray:
    """``n`` block-bootstrap replicates of the parameters: the NNLS re-solved on resampled days."""
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    counts = _block_counts(len(rhs), block_days, n, rng)
    return _nnls_gram(np.einsum("rd,dij->rij", counts, gram), counts @ rhs) / scale


def _observed_daily(r: _Readings, cores_per_server: float) -> pd.DataFrame:
    """One row per day and strategy for the chart: the tier's demand seen by the average server."""
    frame = pd.DataFrame({
        "date": r.days[r.day_idx].astype("datetime64[D]").astype("datetime64[ns]"),
        "strategy": r.names.astype(str),
        "apps": r.apps,
        "busy_cores": r.y * r.servers * cores_per_server / 100,
        "censored": r.censored,
    })
    return frame.groupby(["date", "strategy"], sort=True).agg(
        apps=("apps", "mean"),
        busy_cores=("busy_cores", "mean"),
        censored_share=("censored", "mean"),
        readings=("busy_cores", "size"),
    ).reset_index()


_Fields = dict[str, tuple[str, ...]]  # strategy name -> its configured measured fields


@dataclass(frozen=True)
class _Settings:
    """fit_messaging's options, passed on to the steps."""

    cores_per_server: float
    censor_at: float | None
    level: float
    block_days: int
    n_boot: int
    seed: int | np.random.Generator | None
    max_iter: int
    tol: float


@dataclass(frozen=True)
class _FormFit:
    """One cost form fitted: the readings, the EM fit and its bootstrap."""

    form: CostForm
    readings: _Readings
    em: _EMFit
    gram: np.ndarray
    rhs: np.ndarray
    boot: np.ndarray

    @property
    def params(self) -> np.ndarray:
        return self.em.theta / self.readings.scale


def _known_strategies(strategies: Mapping[str, Any]) -> tuple[dict[str, Strategy], _Fields]:
    """Strategy objects by name, and the measured fields each one's configuration gave.

    A config table names the fields it sets; the others take the kind's defaults, so a table with
    only its ``kind`` configures no formula (measured deliveries then supply it). A Strategy object
    counts as fully configured.
    """
    known, configured = {}, {}
    for name, s in strategies.items():
        if isinstance(s, Mapping):
            known[name] = strategy_from_config(s, name=name)
            configured[name] = tuple(k for k in s if k not in ("kind", "name"))
        else:
            known[name] = s
            configured[name] = tuple(getattr(s, "measured_fields", ()))
    return known, configured


def _fit_fanouts(samples: pd.DataFrame, known: Mapping[str, Strategy], configured: _Fields,
                 measured: np.ndarray | None, settings: _Settings) -> dict[str, FanoutFit]:
    """Each strategy's formula from the readings under it that carry a delivery count."""
    if measured is None:
        return {}
    names = samples["strategy"].astype(str).to_numpy(dtype=object)
    apps = samples["apps"].to_numpy(dtype=float)
    day_idx = _days(samples)[1]
    seed = settings.seed
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    fits = {}
    for name in pd.unique(names):
        rows = (names == name) & np.isfinite(measured)
        if rows.any() and hasattr(known[name], "measured_terms"):
            fits[name] = fit_fanout(apps[rows], measured[rows], strategy=known[name], days=day_idx[rows],
                                    configured=configured[name], level=settings.level, seed=rng,
                                    block_days=settings.block_days, n_boot=settings.n_boot, warn=False)
    return fits


def _solve(readings: _Readings, form: CostForm, settings: _Settings, n_boot: int) -> _FormFit:
    em = _em(readings, max_iter=settings.max_iter, tol=settings.tol)
    gram, rhs = _day_statistics(readings, em)
    boot = _resample(gram, rhs, readings.scale, settings.block_days, n_boot, settings.seed)
    return _FormFit(form=form, readings=readings, em=em, gram=gram, rhs=rhs, boot=boot)


def _fit_form(samples: pd.DataFrame, strategies: Mapping[str, Strategy], form: CostForm,
              measured: np.ndarray | None, settings: _Settings, *, n_boot: int | None = None,
              check: bool = True) -> tuple[_FormFit, str | None]:
    """Fit ``form``, or the plain form when the data cannot determine its extra parameters.

    With ``check``, an extra parameter whose bootstrap interval reaches 0 also means the data cannot
    tell the form from the plain one. Returns the fit and a note on the form (None for plain).
    """
    n_boot = settings.n_boot if n_boot is None else n_boot

    def design(f: CostForm) -> np.ndarray:
        return _design(samples, strategies, f, measured, settings.cores_per_server)

    def plain() -> _FormFit:
        readings = _readings(samples, design(Plain()), settings.censor_at)
        _check_identifiable(readings.z)
        return _solve(readings, Plain(), settings, n_boot)

    if isinstance(form, Plain):
        return plain(), None
    readings = _readings(samples, design(form), settings.censor_at)
    if not _identifiable(readings.z):
        return plain(), (f"cost form: the samples cannot determine the {form.name!r} form's "
                         f"{', '.join(form.extra)} (its column is collinear with the others; under "
                         "broadcast without measured deliveries N*F(N) is itself quadratic in N); "
                         "the plain form is kept")
    fit = _solve(readings, form, settings, n_boot)
    k = len(PARAMS)
    tail = (1 - settings.level) / 2
    lower, upper = np.quantile(fit.boot[:, k:], [tail, 1 - tail], axis=0)
    shown = ", ".join(f"{p} = {fit.params[k + j]:.4g} [{lower[j]:.4g}, {upper[j]:.4g}] {UNITS[p]}"
                      for j, p in enumerate(form.extra))
    if check and np.any(lower <= 0):
        return plain(), (f"cost form: the data cannot tell {form.describe()} from the plain form: the "
                         f"{settings.level:.0%} interval of {shown} reaches 0; the plain form is kept")
    return fit, f"cost form {form.name!r}: {form.describe()}, {shown}"


def _rate_strategies(samples: pd.DataFrame, strategies: Mapping[str, Strategy], form: PerConnectionRate,
                     settings: _Settings) -> tuple[dict[str, Strategy], float, Broadcast]:
    """Strategies that know each connection's message rate at any app count (for the rate form)."""
    apps = samples["apps"].to_numpy(dtype=float)
    messages = samples["messages"].to_numpy(dtype=float)
    busy = apps > 0
    per_app = float(np.median(messages[busy] / apps[busy])) if busy.any() else 0.0
    connections = samples["connections"].to_numpy(dtype=float)
    law = fit_fanout(apps, connections, strategy=Broadcast(name="connections"), days=_days(samples)[1],
                     configured=(), n_boot=2, warn=False).strategy
    wrapped = {name: s if isinstance(s, RateAware) else RateAware(base=s, messages_per_app=per_app,
                                                                  connections=law, form=form)
               for name, s in strategies.items()}
    return wrapped, per_app, law


def _held_out_se(y: np.ndarray, names: np.ndarray, day_idx: np.ndarray) -> float:
    """Relative standard error of the held-out means, from their per-day means (pooled over strategies)."""
    ses = []
    for name in pd.unique(names):
        rows = names == name
        means = pd.Series(y[rows]).groupby(day_idx[rows]).mean()
        if len(means) > 1 and means.mean() > 0:
            ses.append(means.std(ddof=1) / math.sqrt(len(means)) / means.mean())
    return float(np.sqrt(np.mean(np.square(ses)))) if ses else 0.0


def _candidates(samples: pd.DataFrame, measured: np.ndarray | None) -> list[CostForm]:
    forms: list[CostForm] = [Plain()]
    if measured is not None:
        forms.append(COST_FORMS["quadratic"]())
    if all(c in samples.columns for c in PerConnectionRate.needs):
        forms.append(PerConnectionRate())
    return forms


def _held_out_error(samples: pd.DataFrame, held: np.ndarray, strategies: Mapping[str, Strategy],
                    form: CostForm, measured: np.ndarray | None, settings: _Settings) -> float:
    """Relative error of the mean on the held-out readings (RMS over strategies) of ``form`` fitted on
    the others; NaN if the others cannot determine it. Censored readings are left out of the means."""
    part = (None, None) if measured is None else (measured[~held], measured[held])
    try:
        fit = _fit_form(samples[~held], strategies, form, part[0], settings, n_boot=2, check=False)[0]
    except FitError:
        return math.nan
    if fit.form != form:
        return math.nan
    test = samples[held]
    y, names = test["cpu_percent"].to_numpy(dtype=float), test["strategy"].astype(str).to_numpy(dtype=object)
    ok = y < settings.censor_at if settings.censor_at is not None else np.ones(len(y), dtype=bool)
    mu = _design(test, strategies, form, part[1], settings.cores_per_server) @ fit.params
    errors = [mu[ok & (names == s)].mean() / y[ok & (names == s)].mean() - 1 for s in pd.unique(names[ok])]
    return float(np.sqrt(np.mean(np.square(errors)))) if errors else math.nan


def _choose_form(samples: pd.DataFrame, strategies: Mapping[str, Strategy], measured: np.ndarray | None,
                 settings: _Settings) -> tuple[CostForm, pd.DataFrame | None, str]:
    """``cost="auto"``: hold the readings at the largest 20 % of app counts out; a form other than the
    plain one qualifies if the full data determine its extra parameter (interval clear of 0) and it
    predicts the held-out readings no worse than the plain form (within 2 standard errors of their
    mean); the qualifying form with the smallest held-out error wins, else the plain form."""
    forms = _candidates(samples, measured)
    apps = samples["apps"].to_numpy(dtype=float)
    held = apps >= np.quantile(apps, 0.8, method="higher")
    if len(forms) == 1:
        return Plain(), None, "cost form: plain (no measured deliveries or connection rates to try another)"
    if (~held).sum() < 10 or held.all():
        return Plain(), None, "cost form: plain (too few readings to hold the largest app counts out)"
    rows = []
    for form in forms:
        determined = True
        if not isinstance(form, Plain):
            determined = _fit_form(samples, strategies, form, measured, settings)[0].form == form
        rows.append({"form": form.name, "determined": determined,
                     "held_out_error": _held_out_error(samples, held, strategies, form, measured, settings)})
    table = pd.DataFrame(rows)
    test = samples[held]
    y = test["cpu_percent"].to_numpy(dtype=float)
    ok = y < settings.censor_at if settings.censor_at is not None else np.ones(len(y), dtype=bool)
    se = _held_out_se(y[ok], test["strategy"].astype(str).to_numpy(dtype=object)[ok], _days(test)[1][ok])
    return _pick(forms, table, se, float(apps[held].min()), int(ok.sum()))


def _pick(forms: list[CostForm], table: pd.DataFrame, se: float, cut: float,
          n_held: int) -> tuple[CostForm, pd.DataFrame, str]:
    errors = table["held_out_error"].to_numpy(dtype=float)
    plain = errors[0] if np.isfinite(errors[0]) else math.inf
    ok = table["determined"].to_numpy(dtype=bool) & np.isfinite(errors) & (errors <= plain + 2 * se)
    ok[0] = False
    chosen = int(np.argmin(np.where(ok, errors, math.inf))) if ok.any() else 0
    table = table.assign(chosen=np.arange(len(table)) == chosen)
    shown = ", ".join(f"{r.form} {r.held_out_error:.1%}" + ("" if r.determined else " (undetermined)")
                      for r in table.itertuples())
    head = (f"cost form chosen on the {n_held:,} readings at >= {cut:,.0f} apps held out of the fit "
            f"(error of their mean: {shown}; standard error {se:.1%})")
    if chosen:
        return forms[chosen], table, (f"{head}: {forms[chosen].name}, whose extra parameter the data "
                                      "determine and which predicts the held-out readings as well as the "
                                      "plain form or better")
    return Plain(), table, (f"{head}: plain; the data cannot tell the other forms from it (an extra "
                            "parameter they do not determine, or a worse prediction of the held-out "
                            "readings)")


def fit_messaging(
    samples: pd.DataFrame,
    *,
    strategies: Mapping[str, Strategy | Mapping[str, Any]],
    cores_per_server: float = 8,
    censor_at: float | None = 100.0,
    level: float = 0.9,
    block_days: int = 7,
    n_boot: int = 400,
    seed: int | np.random.Generator | None = 0,
    max_iter: int = 500,
    tol: float = 1e-8,
    cost: str | CostForm = "plain",
    use_deliveries: bool = True,
) -> MessagingModel:
    """Fit ``busy_cores = u0 + a*N + b*N*F_s(N)`` to messaging CPU samples.

    Each sample counts with the strategy in force when it was taken (its ``strategy`` column), so
    samples from different strategies inform the same three parameters.

    **Estimator.** Each reading of one server stands for the tier's busy cores
    ``cpu_percent * servers * cores_per_server / 100``; equivalently (and so it is computed, in the
    unit the noise and the cap are stated in) the reading is modelled as the average server's
    ``mu = (u0 + a*N + b*N*F) / (servers * cores_per_server) * 100`` [%] plus noise whose variance
    grows with the load, ``sd^2 = s_abs^2 + (s_rel*mu)^2`` (additive measurement noise plus
    multiplicative load noise, daily cycle and uneven split across servers). Readings at or above
    ``censor_at`` are right-censored: they say only that the demand was at least that much. The fit
    is the censored-normal (Tobit-type) maximum likelihood computed by EM: the E-step replaces each
    censored reading by its conditional mean given that it exceeded the cap,
    ``mu + sd * phi(z) / (1 - Phi(z))`` with ``z = (censor_at - mu) / sd``; the M-step is a weighted
    non-negative least squares (weights ``1/sd^2``) and a moment update of ``s_abs, s_rel`` from the
    (expected) squared residuals. EM was chosen over direct likelihood optimisation because its
    M-step is an exact small NNLS (3 parameters, 4 with a cost form's extra one), so every parameter
    stays >= 0 at every step without a constrained optimiser, and because its sufficient statistics
    are per-day Gram matrices, which make the bootstrap below nearly free.

    **Uncertainty.** Hourly noise is autocorrelated and shared by all servers of an hour, so the
    rows are far from independent and textbook standard errors would be too narrow. Uncertainty
    comes from a circular block bootstrap over calendar days (blocks of ``block_days`` days): each
    replicate re-solves the weighted NNLS on resampled days' Gram matrices (weights fixed, censored
    imputations linearised at the full-sample fit, so a censored reading carries only the share of
    information it really has, ``lam*(lam - z)`` with ``lam`` the inverse Mills ratio above).
    Standard errors are the replicates' standard deviation, intervals their percentiles, and
    :meth:`MessagingModel.draws` makes fresh replicates.

    **Measured deliveries.** With a ``deliveries`` column each strategy's formula is estimated from
    the readings under it (:func:`capacity.load.fanout.fit_fanout`, with the same bootstrap blocks),
    the estimates replace the configured values in :attr:`MessagingModel.strategies`, and each
    reading's own delivery count enters the design (``N*D`` instead of ``N*F(N)``); readings without
    one use the formula. A configured value outside its measured interval is reported in the notes,
    and warned about (:class:`~capacity.load.fanout.FanoutWarning`) when the formulas' deliveries
    differ by more than :data:`~capacity.load.fanout.FANOUT_TOLERANCE` over the observed apps.

    Parameters
    ----------
    samples : DataFrame
        Columns ``timestamp``, ``apps`` [apps], ``cpu_percent`` [% of one server], ``strategy``
        (name) and ``servers`` (messaging servers in service): the output of
        :func:`capacity.data.load_messaging` followed by :func:`capacity.data.attach_apps`.
        Optional: ``deliveries`` (deliveries per message the broker counted in the reading's
        interval [deliveries]; empty where unknown), ``messages`` (publish rate [messages/s]) and
        ``connections`` (subscriber connections), the last two for the ``rate`` cost form.
    strategies : mapping
        Strategy name (as used in ``samples["strategy"]``) -> :class:`Strategy` or a config table
        such as ``{"kind": "targeted", "k": 3}``. Extra strategies are kept for predictions. With
        measured deliveries a table may give only the ``kind``: the formula is then measured.
    cores_per_server : float, default 8
        Cores per messaging server [cores], > 0.
    censor_at : float or None, default 100
        Readings at or above this [%] are treated as censored; ``None`` takes every reading at face
        value (the naive fit).
    level : float, default 0.9
        Default interval level of :meth:`MessagingModel.summary` and ``predict``, in (0, 1).
    block_days : int, default 7
        Bootstrap block length [days], >= 1; longer than the noise's memory (hours in the sample).
    n_boot : int, default 400
        Bootstrap replicates kept in the model for intervals, >= 2.
    seed : int, Generator or None, default 0
        Randomness of the bootstrap.
    max_iter : int, default 500
        Most EM iterations, >= 1.
    tol : float, default 1e-8
        Convergence threshold on the relative change of the parameters between iterations, > 0.
    cost : {"plain", "quadratic", "rate", "auto"} or CostForm, default "plain"
        The cost form (:mod:`capacity.load.costs`). A form whose extra parameter the data cannot
        determine (collinear, or its interval reaches 0) falls back to the plain form, and the notes
        say so. ``"auto"`` holds the readings at the largest 20 % of app counts out and fits every
        form the samples support on the rest; a form other than the plain one qualifies when the full
        data determine its extra parameter and it predicts the held-out readings no worse than the
        plain form (within twice the standard error of their mean); the qualifying form with the
        smallest held-out error wins, else the plain form (:attr:`MessagingModel.selection`). Both
        tests matter: the held-out error alone cannot see how the cost splits between messages and
        deliveries (every form predicts the strategy in force alike), which is what a counterfactual
        strategy needs; the extra parameter's interval can.
    use_deliveries : bool, default True
        Use the ``deliveries`` column when present; False fits the configured formulas only.

    Returns
    -------
    MessagingModel

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range (named), e.g. ``n_boot=1``.
    ConfigError
        A strategy given as a config table is unusable.
    InputDataError
        A required column is missing or holds a bad value (named with its first bad row), or a
        strategy name in the data has no Strategy.
    FitError
        The parameters are not identifiable from the samples (e.g. every sample has the same
        constant fan-out, so ``a`` and ``b`` cannot be told apart).

    Warns
    -----
    FanoutWarning
        A configured fan-out formula disagrees materially with the measured deliveries.
    RuntimeWarning
        EM did not converge within ``max_iter`` iterations.
    """
    check_args(
        "fit_messaging",
        samples=(samples, [InstanceOf(pd.DataFrame)]),
        strategies=(strategies, [InstanceOf(Mapping)]),
        cores_per_server=(cores_per_server, [_POSITIVE]),
        censor_at=(censor_at, [_POSITIVE, None]),
        level=(level, _LEVEL[:1]),
        block_days=(block_days, [Interval(int, 1, None)]),
        n_boot=(n_boot, [Interval(int, 2, None)]),
        seed=(seed, [Seed(), None]),
        max_iter=(max_iter, [Interval(int, 1, None)]),
        tol=(tol, [_POSITIVE]),
        cost=(cost, _COST),
        use_deliveries=(use_deliveries, [Boolean()]),
    )
    check_mapping("fit_messaging", "strategies", strategies, values=[_STRATEGY, InstanceOf(Mapping)])
    known, configured = _known_strategies(strategies)
    _check_samples(samples, known)
    settings = _Settings(float(cores_per_server), censor_at, level, int(block_days), int(n_boot), seed,
                         int(max_iter), tol)
    measured = _measured(samples, use_deliveries)
    fanout = _fit_fanouts(samples, known, configured, measured, settings)
    for f in fanout.values():
        if f.material:
            warnings.warn(f"fit_messaging: {f.name}: {f.notes[-1]}", FanoutWarning, stacklevel=2)
    fitted = {name: fanout[name].strategy if name in fanout else s for name, s in known.items()}
    notes = [note for f in fanout.values() for note in f.notes]
    selection = None
    if cost == "auto":
        form, selection, why = _choose_form(samples, fitted, measured, settings)
        notes.append(why)
    else:
        form = _cost_form(cost)
    _check_needs(form, samples)
    fit, why = _fit_form(samples, fitted, form, measured, settings)
    notes += [why] if why else []
    if not fit.em.converged:
        warnings.warn(
            f"fit_messaging: EM did not converge in {max_iter} iterations "
            f"(last relative change {fit.em.change:.2g}); estimates may be imprecise",
            RuntimeWarning,
            stacklevel=2,
        )
    rate = None
    if isinstance(fit.form, PerConnectionRate):
        fitted, *rate = _rate_strategies(samples, fitted, fit.form, settings)
    return _model(samples, fit, fitted, settings, fanout=fanout, notes=tuple(notes), selection=selection,
                  rate=tuple(rate) if rate else None,
                  profile=_profile(samples, float(fit.params[0]), settings))


def _profile(samples: pd.DataFrame, u0: float, settings: _Settings) -> LoadProfile | str:
    """The intraday profile and server shares, or why there are none."""
    if "server" not in samples.columns:
        return "the messaging samples have no server column"
    return fit_profile(samples, u0=u0, cores_per_server=settings.cores_per_server,
                       censor_at=settings.censor_at)


def _model(samples: pd.DataFrame, fit: _FormFit, strategies: dict[str, Strategy], settings: _Settings,
           **extra: Any) -> MessagingModel:
    r, names = fit.readings, list(fit.form.params)
    return MessagingModel(
        params=pd.Series(fit.params, index=names, name="estimate"),
        boot=pd.DataFrame(fit.boot, columns=names),
        noise=pd.Series({"abs_sd": math.sqrt(fit.em.var_abs), "rel_sd": math.sqrt(fit.em.var_rel)},
                        name="noise"),
        strategies=dict(strategies),
        cores_per_server=settings.cores_per_server,
        censor_at=settings.censor_at,
        level=settings.level,
        block_days=settings.block_days,
        n_obs=len(r.y),
        n_censored=int(r.censored.sum()),
        n_days=len(r.days),
        iterations=fit.em.iterations,
        converged=fit.em.converged,
        observed=_observed_daily(r, settings.cores_per_server),
        last_servers=int(samples["servers"].iloc[int(np.argmax(samples["timestamp"].to_numpy()))]),
        _gram=fit.gram,
        _rhs=fit.rhs,
        _scale=r.scale,
        cost=fit.form,
        **extra,
    )


# --------------------------------------------------------------------------------------------
# the fitted model


@dataclass(frozen=True, eq=False)
class MessagingModel:
    """A fitted messaging cost model (returned by :func:`fit_messaging`; do not build by hand).

    Every method checks its arguments and raises :class:`~capacity.errors.ArgumentError` naming a
    bad one (for arrays, the first bad item): app counts must be finite and >= 0, server counts
    finite and >= 1, limits in (0, 1], levels in (0, 1).

    Attributes (fitted)
    -------------------
    params : Series
        Point estimates of ``u0`` [cores], ``a`` [cores/app], ``b`` [cores/(app*delivery)], and the
        cost form's extra parameter if any (``c`` [cores/app^2], ``b_r`` [cores/(app*delivery)]).
    boot : DataFrame
        Block-bootstrap replicates of the parameters (one column each), behind the intervals.
    noise : Series
        ``abs_sd`` [% of one server] and ``rel_sd`` [fraction of the mean]: the spread of single
        hourly server readings around the mean, ``sd = sqrt(abs_sd^2 + (rel_sd*mean)^2)``.
    strategies : dict
        Strategy name -> Strategy: those of the samples plus any extra given to the fit; a strategy
        with measured deliveries carries the measured formula (the configured one is in
        :attr:`fanout`). Under the ``rate`` form each is a :class:`~capacity.load.costs.RateAware`.
    cores_per_server, censor_at, level, block_days
        The fit's settings.
    n_obs, n_censored, n_days : int
        Readings used, readings treated as censored, calendar days covered.
    iterations : int
    converged : bool
        EM iterations used and whether the tolerance was met.
    observed : DataFrame
        Daily means per strategy (date, strategy, apps, busy_cores, censored_share, readings).
    last_servers : int
        Servers in service at the last sample (the chart's default).
    cost : CostForm
        The cost form fitted (:mod:`capacity.load.costs`).
    fanout : dict
        Strategy name -> :class:`~capacity.load.fanout.FanoutFit` for each strategy whose deliveries
        were measured (empty without a ``deliveries`` column).
    notes : tuple of str
        What the fit measured and chose, in sentences: the measured fan-out beside the configured
        one, disagreements, the cost form and why.
    selection : DataFrame or None
        With ``cost="auto"``: form, determined (the full data determine its extra parameter),
        held_out_error (relative error of the held-out mean, RMS over strategies), chosen.
    profile : LoadProfile or str
        The intraday profile of the load above ``u0`` and the servers' shares
        (:mod:`capacity.load.profile`), for plans on the busy hours or the hottest server; or why
        the samples give none (e.g. one reading a day).
    """

    params: pd.Series
    boot: pd.DataFrame
    noise: pd.Series
    strategies: dict[str, Strategy]
    cores_per_server: float
    censor_at: float | None
    level: float
    block_days: int
    n_obs: int
    n_censored: int
    n_days: int
    iterations: int
    converged: bool
    observed: pd.DataFrame = field(repr=False)
    last_servers: int = field(repr=False)
    _gram: np.ndarray = field(repr=False)
    _rhs: np.ndarray = field(repr=False)
    _scale: np.ndarray = field(repr=False)
    cost: CostForm = field(default=Plain(), repr=False)
    fanout: dict[str, FanoutFit] = field(default_factory=dict, repr=False)
    notes: tuple[str, ...] = field(default=(), repr=False)
    selection: pd.DataFrame | None = field(default=None, repr=False)
    #: (messages per app [messages/(s*app)], connections law) for the rate form's counterfactuals
    rate: tuple[float, Broadcast] | None = field(default=None, repr=False)
    profile: LoadProfile | str | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        p = self.params
        extra = "".join(f", {k}={p[k]:.4g} {UNITS[k]}" for k in self.cost.extra)
        return (
            f"MessagingModel(u0={p['u0']:.4g} cores, a={p['a']:.4g} cores/app, "
            f"b={p['b']:.4g} cores/(app*delivery){extra}, n={self.n_obs} ({self.n_censored} censored), "
            f"days={self.n_days}, strategies=[{', '.join(self.strategies)}])"
        )

    def _resolve(self, strategy: Any, owner: str, name: str = "strategy") -> Strategy:
        """The Strategy the model evaluates for a name or a Strategy (wrapped for the rate form)."""
        strat = resolve_strategy(strategy, self.strategies, owner=owner, name=name)
        if self.rate is not None and not isinstance(strat, RateAware):
            per_app, law = self.rate
            strat = RateAware(base=strat, messages_per_app=per_app, connections=law,
                              form=self.cost)  # type: ignore[arg-type]
        return strat

    def fanout_summary(self) -> pd.DataFrame:
        """The measured fan-out parameters beside the configured ones (intervals at the fit's ``level``).

        Returns
        -------
        DataFrame
            Columns strategy, param, configured (NaN: not configured), estimate, std_err, lower,
            upper, unit, measured, agrees (configured inside the interval, or NaN); empty without
            measured deliveries.
        """
        frames = [f.table.assign(strategy=name) for name, f in self.fanout.items() if len(f.table)]
        if not frames:
            return pd.DataFrame(columns=["strategy", "param", "configured", "estimate", "std_err", "lower",
                                         "upper", "unit", "measured", "agrees"])
        table = pd.concat(frames, ignore_index=True)
        slack = 1e-9 * np.maximum(table["lower"].abs(), table["upper"].abs())
        conf = table["configured"]
        inside = (table["lower"] - slack <= conf) & (conf <= table["upper"] + slack)
        table["agrees"] = np.where(table["configured"].notna() & table["measured"].astype(bool),
                                   inside.astype(float), math.nan)
        return table[["strategy", "param", "configured", "estimate", "std_err", "lower", "upper", "unit",
                      "measured", "agrees"]]

    # ---- parameters ---------------------------------------------------------------------------

    def summary(self, *, level: float | None = None) -> pd.DataFrame:
        """Parameter estimates with bootstrap standard errors and percentile intervals.

        Parameters
        ----------
        level : float, optional
            Interval level in (0, 1); defaults to the model's ``level``.

        Returns
        -------
        DataFrame
            Columns param, estimate, std_err, lower, upper, unit; one row per u0, a, b (and the cost
            form's extra parameter).
        """
        check_args("MessagingModel.summary", level=(level, _LEVEL))
        tail = (1 - (self.level if level is None else level)) / 2
        names = list(self.params.index)
        return pd.DataFrame({
            "param": names,
            "estimate": self.params.to_numpy(),
            "std_err": self.boot.std(ddof=1).to_numpy(),
            "lower": self.boot.quantile(tail).to_numpy(),
            "upper": self.boot.quantile(1 - tail).to_numpy(),
            "unit": [UNITS[p] for p in names],
        })

    def draws(self, n: int, *, seed: int | np.random.Generator | None = None) -> pd.DataFrame:
        """Fresh block-bootstrap draws of ``u0, a, b`` for Monte Carlo.

        Every draw is non-negative and carries the parameters' correlation.

        Parameters
        ----------
        n : int
            Number of draws, >= 1.
        seed : int, Generator or None
            Same seed, same draws.

        Returns
        -------
        DataFrame
            Columns u0, a, b and the cost form's extra parameter (units as in :attr:`params`),
            ``n`` rows.
        """
        check_args("MessagingModel.draws", n=(n, [Interval(int, 1, None)]), seed=(seed, [Seed(), None]))
        theta = _resample(self._gram, self._rhs, self._scale, self.block_days, int(n), seed)
        return pd.DataFrame(theta, columns=list(self.params.index))

    # ---- predictions --------------------------------------------------------------------------

    def cpu_percent(
        self, apps: Any, *, strategy: Any, servers: Any, params: Any = None
    ) -> Any:
        """Mean CPU of the average messaging server [%], vectorised for Monte Carlo.

        Parameters
        ----------
        apps : float, ndarray or Series
            Live app counts [apps], any shape, e.g. ``(paths, days)``; finite and >= 0.
        strategy : str or Strategy
            A strategy name known to the model, or any Strategy (a counterfactual).
        servers : float or ndarray
            Messaging servers in service (finite, >= 1), broadcastable against ``apps``.
        params : mapping, Series or DataFrame, optional
            Parameters to use instead of the point estimates; a DataFrame from :meth:`draws`
            gives one draw per leading row of ``apps`` (see :func:`busy_cores`).

        Returns
        -------
        float, ndarray or Series
            ``busy_cores / (servers * cores_per_server) * 100`` [%]; a Series keeps its index.
        """
        owner = "MessagingModel.cpu_percent"
        n = check_numbers(owner, "apps", apps, _APPS)
        srv = check_numbers(owner, "servers", servers, _SERVERS)
        strat = self._resolve(strategy, owner)
        p = _param_arrays(owner, self.params if params is None else params, n.ndim)
        out = _busy(n, strat, p) * (100.0 / (srv * self.cores_per_server))
        if isinstance(apps, pd.Series):
            return pd.Series(out, index=apps.index, name="cpu_percent")
        return float(out) if np.ndim(out) == 0 else out

    def predict(
        self, apps: Any, *, strategy: Any, servers: Any, level: float | None = None
    ) -> pd.DataFrame:
        """Predicted CPU per server with a mean interval and an observation interval.

        Parameters
        ----------
        apps : float, array-like or Series
            Live app counts [apps] (1-D), finite and >= 0.
        strategy : str, Strategy, or array-like of names
            The fan-out strategy (names must be known to the model; a Strategy object may be
            new); an array of names aligned with ``apps`` predicts each row under its own.
        servers : int or array-like
            Messaging servers in service, >= 1 (scalar or aligned with ``apps``).
        level : float, optional
            Interval level in (0, 1); defaults to the model's ``level`` (0.9).

        Returns
        -------
        DataFrame
            Index of ``apps`` if it is a Series, else a RangeIndex. Columns ``apps``, ``servers``,
            ``mean`` (mean CPU of the average server [%]: **the planning quantity**),
            ``mean_lower``/``mean_upper`` (percentile interval of the mean from parameter
            uncertainty), ``lower``/``upper`` (interval for a single hourly reading of one server:
            parameter uncertainty plus observation noise, normal approximation, floored at 0 and
            not capped at 100 %, i.e. for the demand rather than the clipped reading).
        """
        owner = "MessagingModel.predict"
        n = np.atleast_1d(check_numbers(owner, "apps", apps, _APPS, max_ndim=1))
        srv = check_numbers(owner, "servers", servers, _SERVERS, max_ndim=1)
        check_args(owner, level=(level, _LEVEL))
        if srv.ndim == 1 and srv.size != 1 and srv.shape != n.shape:
            raise ArgumentError(f"{owner}: servers must be one count or one per app ({n.size}), "
                                f"not {srv.size} counts")
        if isinstance(strategy, pd.Series):
            strategy = strategy.to_numpy(dtype=object)
        cols = _strategy_columns(owner, self.cost, n, strategy, lambda s: self._resolve(s, owner))
        srv = np.broadcast_to(srv, n.shape)
        design = (100.0 / (srv * self.cores_per_server))[:, None] * cols
        mean = design @ self.params.to_numpy()
        tail = (1 - (self.level if level is None else level)) / 2
        lo, hi, boot_var = self._boot_spread(design, tail)
        obs_sd = np.sqrt(self.noise["abs_sd"] ** 2 + (self.noise["rel_sd"] * mean) ** 2 + boot_var)
        zq = special.ndtri(1 - tail)
        return pd.DataFrame(
            {
                "apps": n,
                "servers": srv,
                "mean": mean,
                "mean_lower": lo,
                "mean_upper": hi,
                "lower": np.maximum(mean - zq * obs_sd, 0.0),
                "upper": mean + zq * obs_sd,
            },
            index=apps.index if isinstance(apps, pd.Series) else None,
        )

    def _boot_spread(self, design: np.ndarray, tail: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Percentiles ``tail`` and ``1 - tail`` and variance of the mean over the bootstrap replicates."""
        boot = self.boot.to_numpy()
        rows = len(design)
        lo, hi, boot_var = np.empty(rows), np.empty(rows), np.empty(rows)
        for start in range(0, rows, 4096):  # chunks keep the (replicates x rows) matrix small
            part = slice(start, start + 4096)
            mus = boot @ design[part].T
            lo[part], hi[part] = np.quantile(mus, [tail, 1 - tail], axis=0)
            boot_var[part] = mus.var(axis=0, ddof=1)
        return lo, hi, boot_var

    def apps_at(
        self,
        limit: float,
        *,
        strategy: Any,
        servers: float,
        params: Any = None,
        max_apps: float = MAX_APPS,
    ) -> Any:
        """The app count at which the mean CPU per server reaches ``limit``.

        Solves ``cpu_percent(N) = 100 * limit`` by bisection, which needs the cost curve to be
        non-decreasing in N (true for the built-in strategies and non-negative parameters).

        Parameters
        ----------
        limit : float
            Utilisation limit as a fraction of one server, in (0, 1] (e.g. 0.7 for 70 %).
        strategy : str or Strategy
        servers : float
            Messaging servers in service, >= 1.
        params : DataFrame, optional
            Parameter draws (from :meth:`draws`): one answer per draw.
        max_apps : float, default 1e9
            Largest app count searched [apps], > 0.

        Returns
        -------
        float or ndarray
            App count [apps]; 0.0 if the limit is already reached with no apps. With ``params``,
            an array with NaN for draws whose curve stays below the limit up to ``max_apps``.

        Raises
        ------
        CapacityError
            Without ``params``: the limit is not reached below ``max_apps`` under that strategy.
        """
        owner = "MessagingModel.apps_at"
        check_args(owner, limit=(limit, [_LIMIT]), servers=(servers, [_SERVERS]),
                   max_apps=(max_apps, [_POSITIVE]))
        strat = self._resolve(strategy, owner)
        p = _param_arrays(owner, self.params if params is None else params, 1)
        width = len(params) if isinstance(params, pd.DataFrame) else 1
        per_server = 100.0 / (np.asarray(servers, dtype=float) * self.cores_per_server)
        target = 100.0 * limit

        def cpu(n: np.ndarray) -> np.ndarray:
            return np.broadcast_to(_busy(n, strat, p) * per_server, (width,))

        lo = np.zeros(width)
        hi = np.full(width, float(max_apps))
        at_zero = cpu(lo) >= target
        reached = cpu(hi) >= target
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            up = cpu(mid) >= target
            hi = np.where(up, mid, hi)
            lo = np.where(up, lo, mid)
            if np.all(hi - lo <= 1e-9 * np.maximum(hi, 1.0)):
                break
        result = np.where(at_zero, 0.0, np.where(reached, hi, np.nan))
        if isinstance(params, pd.DataFrame):
            return result
        if not reached[0]:
            raise CapacityError(
                f"under strategy {strat.name!r} with {servers} servers the mean CPU stays below "
                f"{target:g} % up to {max_apps:g} apps"
            )
        return float(result[0])

    def servers_needed(
        self, apps: Any, *, strategy: Any, limit: float, params: Any = None
    ) -> Any:
        """Fewest servers keeping the mean CPU per server at or below ``limit``.

        The tier's busy cores do not depend on the server count (the load is spread evenly), so
        this is ``ceil(busy_cores / (cores_per_server * limit))``, at least 1.

        Parameters
        ----------
        apps : float, array-like or Series
            Live app counts [apps], finite and >= 0.
        strategy : str or Strategy
        limit : float
            Utilisation limit as a fraction, in (0, 1] (0.7 for 70 %).
        params : optional
            As in :meth:`cpu_percent`.

        Returns
        -------
        int, ndarray of int64 or Series
            Servers [servers].
        """
        owner = "MessagingModel.servers_needed"
        n = check_numbers(owner, "apps", apps, _APPS)
        check_args(owner, limit=(limit, [_LIMIT]))
        strat = self._resolve(strategy, owner)
        cores = _busy(n, strat, _param_arrays(owner, self.params if params is None else params, n.ndim))
        values = np.asarray(cores, dtype=float) / (self.cores_per_server * limit)
        # a hair of tolerance so an exact fit (e.g. 2.0000000001 from rounding) is not rounded up
        need = np.maximum(np.ceil(values * (1 - 1e-12)), 1).astype(np.int64)
        if isinstance(apps, pd.Series):
            return pd.Series(need, index=apps.index, name="servers")
        return int(need) if need.ndim == 0 else need

    # ---- chart --------------------------------------------------------------------------------

    def chart(
        self,
        *,
        limit: float | None = 0.7,
        servers: int | None = None,
        apps_max: float | None = None,
        strategies: Any = None,
        level: float | None = None,
        limit_label: str | None = None,
    ) -> alt.LayerChart:
        """CPU per server vs apps: one curve (with its mean interval) per strategy, the limit, and
        the observed daily means.

        Observed daily means are rescaled to ``servers`` servers (the tier's busy cores divided
        over the chart's server count) so that samples taken with other server counts line up;
        days with censored readings are drawn hollow (their mean understates the demand).

        Parameters
        ----------
        limit : float or None, default 0.7
            Utilisation limit as a fraction in (0, 1]; ``None`` draws no limit line.
        servers : int, optional
            Servers assumed (>= 1); defaults to the count in service at the last sample.
        apps_max : float, optional
            Right end of the apps axis [apps], > 0; defaults to 1.25x the most apps observed.
        strategies : list or tuple of str or Strategy, optional
            Curves to draw; defaults to every strategy the model knows.
        level : float, optional
            Level of the mean interval band, in (0, 1).
        limit_label : str, optional
            The limit line's label (default "limit 70%"), e.g. what a busy-hour limit means here.

        Returns
        -------
        altair.LayerChart
        """
        from capacity.load.charts import messaging_chart

        owner = "MessagingModel.chart"
        check_args(owner, limit=(limit, [_LIMIT, None]), servers=(servers, [Interval(int, 1, None), None]),
              apps_max=(apps_max, [_POSITIVE, None]), level=(level, _LEVEL),
              strategies=(strategies, [InstanceOf(list, tuple), None]))
        servers = self.last_servers if servers is None else servers
        level = self.level if level is None else level
        apps_max = 1.25 * float(self.observed["apps"].max()) if apps_max is None else apps_max
        # label curves by the names the samples use, so curve and points share a colour
        chosen = list(self.strategies.items()) if strategies is None else [
            (s if isinstance(s, str) else s.name,
             self._resolve(s, owner, name=f"strategies[{i}]"))
            for i, s in enumerate(strategies)
        ]
        grid = np.linspace(0.0, apps_max, 120)
        curves = pd.concat(
            [self.predict(grid, strategy=s, servers=servers, level=level).assign(strategy=label)
             for label, s in chosen],
            ignore_index=True,
        )
        observed = self.observed.assign(
            cpu_percent=self.observed["busy_cores"] / (servers * self.cores_per_server) * 100,
            censored=self.observed["censored_share"] > 0,
        ).drop(columns=["busy_cores"])
        return messaging_chart(curves, observed, limit=limit, servers=servers, level=level,
                               limit_label=limit_label)
