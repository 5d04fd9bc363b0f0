"""Regime changes in the rate of new apps: penalised segmentation of the increments.

Helper module of :mod:`capacity.growth` (not public on its own). The rate of new apps (first
differences of the live count, summed over weekly blocks for daily data) is modelled as piecewise
constant. Change points are placed by optimal partitioning with pruning (PELT) under a
quasi-Poisson cost, so the noise may be over-dispersed and grows with the rate, and a BIC-type
penalty of ``penalty * log(n_blocks)`` per change. Nothing stops a change from sitting in the last
few weeks: the only constraint is a minimum regime length (four blocks, 28 days for daily data).
For daily data each change is then refined to the day.

Confidence of a change
----------------------
``lr`` is the quasi-likelihood-ratio statistic (deviance / dispersion) of the two neighbouring
regimes against one merged regime. ``prob`` turns it into the BIC approximation of the posterior
probability that the change is real, with even prior odds and two extra parameters (the date and
the new rate): ``prob = 1 / (1 + exp(-(lr - 2 log n) / 2))`` where ``n`` counts the blocks of the
two regimes. ``date_low``/``date_high`` bound the dates whose profile statistic lies within 2.71 of
the best one (an approximate 90 % interval for the date).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["Segmentation", "segment_rate", "dispersion"]

#: winsorised mean of a chi-square(1) variable capped at its 90 % quantile
_CHI2_WINSOR90 = 0.831
#: chi-square(1) 90 % quantile: the profile-likelihood drop that bounds a change's date
_CHI2_90 = 2.706


def _seg_cost(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """-2 x the maximised Poisson log-likelihood (rate-dependent part) of segments with sums ``s``
    over exposures ``e`` (days); ``0 log 0 = 0``."""
    s = np.asarray(s, dtype=float)
    pos = s > 0
    safe = np.where(pos, s, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(pos, safe / np.where(e > 0, e, 1.0), 1.0)
    return -2.0 * (np.where(pos, safe * np.log(ratio), 0.0) - s)


def dispersion(counts: np.ndarray) -> float:
    """Quasi-Poisson dispersion of block counts from consecutive pairs.

    For Poisson counts ``(X - Y)^2 / (X + Y)`` has expectation 1 whatever the rate, and a slowly
    changing rate barely moves it; the ratios are winsorised at their 90 % quantile (so a burst or a
    regime change does not dominate) and rescaled to be unbiased under a chi-square(1) law.
    """
    c = np.clip(np.asarray(counts, dtype=float), 0.0, None)
    x, y = c[1:], c[:-1]
    ok = (x + y) > 0
    if ok.sum() < 3:
        return 1.0
    r = (x[ok] - y[ok]) ** 2 / (x[ok] + y[ok])
    cap = np.quantile(r, 0.9)
    phi = float(np.mean(np.minimum(r, cap))) / _CHI2_WINSOR90
    return max(phi, 1e-3)


def _pearson_dispersion(c: np.ndarray, e: np.ndarray, cps: list[int], agg: int = 4) -> float:
    """Dispersion of ``agg``-block sums around their regime's rate: catches slow autocorrelation
    (bursts lasting weeks) that consecutive-pair differences cancel out."""
    c = np.clip(c, 0.0, None)
    bounds = [0, *cps, len(c)]
    num, dof = 0.0, 0
    for a, z in zip(bounds[:-1], bounds[1:], strict=True):
        mu = c[a:z].sum() / e[a:z].sum()
        k = (z - a) // agg
        if k < 2 or mu <= 0:
            continue
        xs = c[z - k * agg : z].reshape(k, agg).sum(axis=1)
        m = mu * e[z - k * agg : z].reshape(k, agg).sum(axis=1)
        num += float(((xs - m) ** 2 / m).sum())
        dof += k - 1
    return num / dof if dof > 0 else 0.0


def _pelt(c: np.ndarray, e: np.ndarray, pen: float, min_len: int) -> list[int]:
    """Optimal partitioning with PELT pruning; returns the interior change indices (block starts)."""
    n = len(c)
    cs = np.concatenate([[0.0], np.cumsum(c)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    best = np.full(n + 1, np.inf)
    best[0] = -pen
    last = np.zeros(n + 1, dtype=int)
    cand = np.array([0])
    for t in range(min_len, n + 1):
        eligible = (t - cand) >= min_len
        starts = cand[eligible]
        if len(starts):
            cost = best[starts] + _seg_cost(cs[t] - cs[starts], ce[t] - ce[starts])
            j = int(np.argmin(cost))
            best[t] = cost[j] + pen
            last[t] = starts[j]
            keep = ~eligible
            keep[eligible] = cost <= best[t]
            cand = cand[keep]
        if np.isfinite(best[t]):
            cand = np.append(cand, t)
    cps: list[int] = []
    t = n
    while t > 0:
        t = int(last[t])
        if t > 0:
            cps.append(t)
    return sorted(cps)


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Piecewise-constant rate of the increments of one series.

    Attributes
    ----------
    bounds : ndarray of int
        Increment indices where each regime starts, plus ``n_increments`` at the end (increment
        ``i`` is ``y[i] - y[i-1]``, so regimes cover ``bounds[k]..bounds[k+1]-1``).
    rates : ndarray
        Net rate of each regime, apps/day.
    phi : float
        Quasi-Poisson dispersion (variance / mean of a block's count).
    table : DataFrame
        One row per change (see module docstring).
    last_sum, last_exposure : float
        Net apps added in the last regime and its length in days.
    noise_var : float
        Variance of the net increments per day in the last regime (around its rate), apps^2/day;
        it carries deletions, which a rate-proportional variance misses.
    hazard : float
        Rate of further changes, per day (changes seen plus one, over span plus two years).
    shock_sd : float
        Standard deviation of a change's log rate ratio (pooled with two pseudo-changes of 2x).
    """

    bounds: np.ndarray
    rates: np.ndarray
    phi: float
    table: pd.DataFrame
    last_sum: float
    last_exposure: float
    noise_var: float
    hazard: float
    shock_sd: float


def _empty_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "date": pd.Series([], dtype="datetime64[ns]"),
            "rate_before": pd.Series([], dtype=float),
            "rate_after": pd.Series([], dtype=float),
            "ratio": pd.Series([], dtype=float),
            "lr": pd.Series([], dtype=float),
            "prob": pd.Series([], dtype=float),
            "date_low": pd.Series([], dtype="datetime64[ns]"),
            "date_high": pd.Series([], dtype="datetime64[ns]"),
        }
    )


def _refine(
    inc: np.ndarray, dt: np.ndarray, lo: int, hi: int, guess: int, window: int, min_len: int
) -> tuple[int, np.ndarray, np.ndarray]:
    """Best single change in increments ``lo..hi-1`` near ``guess``; also the profile cost."""
    ci = np.concatenate([[0.0], np.cumsum(inc[lo:hi])])
    ce = np.concatenate([[0.0], np.cumsum(dt[lo:hi])])
    pos = np.arange(lo + min_len, hi - min_len + 1)
    if len(pos) == 0:
        return guess, np.array([guess]), np.array([0.0])
    k = pos - lo
    prof = _seg_cost(ci[k], ce[k]) + _seg_cost(ci[-1] - ci[k], ce[-1] - ce[k])
    near = np.abs(pos - guess) <= window
    if not near.any():
        near[:] = True
    j = int(np.argmin(np.where(near, prof, np.inf)))
    return int(pos[j]), pos, prof


def segment_rate(
    dates: pd.DatetimeIndex,
    t: np.ndarray,
    y: np.ndarray,
    *,
    block: int,
    penalty: float = 2.0,
    min_blocks: int = 4,
) -> Segmentation:
    """Detect changes in the rate of increments of a cumulative count.

    Parameters
    ----------
    dates : DatetimeIndex
        Observation dates (regular: daily, weekly or monthly).
    t : ndarray
        Observation times, days since the first one.
    y : ndarray
        Live counts at those times.
    block : int
        Observations per block (7 for daily data, 1 otherwise).
    penalty : float
        Penalty per change in units of ``log(n_blocks)`` of quasi-deviance.
    min_blocks : int
        Shortest regime, in blocks.

    Returns
    -------
    Segmentation
    """
    inc = np.diff(y)
    dt = np.diff(t)
    pos_inc = np.clip(inc, 0.0, None)
    b = _blocks(t, y, pos_inc, block)
    phi, cps = _changes(b.c_pos, b.e, penalty, min_blocks)
    # change in block k -> first increment of that block (increments are 0-based: inc[i] = y[i+1]-y[i])
    starts = [int(b.ends[k] - block) for k in cps]
    bounds, low, high = _refine_all(pos_inc, dt, [0, *starts, len(y) - 1], block, min_blocks, phi)
    sums = np.add.reduceat(inc, bounds[:-1]) if len(inc) else np.zeros(1)
    sums_pos = np.add.reduceat(pos_inc, bounds[:-1]) if len(inc) else np.zeros(1)
    expo = np.add.reduceat(dt, bounds[:-1]) if len(inc) else np.ones(1)
    rates = sums / expo
    if len(starts):
        table = _change_table(dates, bounds, low, high, sums_pos, expo, rates, phi, block)
        lratio = _log_ratios(sums_pos, expo)
    else:
        table = _empty_table()
        lratio = np.zeros(0)
    k = len(lratio)
    return Segmentation(
        bounds=bounds,
        rates=rates,
        phi=float(phi),
        table=table,
        last_sum=float(sums[-1]),
        last_exposure=float(expo[-1]),
        noise_var=_last_noise(b, block, bounds[-2], rates[-1], phi),
        # changes seen plus one, over the span plus two years
        hazard=float((k + 1.0) / (float(t[-1] - t[0]) + 730.0)),
        # pooled with two pseudo-changes of 2x
        shock_sd=float(np.sqrt((np.sum(lratio**2) + 2.0 * np.log(2.0) ** 2) / (k + 2.0))),
    )


@dataclass(frozen=True, eq=False)
class _Blocks:
    """Blocks of ``block`` increments aligned to the end (so the newest block is complete): their last
    observation ``ends``, net counts ``c``, exposures ``e`` (days) and counts of additions ``c_pos``."""

    ends: np.ndarray
    c: np.ndarray
    e: np.ndarray
    c_pos: np.ndarray


def _blocks(t: np.ndarray, y: np.ndarray, pos_inc: np.ndarray, block: int) -> _Blocks:
    ends = np.arange(len(y) - 1, block - 1, -block)[::-1]
    c_pos = np.add.reduceat(pos_inc, ends - block) if block > 1 else pos_inc[ends - 1]
    return _Blocks(ends, y[ends] - y[ends - block], t[ends] - t[ends - block], c_pos)


def _changes(c_pos: np.ndarray, e: np.ndarray, penalty: float, min_blocks: int) -> tuple[float, list[int]]:
    """The dispersion and the change blocks: PELT on the dispersion-scaled counts, rerun when the
    regimes' Pearson dispersion reveals slow bursts the consecutive-pair estimate missed."""
    pen = penalty * np.log(max(len(c_pos), 2))
    phi = dispersion(c_pos)
    cps = _pelt(c_pos / phi, e, pen, min_blocks)
    phi_lr = _pearson_dispersion(c_pos, e, cps)
    if phi_lr > phi:
        phi = phi_lr
        cps = _pelt(c_pos / phi, e, pen, min_blocks)
    return phi, cps


def _refine_all(
    pos_inc: np.ndarray, dt: np.ndarray, bounds: list[int], block: int, min_blocks: int, phi: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Move each interior bound to its best increment near the block start (to the day for daily
    data), between its neighbours; with each change's approximate 90 % date range (increment indices)."""
    # a refined regime keeps at least two blocks of daily data, or ``min_blocks`` points otherwise
    min_len = 2 * block if block > 1 else min_blocks
    low = np.empty(len(bounds) - 2, dtype=int)
    high = np.empty(len(bounds) - 2, dtype=int)
    for k in range(1, len(bounds) - 1):
        best, pos, prof = _refine(pos_inc, dt, bounds[k - 1], bounds[k + 1], bounds[k], block, min_len)
        bounds[k] = best
        inside = pos[prof <= prof.min() + _CHI2_90 * phi]
        low[k - 1], high[k - 1] = inside.min(), inside.max()
    return np.asarray(bounds, dtype=int), low, high


def _change_table(dates, bounds, low, high, sums_pos, expo, rates, phi, block) -> pd.DataFrame:
    """One row per change: date, rates, their ratio, the statistic, its probability, the date range."""
    seg_cost = _seg_cost(sums_pos, expo)
    merged = _seg_cost(sums_pos[:-1] + sums_pos[1:], expo[:-1] + expo[1:])
    lr = (merged - seg_cost[:-1] - seg_cost[1:]) / phi
    n_pair = np.maximum((bounds[2:] - bounds[:-2]) / max(block, 1), 2.0)
    prob = 1.0 / (1.0 + np.exp(-(lr - 2.0 * np.log(n_pair)) / 2.0))
    before, after = rates[:-1], rates[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)
    ratio = np.where((before <= 0) & (after > 0), np.inf, ratio)
    # increment i is the growth from dates[i] to dates[i + 1]: a regime starting there starts
    # the day after dates[i]
    day = pd.Timedelta(days=1)
    return pd.DataFrame(
        {
            "date": (dates[bounds[1:-1]] + day).as_unit("ns"),
            "rate_before": before,
            "rate_after": after,
            "ratio": ratio,
            "lr": lr,
            "prob": prob,
            "date_low": (dates[low] + day).as_unit("ns"),
            "date_high": (dates[high] + day).as_unit("ns"),
        }
    )


def _log_ratios(sums_pos: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """Log rate ratio of each change (half a count of prior, capped at 10x either way)."""
    lratio = np.log(np.clip(sums_pos[1:] + 0.5, 1e-9, None) / expo[1:]) - np.log(
        np.clip(sums_pos[:-1] + 0.5, 1e-9, None) / expo[:-1]
    )
    return np.clip(lratio, -np.log(10.0), np.log(10.0))


def _last_noise(b: _Blocks, block: int, start: int, rate: float, phi: float) -> float:
    """Variance per day (apps^2/day) of the last regime's net block counts around its rate."""
    inside = (b.ends - block) >= start
    if inside.sum() >= 3:
        dev = b.c[inside] - rate * b.e[inside]
        return float(np.mean(dev**2) / np.mean(b.e[inside]))
    return float(phi * abs(rate))
