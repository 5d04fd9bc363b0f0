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
from capacity.load.strategies import Strategy, resolve_strategy, strategy_from_config
from capacity.validation import HasMethods, InstanceOf, Interval, Seed, check_args, check_mapping
from capacity.validation.arrays import Includes, check_numbers

if TYPE_CHECKING:
    import altair as alt

__all__ = [
    "fit_messaging",
    "MessagingModel",
    "busy_cores",
]

PARAMS = ("u0", "a", "b")
UNITS = {"u0": "cores", "a": "cores/app", "b": "cores/(app*delivery)"}
REQUIRED_COLUMNS = ("timestamp", "apps", "cpu_percent", "strategy", "servers")
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


# --------------------------------------------------------------------------------------------
# numerics


def _nnls_gram(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Minimise ``t'Gt - 2g't`` subject to ``t >= 0`` for a batch of 3-parameter problems.

    The constrained optimum solves the normal equations on its free set, so with three
    parameters it is the best of the 7 free-set solutions that are feasible (plus ``t = 0``).
    That is exact and vectorises over the batch, where scipy's NNLS would loop in Python.

    Parameters
    ----------
    gram : ndarray, shape (..., 3, 3)
        Positive (semi)definite Gram matrices (well scaled).
    rhs : ndarray, shape (..., 3)
    """
    batch = rhs.shape[:-1]
    best = np.zeros(rhs.shape)
    best_obj = np.zeros(batch)  # objective of t = 0
    # a relative ridge keeps exactly collinear resamples solvable; it is far below the data's scale
    ridge = 1e-12 * np.trace(gram, axis1=-2, axis2=-1)[..., None, None] * np.eye(3)
    gram = gram + ridge
    for mask in range(1, 8):
        free = [j for j in range(3) if mask >> j & 1]
        sub = gram[..., free, :][..., :, free]
        theta = np.linalg.solve(sub, rhs[..., free, None])[..., 0]
        feasible = np.all(theta >= 0, axis=-1)
        obj = -np.einsum("...i,...i->...", rhs[..., free], theta)
        take = feasible & (obj < best_obj)
        if np.any(take):
            full = np.zeros(rhs.shape)
            full[..., free] = theta
            best = np.where(take[..., None], full, best)
            best_obj = np.where(take, obj, best_obj)
    return best


def _block_counts(n_days: int, block: int, n_rep: int, rng: np.random.Generator) -> np.ndarray:
    """How often each day appears in each circular block-bootstrap resample, shape (n_rep, n_days)."""
    block = max(1, min(block, n_days))
    n_blocks = math.ceil(n_days / block)
    starts = rng.integers(0, n_days, size=(n_rep, n_blocks))
    days = (starts[:, :, None] + np.arange(block)).reshape(n_rep, -1)[:, :n_days] % n_days
    rows = np.repeat(np.arange(n_rep), n_days)
    return np.bincount(rows * n_days + days.ravel(), minlength=n_rep * n_days).reshape(
        n_rep, n_days
    ).astype(float)


def _inverse_mills(alpha: np.ndarray) -> np.ndarray:
    """phi(alpha) / (1 - Phi(alpha)), computed in logs so it stays finite far in the tail."""
    return np.exp(-0.5 * alpha**2 - 0.5 * np.log(2 * np.pi) - special.log_ndtr(-alpha))


# --------------------------------------------------------------------------------------------
# strategies and parameters as inputs


def _deliveries(owner: str, apps: np.ndarray, strategy: Any, known: Mapping[str, Strategy]) -> np.ndarray:
    """F per element; ``strategy`` may also be an array of names aligned with ``apps``."""
    if isinstance(strategy, str) or _STRATEGY.holds(strategy):
        return np.asarray(resolve_strategy(strategy, known, owner=owner).deliveries(apps), dtype=float)
    names = np.asarray(strategy, dtype=object)
    if names.shape != apps.shape:
        # a relation between two arguments, which capacity.validation's constraints cannot state
        raise ArgumentError(
            f"{owner}: strategy must be a name, a Strategy or one name per app (shape {apps.shape}), "
            f"not shape {names.shape}"
        )
    out = np.empty(apps.shape)
    for name in pd.unique(names.ravel()):
        rows = names == name
        out[rows] = resolve_strategy(name, known, owner=owner).deliveries(apps[rows])
    return out


def _param_arrays(owner: str, params: Any, ndim: int) -> tuple[Any, Any, Any]:
    """u0, a, b from a mapping/Series (scalars) or a DataFrame of draws (one per leading row)."""
    check_args(owner, params=(params, [InstanceOf(Mapping, pd.Series, pd.DataFrame)]))
    if isinstance(params, pd.DataFrame):
        where, keys = "params.columns", params.columns
    elif isinstance(params, pd.Series):
        where, keys = "params.index", params.index
    else:
        where, keys = "params keys", params
    check_args(owner, **{where: (list(keys), [Includes(PARAMS)])})
    values = tuple(check_numbers(owner, f"params[{p!r}]", params[p], _PARAM) for p in PARAMS)
    if isinstance(params, pd.DataFrame):
        shape = (len(params),) + (1,) * max(ndim - 1, 0)
        return tuple(v.reshape(shape) for v in values)
    return values


def _busy(apps: np.ndarray, strategy: Any, params: tuple[Any, Any, Any]) -> np.ndarray:
    """``u0 + a*N + b*N*F_s(N)`` on checked arrays [cores]."""
    u0, a, b = params
    return u0 + apps * (a + b * np.asarray(strategy.deliveries(apps), dtype=float))


def busy_cores(apps: Any, *, strategy: Strategy, params: Any) -> Any:
    """Busy cores of the messaging tier: ``u0 + a*N + b*N*F_s(N)``.

    Parameters
    ----------
    apps : float, array-like or Series
        Live app counts [apps], any shape, each finite and >= 0.
    strategy : Strategy
        Fan-out strategy in force.
    params : mapping, Series or DataFrame
        ``u0`` [cores], ``a`` [cores/app], ``b`` [cores/(app*delivery)], each finite and >= 0. A
        DataFrame holds one draw per row; draw ``i`` applies to ``apps[i]`` (its first axis), so apps
        of shape ``(paths, days)`` pair with ``paths`` draws, and ``apps[None, :]`` evaluates every
        draw on the same grid (result ``(draws, len(grid))``).

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
    out = _busy(n, strategy, _param_arrays("busy_cores", params, n.ndim))
    if isinstance(apps, pd.Series):
        return pd.Series(out, index=apps.index, name="busy_cores")
    return float(out) if np.ndim(out) == 0 else out


# --------------------------------------------------------------------------------------------
# fitting: check the samples, build the design, EM for the censored fit, per-day statistics for
# the bootstrap, daily means for the chart


def _check_samples(samples: pd.DataFrame, strategies: Mapping[str, Strategy]) -> None:
    missing = [c for c in REQUIRED_COLUMNS if c not in samples.columns]
    if missing:
        hint = " (use capacity.data.attach_apps)" if "apps" in missing else ""
        raise InputDataError(f"samples: missing column(s) {missing}{hint}")
    if len(samples) < 10:
        raise InputDataError(f"samples: {len(samples)} rows are too few; at least 10 are needed")
    checks = {
        "apps": lambda v: np.isfinite(v) & (v >= 0),
        "cpu_percent": lambda v: np.isfinite(v) & (v >= 0),
        "servers": lambda v: np.isfinite(v) & (v >= 1),
    }
    for column, ok in checks.items():
        values = pd.to_numeric(samples[column], errors="coerce").to_numpy(dtype=float)
        bad = ~ok(values)
        if bad.any():
            i = int(np.argmax(bad))
            value = samples[column].iloc[i]
            value = value.item() if isinstance(value, np.generic) else value
            raise InputDataError(
                f"samples, column {column!r}: row {i + 1} holds {value!r}, "
                "not a finite non-negative number" + (" >= 1" if column == "servers" else "")
            )
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


@dataclass(frozen=True)
class _Readings:
    """The samples as arrays, with the scaled design ``z`` (columns 1, N, N*F in % of one server)."""

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


def _readings(samples: pd.DataFrame, known: Mapping[str, Strategy], cores_per_server: float,
              censor_at: float | None) -> _Readings:
    apps = samples["apps"].to_numpy(dtype=float)
    y = samples["cpu_percent"].to_numpy(dtype=float)
    servers = samples["servers"].to_numpy(dtype=float)
    names = samples["strategy"].astype(str).to_numpy(dtype=object)
    deliveries = _deliveries("fit_messaging", apps, names, known)
    # the design in percent of one server: cpu = busy_cores / (servers * cores) * 100
    per_core = 100.0 / (servers * cores_per_server)
    design = per_core[:, None] * np.column_stack([np.ones_like(apps), apps, apps * deliveries])
    scale = np.abs(design).max(axis=0)
    if np.any(scale == 0):
        raise FitError("every sample has zero apps (or zero deliveries): a and b are not identifiable")
    z = design / scale
    _check_identifiable(z)
    day_ns = samples["timestamp"].to_numpy(dtype="datetime64[D]").astype(np.int64)
    days, day_idx = np.unique(day_ns, return_inverse=True)
    return _Readings(
        apps=apps, y=y, servers=servers, names=names, z=z, scale=scale,
        censored=y >= censor_at if censor_at is not None else np.zeros(len(y), dtype=bool),
        cap=float(censor_at) if censor_at is not None else np.inf,
        days=days, day_idx=day_idx,
    )


def _check_identifiable(z: np.ndarray) -> None:
    # uncentred correlation of the design columns: an exactly (or nearly) collinear design, e.g.
    # a constant fan-out everywhere (then N and N*F are proportional), has a ~0 eigenvalue
    cross = z.T @ z
    norms = np.sqrt(np.diag(cross))
    if np.linalg.eigvalsh(cross / np.outer(norms, norms))[0] < 1e-10:
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
    """Per-day Gram matrices and right-hand sides of the weighted fit, shapes (days, 3, 3), (days, 3).

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
    n_days = len(r.days)
    gram = np.empty((n_days, 3, 3))
    rhs = np.empty((n_days, 3))
    for j in range(3):
        rhs[:, j] = np.bincount(r.day_idx, weights=target * r.z[:, j], minlength=n_days)
        for k in range(j, 3):
            gram[:, j, k] = gram[:, k, j] = np.bincount(
                r.day_idx, weights=weight * r.z[:, j] * r.z[:, k], minlength=n_days
            )
    return gram, rhs


def _resample(gram: np.ndarray, rhs: np.ndarray, scale: np.ndarray, block_days: int, n: int,
              seed: int | np.random.Generator | None) -> np.ndarray:
    """``n`` block-bootstrap replicates of u0, a, b: the NNLS re-solved on resampled days."""
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
    M-step is an exact 3-parameter NNLS, so ``u0, a, b >= 0`` holds at every step without a
    constrained optimiser, and because its sufficient statistics are per-day 3x3 Gram matrices,
    which make the bootstrap below nearly free.

    **Uncertainty.** Hourly noise is autocorrelated and shared by all servers of an hour, so the
    rows are far from independent and textbook standard errors would be too narrow. Uncertainty
    comes from a circular block bootstrap over calendar days (blocks of ``block_days`` days): each
    replicate re-solves the weighted NNLS on resampled days' Gram matrices (weights fixed, censored
    imputations linearised at the full-sample fit, so a censored reading carries only the share of
    information it really has, ``lam*(lam - z)`` with ``lam`` the inverse Mills ratio above).
    Standard errors are the replicates' standard deviation, intervals their percentiles, and
    :meth:`MessagingModel.draws` makes fresh replicates.

    Parameters
    ----------
    samples : DataFrame
        Columns ``timestamp``, ``apps`` [apps], ``cpu_percent`` [% of one server], ``strategy``
        (name) and ``servers`` (messaging servers in service): the output of
        :func:`capacity.data.load_messaging` followed by :func:`capacity.data.attach_apps`.
    strategies : mapping
        Strategy name (as used in ``samples["strategy"]``) -> :class:`Strategy` or a config table
        such as ``{"kind": "targeted", "k": 3}``. Extra strategies are kept for predictions.
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
    )
    check_mapping("fit_messaging", "strategies", strategies, values=[_STRATEGY, InstanceOf(Mapping)])
    known = {
        name: strategy_from_config(s, name=name) if isinstance(s, Mapping) else s
        for name, s in strategies.items()
    }
    _check_samples(samples, known)
    readings = _readings(samples, known, cores_per_server, censor_at)
    em = _em(readings, max_iter=max_iter, tol=tol)
    if not em.converged:
        warnings.warn(
            f"fit_messaging: EM did not converge in {max_iter} iterations "
            f"(last relative change {em.change:.2g}); estimates may be imprecise",
            RuntimeWarning,
            stacklevel=2,
        )
    gram, rhs = _day_statistics(readings, em)
    boot = _resample(gram, rhs, readings.scale, block_days, n_boot, seed)
    return MessagingModel(
        params=pd.Series(em.theta / readings.scale, index=list(PARAMS), name="estimate"),
        boot=pd.DataFrame(boot, columns=list(PARAMS)),
        noise=pd.Series({"abs_sd": math.sqrt(em.var_abs), "rel_sd": math.sqrt(em.var_rel)}, name="noise"),
        strategies=dict(known),
        cores_per_server=float(cores_per_server),
        censor_at=censor_at,
        level=level,
        block_days=int(block_days),
        n_obs=len(readings.y),
        n_censored=int(readings.censored.sum()),
        n_days=len(readings.days),
        iterations=em.iterations,
        converged=em.converged,
        observed=_observed_daily(readings, cores_per_server),
        last_servers=int(samples["servers"].iloc[int(np.argmax(samples["timestamp"].to_numpy()))]),
        _gram=gram,
        _rhs=rhs,
        _scale=readings.scale,
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
        Point estimates of ``u0`` [cores], ``a`` [cores/app], ``b`` [cores/(app*delivery)].
    boot : DataFrame
        Block-bootstrap replicates of the parameters (columns u0, a, b), behind the intervals.
    noise : Series
        ``abs_sd`` [% of one server] and ``rel_sd`` [fraction of the mean]: the spread of single
        hourly server readings around the mean, ``sd = sqrt(abs_sd^2 + (rel_sd*mean)^2)``.
    strategies : dict
        Strategy name -> Strategy: those of the samples plus any extra given to the fit.
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

    def __repr__(self) -> str:
        p = self.params
        return (
            f"MessagingModel(u0={p['u0']:.4g} cores, a={p['a']:.4g} cores/app, "
            f"b={p['b']:.4g} cores/(app*delivery), n={self.n_obs} ({self.n_censored} censored), "
            f"days={self.n_days}, strategies=[{', '.join(self.strategies)}])"
        )

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
            Columns param, estimate, std_err, lower, upper, unit; one row per u0, a, b.
        """
        check_args("MessagingModel.summary", level=(level, _LEVEL))
        tail = (1 - (self.level if level is None else level)) / 2
        return pd.DataFrame({
            "param": list(PARAMS),
            "estimate": self.params.to_numpy(),
            "std_err": self.boot.std(ddof=1).to_numpy(),
            "lower": self.boot.quantile(tail).to_numpy(),
            "upper": self.boot.quantile(1 - tail).to_numpy(),
            "unit": [UNITS[p] for p in PARAMS],
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
            Columns u0, a, b (units as in :attr:`params`), ``n`` rows.
        """
        check_args("MessagingModel.draws", n=(n, [Interval(int, 1, None)]), seed=(seed, [Seed(), None]))
        theta = _resample(self._gram, self._rhs, self._scale, self.block_days, int(n), seed)
        return pd.DataFrame(theta, columns=list(PARAMS))

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
        strat = resolve_strategy(strategy, self.strategies, owner=owner)
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
        f = _deliveries(owner, n, strategy, self.strategies)
        srv = np.broadcast_to(srv, n.shape)
        design = (100.0 / (srv * self.cores_per_server))[:, None] * np.column_stack(
            [np.ones_like(n), n, n * f]
        )
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
        strat = resolve_strategy(strategy, self.strategies, owner=owner)
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
        strat = resolve_strategy(strategy, self.strategies, owner=owner)
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
             resolve_strategy(s, self.strategies, owner=owner, name=f"strategies[{i}]"))
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
        return messaging_chart(curves, observed, limit=limit, servers=servers, level=level)
