"""Simulated future paths and their calibration (helper module of :mod:`capacity.growth`).

A path is built in three layers, all on the rate of new apps, then integrated from the last count:

1. **shape**: the candidates' mean daily increments, averaged with the backtest weights (a
   forecast combination: a mixture of very different shapes would give a median that follows none
   of them);
2. **rate uncertainty**: the whole path's rate is multiplied by a log-normal factor of median 1
   (so the median path keeps the candidate's rate however wide the calibration makes it) whose
   spread is the quasi-Poisson uncertainty of the last regime's rate (parameter uncertainty),
   and by ``exp(C(t))`` where ``C`` jumps at the times of *future* trend changes: a Poisson process
   with the history's change frequency, each jump drawn from the history's change magnitudes;
3. **increment noise**: gamma-distributed daily increments of mean ``rate`` and variance
   ``phi * rate`` for a count that has never fallen (so paths never fall); for a count that can
   fall, normal increments whose variance is at least the last regime's observed variance per day
   (deletions make the net count noisier than its rate suggests).

Calibration multiplies the spread of layer 2 by one scale factor, chosen so that the
rolling-origin backtest's interval coverage matches the nominal level: the log-normal factor's
spread by the scale, the jumps' by the scale capped at 1 (calibration may find the history's own
change magnitudes too wide for the near future, but widening them compounds absurdly over long
horizons: a missing short-term spread is the current rate's uncertainty). During calibration
layer 3 uses its normal approximation at weekly resolution, which lets the same random numbers be
reused for every candidate scale (common random numbers).

**Bounded tail.** The two multipliers of layer 2 are combined on the log scale and the total is clipped
to ``+-log(RATE_BOUND)``: a path's rate is at most ``RATE_BOUND`` (10) times, and at least a tenth of,
the combined mean rate. Without the bound a calibration scale of 12 on a log-normal spread of 0.5 gives
multipliers of ``e^18`` on a few paths, whose mean then dominates any average. The bound is what such
series do: on the 14 daily registry series of ``data/real/growth``, over 443 quarterly origins, the
mean rate of the next 365 days was at most 8.4 times (99th percentile 5.5 times) that of the previous
182 days. Clipping is monotone, so coverage still grows with the calibration scale.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Uncertainty", "simulate_paths", "mean_path", "RATE_BOUND", "OriginDraws", "origin_draws",
           "CoverageGrid", "SCALE_GRID"]

#: candidate calibration scales for the spread of the rate uncertainty
SCALE_GRID = np.exp(np.arange(-30, 26) * 0.1)  # 0.05 .. 12.2, includes 1
#: largest factor by which a simulated path's rate may exceed (or fall short of) the combined mean rate
RATE_BOUND = 10.0
_LOG_BOUND = float(np.log(RATE_BOUND))


@dataclass(frozen=True)
class Uncertainty:
    """Parameters of layers 2 and 3 (see module docstring).

    Attributes
    ----------
    rate_log_sd : float
        Standard deviation of the log rate multiplier (parameter uncertainty).
    hazard : float
        Expected future trend changes per day.
    shock_sd : float
        Standard deviation of a change's log rate ratio.
    phi : float
        Dispersion of the increments (variance / mean).
    noise_var : float
        Floor of the increments' variance per day (apps^2/day) for a count that can fall.
    monotone : bool
        The history never fell: paths must not fall either.
    """

    rate_log_sd: float
    hazard: float
    shock_sd: float
    phi: float
    noise_var: float
    monotone: bool


def _combine(bases: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted average of the candidates' mean increments."""
    w = np.asarray(weights, dtype=float)
    return (w / w.sum()) @ np.asarray(bases, dtype=float)


def _jumps(n: int, horizon: int, hazard: float, rng: np.random.Generator) -> np.ndarray:
    """Cumulative sum of unit-variance jumps at Poisson times, shape (n, horizon)."""
    k = rng.poisson(hazard * horizon, size=n)
    total = int(k.sum())
    out = np.zeros((n, horizon))
    if total:
        rows = np.repeat(np.arange(n), k)
        cols = rng.integers(0, horizon, size=total)
        np.add.at(out, (rows, cols), rng.standard_normal(total))
    return np.cumsum(out, axis=1)


def simulate_paths(
    bases: np.ndarray,
    weights: np.ndarray,
    unc: Uncertainty,
    y_last: float,
    n: int,
    rng: np.random.Generator,
    scale: float,
) -> np.ndarray:
    """Simulate ``n`` daily paths of the count.

    Parameters
    ----------
    bases : ndarray, shape (n_models, horizon)
        Each candidate's mean new apps per day (apps/day).
    weights : ndarray, shape (n_models,)
        Weight of each candidate in the combined mean rate.
    unc : Uncertainty
    y_last : float
        Last observed count (apps).
    n : int
        Number of paths.
    rng : numpy.random.Generator
    scale : float
        Calibrated multiplier on the rate uncertainty's spread.

    Returns
    -------
    ndarray, shape (n, horizon)
        Simulated counts (apps), ``>= 0``; non-decreasing when ``unc.monotone``.
    """
    horizon = bases.shape[1]
    base = _combine(bases, weights)
    sd = scale * unc.rate_log_sd
    log_g = np.broadcast_to((sd * rng.standard_normal(n))[:, None], (n, horizon))
    if unc.hazard > 0 and unc.shock_sd > 0:
        log_g = log_g + min(scale, 1.0) * unc.shock_sd * _jumps(n, horizon, unc.hazard, rng)
    rate = base[None, :] * np.exp(np.clip(log_g, -_LOG_BOUND, _LOG_BOUND))
    phi = max(unc.phi, 1e-9)
    if unc.monotone:
        rate = np.maximum(rate, 0.0)
        inc = rng.gamma(rate / phi, phi)
        level = y_last + np.cumsum(inc, axis=1)
    else:
        sd = np.sqrt(np.maximum(phi * np.abs(rate), unc.noise_var))
        inc = rate + sd * rng.standard_normal(rate.shape)
        level = np.maximum(y_last + np.cumsum(inc, axis=1), 0.0)
    return level


def mean_path(bases: np.ndarray, weights: np.ndarray, y_last: float, monotone: bool) -> np.ndarray:
    """The combined forecast: ``y_last`` plus the weighted mean of the candidates' mean increments
    (clipped at 0 for a count that never fell; the count itself at 0), shape (horizon,)."""
    base = _combine(bases, weights)
    if monotone:
        base = np.maximum(base, 0.0)
    return np.maximum(y_last + np.cumsum(base), 0.0)


@dataclass(frozen=True, eq=False)
class OriginDraws:
    """Everything the calibration needs about one backtest origin.

    ``base_w`` holds the combined mean new apps per week (shape (n_weeks,));
    ``checks`` the week numbers (1-based) of the checkpoints and ``actual`` the observed counts
    there; the remaining arrays are the common random numbers.
    """

    base_w: np.ndarray
    y_last: float
    unc: Uncertainty
    checks: np.ndarray
    actual: np.ndarray
    z: np.ndarray
    jumps: np.ndarray
    walk: np.ndarray


def origin_draws(
    bases_w: np.ndarray,
    weights: np.ndarray,
    y_last: float,
    unc: Uncertainty,
    checks: np.ndarray,
    actual: np.ndarray,
    n: int,
    rng: np.random.Generator,
) -> OriginDraws:
    """Draw the common random numbers of one origin (weekly resolution)."""
    weeks = bases_w.shape[1]
    base = _combine(bases_w, weights)
    z = rng.standard_normal(n)
    jumps = _jumps(n, weeks, unc.hazard * 7.0, rng)
    # noise of the accumulated increments: a random walk, normalised to unit variance per step
    walk = np.cumsum(rng.standard_normal((n, weeks)), axis=1) / np.sqrt(np.arange(1, weeks + 1))
    checks = np.asarray(checks, dtype=int)
    return OriginDraws(base, float(y_last), unc, checks, np.asarray(actual, dtype=float),
                       z, jumps, walk[:, checks - 1])


def _levels(d: OriginDraws, scale: float) -> np.ndarray:
    """Simulated counts at the checkpoints for one scale, shape (n, n_checks)."""
    u = d.unc
    sd = scale * u.rate_log_sd
    log_g = np.broadcast_to((sd * d.z)[:, None], (len(d.z), len(d.base_w)))
    if u.hazard > 0 and u.shock_sd > 0:
        log_g = log_g + min(scale, 1.0) * u.shock_sd * d.jumps
    rate = d.base_w[None, :] * np.exp(np.clip(log_g, -_LOG_BOUND, _LOG_BOUND))
    if u.monotone:
        rate = np.maximum(rate, 0.0)
    acc = np.cumsum(rate, axis=1)[:, d.checks - 1]
    var = u.phi * np.abs(acc)
    if not u.monotone:
        var = np.maximum(var, u.noise_var * 7.0 * d.checks)
    level = d.y_last + acc + np.sqrt(var) * d.walk
    return np.maximum(level, d.y_last) if u.monotone else np.maximum(level, 0.0)


class CoverageGrid:
    """Coverage of every origin's checkpoints as a function of the calibration scale.

    Hits are evaluated lazily, one (origin, scale) pair at a time, and cached: the searches below
    touch only a handful of the grid's scales. A ``mask`` (origins x checkpoints, boolean) selects
    the checkpoints a pooled coverage counts.
    """

    def __init__(self, draws: list[OriginDraws], level: float, grid: np.ndarray = SCALE_GRID):
        self.draws, self.grid = draws, grid
        self.level = level
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def hits(self, i: int, j: int) -> np.ndarray:
        """Which of origin ``i``'s checkpoints the central interval covers at ``grid[j]``."""
        key = (i, j)
        if key not in self._cache:
            d = self.draws[i]
            lv = np.sort(_levels(d, float(self.grid[j])), axis=0)
            n = lv.shape[0]
            lo = lv[int(np.floor((1 - self.level) / 2 * (n - 1)))]
            hi = lv[int(np.ceil((1 + self.level) / 2 * (n - 1)))]
            self._cache[key] = (d.actual >= lo) & (d.actual <= hi)
        return self._cache[key]

    def origin(self, i: int, j: int) -> float:
        """Share of origin ``i``'s checkpoints covered at ``grid[j]``."""
        return float(np.mean(self.hits(i, j)))

    def pooled(self, j: int, mask: np.ndarray) -> float:
        """Share of the checkpoints selected by ``mask`` covered at ``grid[j]``."""
        rows = np.flatnonzero(mask.any(axis=1))
        hit = sum(int(self.hits(i, j)[mask[i]].sum()) for i in rows)
        return hit / max(int(mask.sum()), 1)

    def smallest(self, mask: np.ndarray) -> int:
        """Index of the smallest scale whose pooled coverage over ``mask`` reaches the level (binary
        search: coverage grows with the scale; the widest scale if none does)."""
        lo, hi = 0, len(self.grid) - 1
        if self.pooled(hi, mask) < self.level:
            return hi
        while lo < hi:
            mid = (lo + hi) // 2
            if self.pooled(mid, mask) >= self.level:
                hi = mid
            else:
                lo = mid + 1
        return lo
