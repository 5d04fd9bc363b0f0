"""Queueing formulas for latency planning: Erlang B/C and the M/M/c queue.

Conventions (all functions):

* ``arrival_rate`` lambda: requests/s arriving at the whole server pool (>= 0).
* ``service_rate`` mu: requests/s one server completes while busy (> 0); the mean service time
  is ``S = 1 / mu`` seconds.
* ``servers`` c: number of parallel servers (a whole number >= 1). For a message broker use its
  real parallelism: 1 for a single-threaded broker, the worker-thread count otherwise.
* ``offered_load`` A = lambda / mu, in erlangs; ``utilisation`` rho = A / c, a fraction.
* Times are in seconds.

Everything assumes the M/M/c model: Poisson arrivals, exponential service times, first come first
served, unlimited queue. A steady state exists only for rho < 1; functions that need one raise
:class:`~capacity.errors.ArgumentError` otherwise.

Functions are vectorised over numpy arrays and keep the pandas type: pass a Series, get a Series
with the same index; pass scalars, get a float. Arguments are checked item by item
(:mod:`capacity.validation`): a bad one raises :class:`~capacity.errors.ArgumentError` naming the
argument and its first bad item, e.g. ``erlang_c: servers[2] must be an integer >= 1, not 0``. A
scalar ``servers`` must be an int; in an array, whole numbers such as ``4.0`` count.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, CapacityError
from capacity.validation import Interval, check_args
from capacity.validation.arrays import check_numbers

__all__ = [
    "erlang_b",
    "erlang_c",
    "mmc_utilisation",
    "mmc_wait",
    "mmc_response_time",
    "mmc_wait_quantile",
    "mmc_response_quantile",
    "utilisation_knee",
    "utilisation_limit",
]

# Upper end of the utilisation bracket: the response time diverges as rho -> 1.
_RHO_MAX = 1.0 - 1e-12

# what the arguments may be, item by item
_SERVERS = Interval(int, 1, None)
_NON_NEGATIVE = Interval(float, 0, None)
_POSITIVE = Interval(float, 0, None, closed="neither")
_LEVEL = Interval(float, 0, 1, closed="left")  # a probability level in [0, 1)


def erlang_b(servers: Any, offered_load: Any) -> Any:
    """Erlang B: probability that an arrival finds all ``servers`` busy in a loss system (M/M/c/c).

    Computed with the recursion ``B(0) = 1``, ``B(k) = A B(k-1) / (k + A B(k-1))``, which stays in
    [0, 1] and neither overflows nor loses precision for thousands of servers (the textbook
    factorial form overflows past c ~ 170).

    Parameters
    ----------
    servers : int, array-like or pandas.Series
        Number of servers c (whole number >= 1).
    offered_load : float, array-like or pandas.Series
        Offered traffic A in erlangs (>= 0).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Blocking probability (fraction).
    """
    c, a = _loads("erlang_b", servers, offered_load)
    return _like(_erlang_b(c, a), servers, offered_load, name="erlang_b")


def erlang_c(servers: Any, offered_load: Any) -> Any:
    """Erlang C: probability that an arrival has to wait in an M/M/c queue.

    ``C = c B / (c - A (1 - B))`` with ``B`` the Erlang B probability, so it is as stable as
    :func:`erlang_b` (c up to many thousands).

    Parameters
    ----------
    servers : int, array-like or pandas.Series
        Number of servers c (whole number >= 1).
    offered_load : float, array-like or pandas.Series
        Offered traffic A = lambda / mu in erlangs; must be below ``servers`` (utilisation < 1).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Probability of waiting (fraction).

    Raises
    ------
    ArgumentError
        Servers not a whole number >= 1, negative load, or ``offered_load >= servers`` (no
        steady state).
    """
    c, a = _loads("erlang_c", servers, offered_load)
    unstable = a >= c
    if unstable.any():
        i = int(np.argmax(unstable.reshape(-1)))
        ai, ci = a.reshape(-1)[i], c.reshape(-1)[i]
        # a relation between two arguments, which capacity.validation's constraints cannot state
        raise ArgumentError(
            "erlang_c: offered_load must be below servers for a steady state (utilisation < 1); "
            f"got offered_load={ai:g} erlangs with servers={ci:g} (utilisation {ai / ci:.4g})"
        )
    return _like(_erlang_c(c, a), servers, offered_load, name="erlang_c")


def mmc_utilisation(arrival_rate: Any, service_rate: Any, servers: Any) -> Any:
    """Utilisation rho = lambda / (c mu) of an M/M/c queue (fraction; may exceed 1).

    Parameters
    ----------
    arrival_rate : float, array-like or pandas.Series
        lambda, requests/s (>= 0).
    service_rate : float, array-like or pandas.Series
        mu per server, requests/s (> 0).
    servers : int, array-like or pandas.Series
        c (whole number >= 1).
    """
    lam, mu, c = _rates("mmc_utilisation", arrival_rate, service_rate, servers)
    rho = lam / (c * mu)
    return _like(rho, arrival_rate, service_rate, servers, name="utilisation")


def mmc_wait(arrival_rate: Any, service_rate: Any, servers: Any) -> Any:
    """Mean time waiting in the queue, W_q = C / (c mu - lambda), in seconds.

    Parameters
    ----------
    arrival_rate, service_rate, servers
        See :func:`mmc_utilisation`; the utilisation must be < 1.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Mean wait before service starts (seconds), averaged over all arrivals (including those
        that do not wait).
    """
    lam, mu, c = _stable_rates("mmc_wait", arrival_rate, service_rate, servers)
    wq = _erlang_c(c, lam / mu) / (c * mu - lam)
    return _like(wq, arrival_rate, service_rate, servers, name="wait")


def mmc_response_time(arrival_rate: Any, service_rate: Any, servers: Any) -> Any:
    """Mean response time (wait plus service), R = W_q + 1 / mu, in seconds.

    Parameters
    ----------
    arrival_rate, service_rate, servers
        See :func:`mmc_utilisation`; the utilisation must be < 1.
    """
    lam, mu, c = _stable_rates("mmc_response_time", arrival_rate, service_rate, servers)
    r = _erlang_c(c, lam / mu) / (c * mu - lam) + 1.0 / mu
    return _like(r, arrival_rate, service_rate, servers, name="response_time")


def mmc_wait_quantile(arrival_rate: Any, service_rate: Any, servers: Any, q: float) -> Any:
    """The ``q``-quantile of the time waiting in the queue, in seconds.

    The M/M/c waiting time has ``P(W > t) = C exp(-(c mu - lambda) t)`` for t >= 0, an atom of
    ``1 - C`` at zero. Hence the quantile is 0 when ``q <= 1 - C``, else
    ``ln(C / (1 - q)) / (c mu - lambda)``.

    Parameters
    ----------
    arrival_rate, service_rate, servers
        See :func:`mmc_utilisation`; the utilisation must be < 1.
    q : float
        Probability level in [0, 1), e.g. 0.99 for the 99th percentile.
    """
    check_args("mmc_wait_quantile", q=(q, [_LEVEL]))
    q = float(q)
    lam, mu, c = _stable_rates("mmc_wait_quantile", arrival_rate, service_rate, servers)
    prob_wait = _erlang_c(c, lam / mu)
    with np.errstate(divide="ignore"):
        t = np.log(prob_wait / (1.0 - q)) / (c * mu - lam)
    t = np.where(prob_wait > 1.0 - q, t, 0.0)
    return _like(t, arrival_rate, service_rate, servers, name="wait_quantile")


def mmc_response_quantile(arrival_rate: Any, service_rate: Any, servers: Any, q: float) -> Any:
    """The ``q``-quantile of the response time (wait plus service), in seconds.

    With ``theta = c mu - lambda`` and the service time ``S ~ Exp(mu)`` independent of the wait,
    ``P(T > t) = (1 - C) e^{-mu t} + C P(E_theta + E_mu > t)``, the second term being the
    hypoexponential tail ``e^{-a t} (1 + a t phi((b - a) t))`` with ``a, b`` the smaller and larger
    of theta and mu and ``phi(x) = (1 - e^{-x}) / x`` (so theta = mu needs no special case).
    The quantile is the root of ``P(T > t) = 1 - q``, found by bracketing.

    Parameters
    ----------
    arrival_rate, service_rate, servers
        See :func:`mmc_utilisation`; the utilisation must be < 1.
    q : float
        Probability level in [0, 1).
    """
    check_args("mmc_response_quantile", q=(q, [_LEVEL]))
    q = float(q)
    lam, mu, c = _stable_rates("mmc_response_quantile", arrival_rate, service_rate, servers)
    prob_wait = _erlang_c(c, lam / mu)
    out = np.empty(lam.shape)
    for i in np.ndindex(lam.shape):
        out[i] = _response_quantile(float(prob_wait[i]), float(mu[i]), float(c[i] * mu[i] - lam[i]), q)
    return _like(out, arrival_rate, service_rate, servers, name="response_quantile")


def utilisation_knee(servers: Any) -> Any:
    """Utilisation at the knee of the M/M/c response-time curve (Kleinrock's power optimum).

    The knee is defined as the utilisation that maximises Kleinrock's *power*, throughput
    divided by mean response time, ``P(rho) = rho / (R(rho) / S)``: below it, extra load buys
    more throughput than it costs in latency; above it, latency grows faster than throughput.
    For one server (M/M/1, ``R/S = 1 / (1 - rho)``) the knee is exactly rho = 1/2, where the mean
    number in the system is 1 ("keep the pipe just full"); for two servers it is 1/sqrt(3).
    Pooled servers absorb bursts better, so the knee rises towards 1 as c grows:

    =======  ======  ======  ======  ======  ======
    servers  1       2       4       8       16
    knee     0.5000  0.5774  0.6650  0.7450  0.8107
    =======  ======  ======  ======  ======  ======

    It depends only on the number of servers (not on the service time). For "the utilisation at
    which mean response time is k times the service time" use
    ``utilisation_limit(k * S, service_time=S, servers=c)`` instead.

    Parameters
    ----------
    servers : int, array-like or pandas.Series
        Number of servers c (whole number >= 1).

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Knee utilisation (fraction in (0, 1)).

    References
    ----------
    L. Kleinrock, "Power and deterministic rules of thumb for probabilistic problems in computer
    communications", Proc. ICC 1979.
    """
    from scipy.optimize import minimize_scalar

    c = check_numbers("utilisation_knee", "servers", servers, _SERVERS)
    out = np.empty(c.shape)
    for i in np.ndindex(c.shape):
        ci = float(c[i])

        def neg_power(rho: float, ci: float = ci) -> float:
            stretch = 1.0 + _erlang_c_scalar(ci, ci * rho) / (ci * (1.0 - rho))
            return -rho / stretch

        res = minimize_scalar(
            neg_power, bounds=(1e-9, _RHO_MAX), method="bounded", options={"xatol": 1e-12}
        )
        out[i] = res.x
    return _like(out, servers, name="utilisation_knee")


def utilisation_limit(
    latency_target: Any,
    *,
    service_time: float,
    servers: int = 1,
    quantile: float | None = None,
) -> Any:
    """Largest utilisation whose response time stays within ``latency_target``.

    With ``quantile=None`` the mean response time is held to the target; with e.g.
    ``quantile=0.99`` the 99th-percentile response time is. The response time rises
    monotonically with utilisation (from the bare service time at rho -> 0 to infinity at
    rho -> 1), so the limit is the root of ``R(rho) = target``, found by bracketing on (0, 1).
    Use it as a plan's utilisation ceiling instead of a fixed CPU percentage.

    Parameters
    ----------
    latency_target : float, array-like or pandas.Series
        Allowed response time in seconds (> 0).
    service_time : float
        Mean service time S = 1 / mu of one request on one server, seconds (> 0).
    servers : int, default 1
        Number of servers c (whole number >= 1).
    quantile : float, optional
        Response-time quantile in (0, 1) to hold to the target; None for the mean.

    Returns
    -------
    float, numpy.ndarray or pandas.Series
        Utilisation limit (fraction in (0, 1)), same type as ``latency_target``.

    Raises
    ------
    CapacityError
        The target is at or below the response time of an idle system (the bare service time,
        or its quantile), so no utilisation meets it.
    ArgumentError
        Invalid arguments (non-positive times, servers not an integer >= 1, quantile
        outside (0, 1)).
    """
    from scipy.optimize import brentq

    owner = "utilisation_limit"
    target = check_numbers(owner, "latency_target", latency_target, _POSITIVE)
    check_args(owner, service_time=(service_time, [_POSITIVE]), servers=(servers, [_SERVERS]),
          quantile=(quantile, [Interval(float, 0, 1, closed="neither"), None]))
    s, c = float(service_time), float(servers)
    quantile = None if quantile is None else float(quantile)
    mu = 1.0 / s

    def response(rho: float) -> float:
        lam = rho * c * mu
        prob_wait = _erlang_c_scalar(c, rho * c)
        if quantile is None:
            return prob_wait / (c * mu - lam) + s
        return _response_quantile(prob_wait, mu, c * mu - lam, quantile)

    floor = s if quantile is None else -s * math.log1p(-quantile)
    what = "mean service time" if quantile is None else f"{quantile:g}-quantile of the service time"
    out = np.empty(target.shape)
    for i in np.ndindex(target.shape):
        ti = float(target[i])
        if ti <= floor * (1.0 + 1e-12):
            raise CapacityError(
                f"latency_target {ti:g} s cannot be met at any utilisation: even an idle "
                f"system takes {floor:g} s (the {what})"
            )
        if response(_RHO_MAX) <= ti:
            out[i] = _RHO_MAX
        else:
            out[i] = brentq(lambda rho, ti=ti: response(rho) - ti, 0.0, _RHO_MAX, xtol=1e-14)
    return _like(out, latency_target, name="utilisation_limit")


# ----------------------------------------------------------------------------- helpers


def _erlang_b_scalar(c: float, a: float) -> float:
    b = 1.0
    for k in range(1, int(c) + 1):
        b = a * b / (k + a * b)
    return b


def _erlang_c_scalar(c: float, a: float) -> float:
    b = _erlang_b_scalar(c, a)
    return c * b / (c - a * (1.0 - b))


def _erlang_b(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    c = np.asarray(c, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.ones(np.broadcast(c, a).shape)
    top = int(np.max(c)) if c.size else 0
    for k in range(1, top + 1):
        step = a * b / (k + a * b)
        b = np.where(k <= c, step, b)
    return b


def _erlang_c(c: np.ndarray, a: np.ndarray) -> np.ndarray:
    b = _erlang_b(c, a)
    return c * b / (c - a * (1.0 - b))


def _response_quantile(prob_wait: float, mu: float, theta: float, q: float) -> float:
    from scipy.optimize import brentq

    tail = 1.0 - q
    if q == 0.0:
        return 0.0

    # P(E_a + E_b > t) = e^{-a t} (1 + a t phi((b - a) t)) with a <= b and
    # phi(x) = (1 - e^{-x}) / x in (0, 1]: no overflow, no cancellation when theta ~ mu.
    lo_rate, hi_rate = min(theta, mu), max(theta, mu)

    def survival(t: float) -> float:
        x = (hi_rate - lo_rate) * t
        phi = 1.0 if x == 0.0 else -math.expm1(-x) / x
        hypo = math.exp(-lo_rate * t) * (1.0 + lo_rate * t * phi)
        return (1.0 - prob_wait) * math.exp(-mu * t) + prob_wait * hypo - tail

    # P(W + S > a + b) <= P(W > a) + P(S > b): split the tail in two to get an upper bracket.
    half = tail / 2.0
    wait_hi = max(0.0, math.log(prob_wait / half) / theta) if prob_wait > 0 else 0.0
    hi = wait_hi - math.log(half) / mu
    return brentq(survival, 0.0, hi, xtol=1e-15, rtol=1e-13)


def _broadcast(owner: str, **arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    try:
        return tuple(np.broadcast_arrays(*arrays.values()))
    except ValueError:
        shapes = ", ".join(f"{name} {np.shape(v)}" for name, v in arrays.items())
        raise ArgumentError(f"{owner}: {', '.join(arrays)} must broadcast together, "
                            f"not shapes {shapes}") from None


def _loads(owner: str, servers: Any, offered_load: Any) -> tuple[np.ndarray, np.ndarray]:
    c = check_numbers(owner, "servers", servers, _SERVERS)
    a = check_numbers(owner, "offered_load", offered_load, _NON_NEGATIVE)
    c, a = _broadcast(owner, servers=c, offered_load=a)
    return c, a


def _rates(owner: str, arrival_rate: Any, service_rate: Any, servers: Any) -> tuple[np.ndarray, ...]:
    lam = check_numbers(owner, "arrival_rate", arrival_rate, _NON_NEGATIVE)
    mu = check_numbers(owner, "service_rate", service_rate, _POSITIVE)
    c = check_numbers(owner, "servers", servers, _SERVERS)
    return _broadcast(owner, arrival_rate=lam, service_rate=mu, servers=c)


def _stable_rates(owner: str, arrival_rate: Any, service_rate: Any, servers: Any) -> tuple[np.ndarray, ...]:
    lam, mu, c = _rates(owner, arrival_rate, service_rate, servers)
    rho = lam / (c * mu)
    unstable = rho >= 1.0
    if unstable.any():
        i = int(np.argmax(unstable.reshape(-1)))
        # a relation between the arguments, which capacity.validation's constraints cannot state
        raise ArgumentError(
            f"{owner}: utilisation must be below 1 for a steady state; got "
            f"{rho.reshape(-1)[i]:.4g} (arrival_rate {lam.reshape(-1)[i]:g} requests/s over "
            f"servers * service_rate = {(c * mu).reshape(-1)[i]:g} requests/s)"
        )
    return lam, mu, c


def _like(values: np.ndarray, *templates: Any, name: str) -> Any:
    """Return ``values`` as a Series if any template is one, a float if all are scalars."""
    for t in templates:
        if isinstance(t, pd.Series):
            return pd.Series(np.broadcast_to(values, t.shape), index=t.index, name=name)
    if all(np.ndim(t) == 0 for t in templates):
        return float(values)
    return np.asarray(values, dtype=float)
