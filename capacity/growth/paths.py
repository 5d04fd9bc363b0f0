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


#: paths per block of the day-to-day noise's passes (about 190 kB for a year of days)
_BLOCK_PATHS = 64


def _combine(bases: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted average of the candidates' mean increments."""
    w = np.asarray(weights, dtype=float)
    return (w / w.sum()) @ np.asarray(bases, dtype=float)


def _jump_rows(
    n: int, horizon: int, hazard: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Unit-variance jumps at Poisson times on ``n`` paths: the paths with a jump (indices) and their
    cumulative sums of jumps, shape (len(hit), horizon)."""
    k = rng.poisson(hazard * horizon, size=n)
    total = int(k.sum())
    hit = np.flatnonzero(k)
    sums = np.zeros((len(hit), horizon))
    if total:
        rows = np.repeat(np.arange(len(hit)), k[hit])
        cols = rng.integers(0, horizon, size=total)
        np.add.at(sums, (rows, cols), rng.standard_normal(total))
        np.cumsum(sums, axis=1, out=sums)
    return hit, sums


def _jumps(n: int, horizon: int, hazard: float, rng: np.random.Generator) -> np.ndarray:
    """Cumulative sum of unit-variance jumps at Poisson times, shape (n, horizon)."""
    hit, sums = _jump_rows(n, horizon, hazard, rng)
    out = np.zeros((n, horizon))
    out[hit] = sums
    return out


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
    # the big (n, horizon) arrays are updated in place: this runs on every forecast
    g = scale * unc.rate_log_sd * rng.standard_normal(n)
    rate = base[None, :] * np.exp(np.clip(g, -_LOG_BOUND, _LOG_BOUND))[:, None]
    if unc.hazard > 0 and unc.shock_sd > 0:
        # only the paths with a future change need their log rate day by day (most have none)
        hit, jumps = _jump_rows(n, horizon, unc.hazard, rng)
        jumps *= min(scale, 1.0) * unc.shock_sd
        jumps += g[hit, None]
        np.clip(jumps, -_LOG_BOUND, _LOG_BOUND, out=jumps)
        np.exp(jumps, out=jumps)
        jumps *= base[None, :]
        rate[hit] = jumps
    phi = max(unc.phi, 1e-9)
    if unc.monotone:
        np.maximum(rate, 0.0, out=rate)
        rate /= phi
        level = rng.gamma(rate, phi)
        np.cumsum(level, axis=1, out=level)
        level += y_last
    else:
        level = rng.standard_normal(rate.shape)
        # a block of paths at a time, so that the passes over it stay in the CPU's cache
        for lo in range(0, n, _BLOCK_PATHS):
            r, lv = rate[lo : lo + _BLOCK_PATHS], level[lo : lo + _BLOCK_PATHS]
            sd = np.abs(r)
            sd *= phi
            np.maximum(sd, unc.noise_var, out=sd)
            np.sqrt(sd, out=sd)
            lv *= sd
            lv += r
            np.cumsum(lv, axis=1, out=lv)
            lv += y_last
            np.maximum(lv, 0.0, out=lv)
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
    there; the remaining arrays are the common random numbers, paths along the last axis
    (``z`` (n,), ``jumps`` (n_weeks, n), ``walk`` (n_checks, n)).
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
                       z, np.ascontiguousarray(jumps.T), np.ascontiguousarray(walk[:, checks - 1].T))


class CoverageGrid:
    """Coverage of every origin's checkpoints as a function of the calibration scale.

    The origins' random numbers are stacked (origins x weeks x paths) and the hits at one scale are
    evaluated for every origin at once, when a search first asks for that scale, and kept: the
    searches below touch only a handful of the grid's scales. A ``mask`` (origins x checkpoints,
    boolean) selects the checkpoints a pooled coverage counts. Every origin has the same weeks,
    checkpoints and number of paths (the backtest's schedule).
    """

    def __init__(self, draws: list[OriginDraws], level: float, grid: np.ndarray = SCALE_GRID):
        self.draws, self.grid = draws, grid
        self.level = level
        self._hits: dict[int, np.ndarray] = {}
        if not draws:
            return
        first = draws[0]
        same = (np.array_equal(d.checks, first.checks) and d.jumps.shape == first.jumps.shape for d in draws)
        if not all(same):
            raise ValueError("CoverageGrid: every origin needs the same weeks, checkpoints and paths")
        us = [d.unc for d in draws]
        self._z = np.stack([d.z for d in draws])[:, None, :]
        self._jumps = np.stack([d.jumps for d in draws])
        self._walk = np.stack([d.walk for d in draws])
        self._base = np.stack([d.base_w for d in draws])[:, :, None]
        self._y = np.array([d.y_last for d in draws])[:, None, None]
        self._actual = np.stack([d.actual for d in draws])
        checks = draws[0].checks
        self._upto = (np.arange(self._jumps.shape[1])[None, :] < checks[:, None]).astype(float)
        col = lambda v: np.array(v, dtype=float)[:, None, None]  # noqa: E731
        self._sd = col([u.rate_log_sd for u in us])
        # no jump term where there are no future changes (adding 0 * jumps changes nothing)
        self._shock = col([u.shock_sd if u.hazard > 0 and u.shock_sd > 0 else 0.0 for u in us])
        self._phi = col([u.phi for u in us])
        self._floor = col([u.noise_var * 7.0 for u in us]) * checks[None, :, None]
        self._mono = np.array([u.monotone for u in us])[:, None, None]

    def _levels(self, scale: float) -> np.ndarray:
        """Simulated counts at the checkpoints of every origin for one scale, (origins, checks, paths)."""
        # in place on the (origins, weeks, paths) array: the searches run this a dozen times a fit
        rate = (min(scale, 1.0) * self._shock) * self._jumps
        rate += (scale * self._sd) * self._z
        np.clip(rate, -_LOG_BOUND, _LOG_BOUND, out=rate)
        np.exp(rate, out=rate)
        rate *= self._base
        mono = self._mono
        if mono.all():
            np.maximum(rate, 0.0, out=rate)
        elif mono.any():
            rate = np.where(mono, np.maximum(rate, 0.0), rate)
        acc = self._upto @ rate  # the weeks up to each checkpoint summed (a cumsum is ten times slower)
        sd = np.abs(acc)
        sd *= self._phi
        if not mono.all():
            sd = np.where(mono, sd, np.maximum(sd, self._floor))
        np.sqrt(sd, out=sd)
        sd *= self._walk
        level = acc + self._y
        level += sd
        if mono.all():
            return np.maximum(level, self._y, out=level)
        return np.where(mono, np.maximum(level, self._y), np.maximum(level, 0.0))

    def _all_hits(self, j: int) -> np.ndarray:
        """Which checkpoints of every origin the central interval covers at ``grid[j]``."""
        if j not in self._hits:
            n = self._z.shape[-1]
            k_lo = int(np.floor((1 - self.level) / 2 * (n - 1)))
            k_hi = int(np.ceil((1 + self.level) / 2 * (n - 1)))
            lv = self._levels(float(self.grid[j]))
            actual = self._actual[..., None]
            # actual >= the k_lo-th smallest level and <= the k_hi-th (0-based), by counting: no sort
            at_most = np.count_nonzero(lv <= actual, axis=2)
            below = np.count_nonzero(lv < actual, axis=2)
            self._hits[j] = (at_most >= k_lo + 1) & (below <= k_hi)
        return self._hits[j]

    def hits(self, i: int, j: int) -> np.ndarray:
        """Which of origin ``i``'s checkpoints the central interval covers at ``grid[j]``."""
        return self._all_hits(j)[i]

    def origin(self, i: int, j: int) -> float:
        """Share of origin ``i``'s checkpoints covered at ``grid[j]``."""
        return float(np.mean(self.hits(i, j)))

    def pooled(self, j: int, mask: np.ndarray) -> float:
        """Share of the checkpoints selected by ``mask`` covered at ``grid[j]``."""
        return int(np.count_nonzero(self._all_hits(j) & mask)) / max(int(mask.sum()), 1)

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
