"""Regime changes in the rate of new apps: penalised segmentation of the increments.

Helper module of :mod:`capacity.growth` (not public on its own). The rate of new apps (first
differences of the live count, summed over weekly blocks for daily data) is modelled as piecewise
constant. Change points are placed by exact optimal partitioning (with PELT's pruning on long
series) under a quasi-Poisson cost, so the noise may be over-dispersed and grows with the rate,
and a BIC-type penalty of ``penalty * log(n_blocks)`` per change. Nothing stops a change from
sitting in the last few weeks: the only constraint is a minimum regime length (four blocks, 28 days
for daily data).
For daily data each change is then refined to the day.

Confidence of a change
----------------------
``lr`` is the evidence for the change: over the stretch of its two neighbouring regimes, the largest
quasi-likelihood-ratio statistic (Poisson deviance of one rate against two, divided by the
dispersion ``phi``) over every split into two regimes of at least the minimum length, on the block
counts (whole weeks for daily data, so a weekly cycle cannot fake a change). ``prob = 1 - p`` where
``p`` is the statistic's p-value under no change in that stretch: the null distribution of the
*maximised* statistic (the search over the date is part of the test, as in Andrews 1993) is
simulated from the fitted no-change model with the same dispersion, exposures and length, each
replicate with the dispersion re-estimated from its own counts (so the noise of ``phi``'s estimate
is accounted for). Beyond the replicates' 90 % quantile the tail follows the asymptotic sup-LR law
(James, James & Siegmund 1987: ``P(sup > x) ~ sqrt(x) exp(-x/2) / sqrt(2 pi) * ((1 - 1/x)
log((1 - t0)^2 / t0^2) + 4/x)``, ``t0`` the trimming), rescaled to meet the replicates there.
Neighbouring changes bound each other's stretches, so a bump of noise (up, then down) would make
both look sure; each change's ``prob`` is therefore capped by the test of every pair it forms with a
neighbour, over the stretch the two lie in: one or two changes there against none, with the min-p
adjustment for looking for either (:func:`pair_prob`). So on a series whose rate never changed, a
change reported with ``prob >= q`` appears in at most about ``1 - q`` of series (``bench/regimes.py``
measures it). The replicates' dispersion is
estimated as the series' own was, on as many blocks (the whole series, drawn once at its mean rate
and shared by the tests of its stretches), so the statistic of a short stretch between two changes is
not drowned by the noise of a dispersion estimated from a few blocks.
``date_low``/``date_high`` bound the dates whose profile statistic lies within 2.71 of the best one
(an approximate 90 % interval for the date).

Has the new rate lasted?
------------------------
A change can be certain and its new rate still be over: a batch of apps imported over a few weeks,
then the old pace again. :func:`persistence` gives the chance that the last regime's rate has lasted
to the end (``last_persists``): its newer half judged between its older half's rate and the previous
regime's. The forecast's mixture multiplies the change's ``prob`` by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Segmentation", "segment_rate", "dispersion", "persistence"]

#: winsorised mean of a chi-square(1) variable capped at its 90 % quantile
_CHI2_WINSOR90 = 0.831
#: chi-square(1) 90 % quantile: the profile-likelihood drop that bounds a change's date
_CHI2_90 = 2.706
#: replicates of the no-change null of a change's statistic, and their fixed seed (results are
#: deterministic and depend on nothing but the counts segmented)
_NULL_REPS = 256
_NULL_SEED = 14
#: most split positions per stretch in the two-change statistic (its cost grows with their square)
_PAIR_GRID = 36
#: most blocks segmented with every segment's cost precomputed (memory grows with their square)
_DENSE_MAX = 1500
#: quantile of the replicates where the asymptotic tail takes over
_TAIL_Q = 0.9


def _seg_cost(s: np.ndarray, e: np.ndarray) -> np.ndarray:
    """-2 x the maximised Poisson log-likelihood (rate-dependent part) of segments with sums ``s``
    over exposures ``e`` (days); ``0 log 0 = 0``."""
    s = np.asarray(s, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 log 0 is nan here: masked below
        term = s * np.log(s / np.where(e > 0, e, 1.0))
    return -2.0 * (np.where(s > 0, term, 0.0) - s)


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


def _dispersion_rows(c: np.ndarray) -> np.ndarray:
    """:func:`dispersion` of each row of ``c`` (replicates x blocks) at once."""
    x, y = c[:, 1:], c[:, :-1]
    tot = x + y
    ok = tot > 0
    r = np.where(ok, (x - y) ** 2 / np.where(ok, tot, 1.0), np.inf)
    m = ok.sum(axis=1)
    srt = np.sort(r, axis=1)  # the pairs without counts (inf) last
    rows = np.arange(len(c))
    # the 90 % quantile of each row's m valid ratios (linear interpolation, as np.quantile)
    pos = 0.9 * np.maximum(m - 1, 0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(m - 1, 0))
    frac = pos - lo
    cap = srt[rows, lo] * (1.0 - frac) + np.where(frac > 0, srt[rows, hi], 0.0) * frac
    clipped = np.where(ok, np.minimum(r, cap[:, None]), 0.0).sum(axis=1)
    phi = np.where(m >= 3, clipped / np.maximum(m, 1) / _CHI2_WINSOR90, 1.0)
    return np.maximum(phi, 1e-3)


def _sup_deviance(c: np.ndarray, e: np.ndarray, min_len: int) -> np.ndarray:
    """Largest Poisson deviance of two rates against one over the splits of the last axis of ``c``
    (exposures ``e``) leaving at least ``min_len`` blocks on each side; 0 without such a split."""
    n = c.shape[-1]
    k = np.arange(min_len, n - min_len + 1)
    if not len(k):
        return np.zeros(c.shape[:-1])
    cs = np.cumsum(c, axis=-1)
    ce = np.cumsum(e)
    left, left_e = cs[..., k - 1], ce[k - 1]
    tot, tot_e = cs[..., -1:], ce[-1]
    dev = _seg_cost(tot, tot_e) - _seg_cost(left, left_e) - _seg_cost(tot - left, tot_e - left_e)
    return np.maximum(dev.max(axis=-1), 0.0)


def _sup_lr_tail(x: float, rho: np.ndarray, q: float, p_q: float) -> float:
    """P(sup LR > x) by the asymptotic law of the largest statistic of one change in a mean (James,
    James & Siegmund 1987), ``sqrt(x) exp(-x/2) / sqrt(2 pi) * ((1 - 1/x) L + 4/x)``, averaged over
    the relative noise ``rho`` of the dispersion's estimate, with the log term ``L`` (the trimming,
    in the continuous law) chosen so that the law gives ``p_q`` at ``q``."""

    def parts(z: float) -> tuple[float, float]:
        zz = np.maximum(z * rho, 1.0 + 1e-6)
        a = np.sqrt(zz) * np.exp(-zz / 2.0) / np.sqrt(2.0 * np.pi)
        return float(np.mean(a * (1.0 - 1.0 / zz))), float(np.mean(a * 4.0 / zz))

    slope_q, const_q = parts(q)
    log_term = max((p_q - const_q) / slope_q, 0.0) if slope_q > 0 else 0.0
    slope, const = parts(x)
    return float(min(slope * log_term + const, 1.0))


def change_prob(
    c: np.ndarray, e: np.ndarray, phi: float, min_len: int, e_phi: np.ndarray | None = None,
    phis: np.ndarray | None = None,
) -> tuple[float, float]:
    """The statistic of a change in the block counts ``c`` (exposures ``e``) and ``1 -`` its p-value
    under a constant rate (see the module docstring). ``phi`` was estimated on blocks of exposures
    ``e_phi`` (the whole series; ``e`` by default): the replicates' dispersion noise is that of an
    estimate from as many blocks. ``phis``, when ``c`` is a stretch of that series, are those
    replicates' dispersions drawn once for all of its tests (:func:`_null_dispersions`)."""
    c = np.clip(np.asarray(c, dtype=float), 0.0, None)
    e = np.asarray(e, dtype=float)
    stat = float(_sup_deviance(c, e, min_len)) / phi
    mu = c.sum() / e.sum() if e.sum() > 0 else 0.0
    if mu <= 0 or len(c) < 2 * min_len:
        return stat, 0.0
    sim, phis = _null_counts(mu, e, phi, e_phi, phis)
    null = _sup_deviance(sim, e, min_len) / phis
    q = float(np.quantile(null, _TAIL_Q))
    p = (1.0 + float(np.sum(null >= stat))) / (_NULL_REPS + 1.0)
    if stat > q > 1.0:
        # beyond the replicates' bulk: the law's tail, through the replicates' quantile
        p = _sup_lr_tail(stat, phis / phi, q, 1.0 - _TAIL_Q)
    return stat, float(1.0 - min(p, 1.0))


def _null_counts(
    mu: float, e: np.ndarray, phi: float, e_phi: np.ndarray | None, phis: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Replicates of block counts under a constant rate ``mu`` (quasi-Poisson: mean ``mu*e``, variance
    ``phi*mu*e``) and each replicate's dispersion, estimated on blocks of exposures ``e_phi`` (``e`` by
    default) as the series' own was: from the replicate itself when it is the whole series, else
    ``phis`` when given, else from counts drawn at ``mu`` on ``e_phi``."""
    rng = np.random.default_rng(_NULL_SEED)
    sim = _replicates(rng, mu, e, phi)
    if e_phi is None or len(e_phi) == len(e):
        return sim, _dispersion_rows(sim)
    if phis is not None:
        return sim, phis
    return sim, _dispersion_rows(_replicates(rng, mu, np.asarray(e_phi, dtype=float), phi))


def _replicates(rng: np.random.Generator, mu: float, e: np.ndarray, phi: float) -> np.ndarray:
    """:data:`_NULL_REPS` rows of quasi-Poisson block counts: mean ``mu*e``, variance ``phi*mu*e``."""
    return phi * rng.poisson(np.broadcast_to(mu * e / phi, (_NULL_REPS, len(e))))


def _sup_deviance2(c: np.ndarray, e: np.ndarray, min_len: int) -> np.ndarray:
    """Largest Poisson deviance of three rates against one over the pairs of splits of the last axis
    of ``c`` (exposures ``e``) leaving at least ``min_len`` blocks in each part, the splits on a grid
    of at most :data:`_PAIR_GRID` positions; 0 without such a pair."""
    n = c.shape[-1]
    k1, k2 = np.triu_indices(n + 1, k=min_len)  # every pair k1 + min_len <= k2 ...
    keep = (k1 >= min_len) & (k2 <= n - min_len)  # ... with min_len blocks before k1 and after k2
    # on a long stretch, splits on a grid of every stride-th block (the null replicates use the same
    # grid, so the test stays exact; it only loses a little resolution in the change dates)
    stride = max(1, int(np.ceil(n / _PAIR_GRID)))
    keep &= (k1 % stride == 0) & (k2 % stride == 0)
    k1, k2 = k1[keep], k2[keep]
    if not len(k1):
        return np.zeros(c.shape[:-1])
    cs = np.concatenate([np.zeros(c.shape[:-1] + (1,)), np.cumsum(c, axis=-1)], axis=-1)
    ce = np.concatenate([[0.0], np.cumsum(e)])
    # each part's cost once per split position, then summed per pair
    head = _seg_cost(cs, ce)  # blocks [0, k)
    tail = _seg_cost(cs[..., -1:] - cs, ce[-1] - ce)  # blocks [k, n)
    total = head[..., -1]
    best = np.zeros(c.shape[:-1])
    step = max(1, 2_000_000 // max(c.size // n, 1))  # pairs per chunk: bounded memory
    for lo in range(0, len(k1), step):
        a, b = k1[lo:lo + step], k2[lo:lo + step]
        mid = _seg_cost(cs[..., b] - cs[..., a], ce[b] - ce[a])
        best = np.maximum(best, (total[..., None] - head[..., a] - mid - tail[..., b]).max(axis=-1))
    return best


def pair_prob(
    c: np.ndarray, e: np.ndarray, phi: float, min_len: int, e_phi: np.ndarray | None = None,
    phis: np.ndarray | None = None,
) -> float:
    """``1 -`` the p-value of one or two changes in the block counts ``c`` (exposures ``e``) under a
    constant rate.

    Two statistics are computed, the largest one-change (two rates against one) and two-change (three
    against one) quasi-deviances over the splits (the pairs on :func:`_sup_deviance2`'s grid), and
    each is turned into a p-value against the
    same simulated null replicates as in :func:`change_prob`. The smaller of the two p-values is
    itself referred to its null distribution over those replicates (the min-p adjustment of Westfall
    and Young), so looking for either pattern costs its multiplicity. No asymptotic tail: the
    p-value is at least ``1/(reps + 1)``.

    Two neighbouring changes found by the segmentation bound each other's stretches: a bump of noise
    (up, then down) gives each a strong one-change statistic on a stretch whose far end was chosen to
    cut it. Tested together over the stretch they both lie in, the pair is judged as what it is.
    ``e_phi`` and ``phis`` as in :func:`change_prob`."""
    c = np.clip(np.asarray(c, dtype=float), 0.0, None)
    e = np.asarray(e, dtype=float)
    mu = c.sum() / e.sum() if e.sum() > 0 else 0.0
    if mu <= 0 or len(c) < 3 * min_len:
        return 0.0
    sim, phis = _null_counts(mu, e, phi, e_phi, phis)
    observed = [float(_sup_deviance(c, e, min_len)) / phi, float(_sup_deviance2(c, e, min_len)) / phi]
    nulls = [_sup_deviance(sim, e, min_len) / phis, _sup_deviance2(sim, e, min_len) / phis]
    reps = _NULL_REPS + 1.0
    p_obs = min((1.0 + np.sum(null >= x)) / reps for x, null in zip(observed, nulls, strict=True))
    # each replicate's own p-values, among the replicates (itself included) and the observed series
    p_rep = np.minimum(*[(np.sum(null[None, :] >= null[:, None], axis=1) + (x >= null)) / reps
                         for x, null in zip(observed, nulls, strict=True)])
    return float(1.0 - (1.0 + np.sum(p_rep <= p_obs)) / reps)


def _change_stats(
    c: np.ndarray, e: np.ndarray, cps: list[int], phi: float, min_len: int, which: range | None = None
) -> list[tuple[float, float]]:
    """Each change's statistic and probability (the changes ``which``, all by default): its one-change
    test over the stretch between its neighbours, capped by the two-change test of each pair it forms
    with a neighbour (over the stretch between the pair's own neighbours): a change is no surer than
    the pairs it is part of."""
    edges = [0, *cps, len(c)]
    pairs: dict[int, float] = {}  # pair j: changes j and j + 1, tested once for both
    # a single change is tested on the whole series, with each replicate's own dispersion
    phis = _null_dispersions(c, e, phi) if len(cps) > 1 else None

    def pair(j: int) -> float:
        if j not in pairs:
            a, z = edges[j], edges[j + 3]
            pairs[j] = pair_prob(c[a:z], e[a:z], phi, min_len, e_phi=e, phis=phis)
        return pairs[j]

    out = []
    for i in range(len(cps)) if which is None else which:
        a, z = edges[i], edges[i + 2]
        stat, prob = change_prob(c[a:z], e[a:z], phi, min_len, e_phi=e, phis=phis)
        caps = [pair(j) for j in (i - 1, i) if 0 <= j < len(cps) - 1]
        out.append((stat, min([prob, *caps])))
    return out


def _null_dispersions(c: np.ndarray, e: np.ndarray, phi: float) -> np.ndarray | None:
    """Dispersions of null replicates of the whole series (its mean rate, noise ``phi``), estimated as
    the series' own was: drawn once and shared by the tests of its stretches (common random numbers),
    whose own replicates are drawn at each stretch's rate. None for a series without counts."""
    mu = float(np.clip(c, 0.0, None).sum() / e.sum()) if e.sum() > 0 else 0.0
    if mu <= 0:
        return None
    return _dispersion_rows(_replicates(np.random.default_rng(_NULL_SEED + 1), mu, e, phi))


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


def _optimal_partition(c: np.ndarray, e: np.ndarray, pen: float, min_len: int) -> list[int]:
    """Optimal partitioning (exact): returns the interior change indices (block starts).

    Up to :data:`_DENSE_MAX` blocks every segment's cost is computed at once and the recursion only
    takes a minimum per block; longer series prune the starts that can no longer win instead (PELT,
    with the pruning delayed by the minimum length so that the optimum stays the same)."""
    n = len(c)
    cs = np.concatenate([[0.0], np.cumsum(c)])
    ce = np.concatenate([[0.0], np.cumsum(e)])
    best = np.full(n + 1, np.inf)
    best[0] = -pen
    last = np.zeros(n + 1, dtype=int)
    if n <= _DENSE_MAX:
        _dense_recursion(cs, ce, pen, min_len, best, last)
    else:
        _pruned_recursion(cs, ce, pen, min_len, best, last)
    cps: list[int] = []
    t = n
    while t > 0:
        t = int(last[t])
        if t > 0:
            cps.append(t)
    return sorted(cps)


def _dense_recursion(cs, ce, pen, min_len, best, last) -> None:
    """``best[t] = min over s <= t - min_len of best[s] + cost(s, t) + pen``, with every cost
    precomputed (row ``t`` of ``cost`` holds the segments ending at ``t``)."""
    n = len(cs) - 1
    s_idx, t_idx = np.triu_indices(n + 1, k=min_len)
    cost = np.full((n + 1, n + 1), np.inf)
    cost[t_idx, s_idx] = _seg_cost(cs[t_idx] - cs[s_idx], ce[t_idx] - ce[s_idx])
    # best[t] needs best[s] only for s <= t - min_len: min_len consecutive ends are minimised at once
    # (the starts too late for an end cost inf)
    step = max(min_len, 1)
    for t0 in range(min_len, n + 1, step):
        t1 = min(t0 + step, n + 1)
        total = best[None, : t1 - min_len] + cost[t0:t1, : t1 - min_len]
        j = total.argmin(axis=1)
        best[t0:t1] = total[np.arange(t1 - t0), j] + pen
        last[t0:t1] = j


def _pruned_recursion(cs, ce, pen, min_len, best, last) -> None:
    """The same recursion with PELT's pruning, made exact for a minimum length: a start that loses by
    more than ``pen`` at ``t`` can never win once a segment may start at ``t`` (from ``t + min_len``
    on: the costs are superadditive), but it may still win before, so it is dropped only then."""
    n = len(cs) - 1
    cand = np.array([0])
    dropped: dict[int, np.ndarray] = {}
    for t in range(min_len, n + 1):
        if t in dropped:
            cand = np.setdiff1d(cand, dropped.pop(t), assume_unique=True)
        eligible = (t - cand) >= min_len
        starts = cand[eligible]
        if len(starts):
            cost = best[starts] + _seg_cost(cs[t] - cs[starts], ce[t] - ce[starts])
            j = int(np.argmin(cost))
            best[t] = cost[j] + pen
            last[t] = starts[j]
            losing = starts[cost > best[t]]
            if len(losing):
                dropped[t + min_len] = losing
        if np.isfinite(best[t]):
            cand = np.append(cand, t)


@dataclass(frozen=True, eq=False)
class _Changes:
    """What the change table and the changes' tests need besides the segmentation's own fields: the
    observation dates, the block counts ``c`` (additions) and exposures ``e`` the tests run on, the
    change blocks ``cps``, the shortest regime (blocks) and each change's date range (increment
    indices ``low``..``high``)."""

    dates: pd.DatetimeIndex
    c: np.ndarray
    e: np.ndarray
    cps: list[int]
    min_blocks: int
    low: np.ndarray
    high: np.ndarray


@dataclass(frozen=True, eq=False)
class Segmentation:
    """Piecewise-constant rate of the increments of one series.

    Attributes
    ----------
    bounds : ndarray of int
        Increment indices where each regime starts, plus ``n_increments`` at the end (increment
        ``i`` is ``y[i+1] - y[i]``, so regimes cover ``bounds[k]..bounds[k+1]-1``).
    rates : ndarray
        Net rate of each regime, apps/day.
    phi : float
        Quasi-Poisson dispersion (variance / mean of a block's count).
    changes : DatetimeIndex
        First day of each new regime (the ``date`` column of :attr:`table`).
    last_sum, last_exposure : float
        Net apps added in the last regime and its length in days.
    noise_var : float
        Variance of the net increments per day in the last regime (around its rate), apps^2/day;
        it carries deletions, which a rate-proportional variance misses.
    hazard : float
        Rate of further changes, per day (changes seen plus one, over span plus two years).
    shock_sd : float
        Standard deviation of a change's log rate ratio (pooled with two pseudo-changes of 2x).
    last_persists : float
        Probability that the last regime's rate has lasted to the end rather than been a one-off
        batch: the newer half of the regime judged between the older half's rate and the previous
        regime's (:func:`persistence`); 1 without a change, for a regime of one increment, or when
        the newer half has not retreated towards the previous rate.

    The changes' tests (simulated null replicates) are the costly part of a segmentation and a
    backtest origin needs at most the last change's: :attr:`table` runs them all, on first use,
    :attr:`last_prob` only the last change's.
    """

    bounds: np.ndarray
    rates: np.ndarray
    phi: float
    changes: pd.DatetimeIndex
    last_sum: float
    last_exposure: float
    noise_var: float
    hazard: float
    shock_sd: float
    last_persists: float
    _tests: _Changes = field(repr=False)

    @property
    def table(self) -> pd.DataFrame:
        """One row per change (see the module docstring)."""
        # cached by hand in the instance (frozen): functools.cached_property locks across instances
        # before Python 3.12, which would queue the tests of fits running in threads
        if "_table" not in self.__dict__:
            t = self._tests
            if not len(t.cps):
                table = _empty_table()
            else:
                stats = _change_stats(t.c, t.e, t.cps, self.phi, t.min_blocks)
                table = _change_table(self.changes, t.dates, t.low, t.high, self.rates, stats)
            self.__dict__["_table"] = table
        return self.__dict__["_table"]

    @property
    def last_prob(self) -> float:
        """``prob`` of the last change (0 without a change), its test alone unless :attr:`table`
        already ran them all."""
        t = self._tests
        if not len(t.cps):
            return 0.0
        if "_table" in self.__dict__:
            return float(self.table["prob"].iloc[-1])
        if "_last_prob" not in self.__dict__:
            last = len(t.cps) - 1
            stats = _change_stats(t.c, t.e, t.cps, self.phi, t.min_blocks, range(last, last + 1))
            self.__dict__["_last_prob"] = float(stats[0][1])
        return self.__dict__["_last_prob"]


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
    lratio = _log_ratios(sums_pos, expo) if len(starts) else np.zeros(0)
    k = len(lratio)
    return Segmentation(
        bounds=bounds,
        rates=rates,
        phi=float(phi),
        # increment i is the growth from dates[i] to dates[i + 1]
        changes=pd.DatetimeIndex(_day_after(dates, bounds[1:-1]), name=dates.name),
        last_sum=float(sums[-1]),
        last_exposure=float(expo[-1]),
        noise_var=_last_noise(b, block, bounds[-2], rates[-1], phi),
        # changes seen plus one, over the span plus two years
        hazard=float((k + 1.0) / (float(t[-1] - t[0]) + 730.0)),
        # pooled with two pseudo-changes of 2x
        shock_sd=float(np.sqrt((np.sum(lratio**2) + 2.0 * np.log(2.0) ** 2) / (k + 2.0))),
        last_persists=persistence(pos_inc, dt, bounds, phi),
        _tests=_Changes(dates, b.c_pos, b.e, cps, min_blocks, low, high),
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
    """The dispersion and the change blocks: optimal partitioning of the dispersion-scaled counts,
    rerun when the regimes' Pearson dispersion reveals slow bursts the consecutive-pair estimate
    missed."""
    pen = penalty * np.log(max(len(c_pos), 2))
    phi = dispersion(c_pos)
    cps = _optimal_partition(c_pos / phi, e, pen, min_blocks)
    phi_lr = _pearson_dispersion(c_pos, e, cps)
    if phi_lr > phi:
        phi = phi_lr
        cps = _optimal_partition(c_pos / phi, e, pen, min_blocks)
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


def _day_after(dates: pd.DatetimeIndex, i: np.ndarray) -> np.ndarray | pd.DatetimeIndex:
    """The day after ``dates[i]``, in ns; by numpy's arithmetic for tz-naive dates (pandas' index
    arithmetic costs more than the rest of a short series' segmentation)."""
    if dates.tz is not None:
        return (dates[i] + pd.Timedelta(days=1)).as_unit("ns")
    return (dates.values[i] + np.timedelta64(1, "D")).astype("datetime64[ns]")


def _change_table(changes, dates, low, high, rates, stats) -> pd.DataFrame:
    """One row per change: date, rates, their ratio, the statistic, its probability, the date range."""
    lr = np.array([st for st, _ in stats], dtype=float)
    prob = np.array([pr for _, pr in stats], dtype=float)
    before, after = rates[:-1], rates[1:]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(before > 0, after / np.where(before > 0, before, 1.0), np.nan)
    ratio = np.where((before <= 0) & (after > 0), np.inf, ratio)
    # increment i is the growth from dates[i] to dates[i + 1]: a range starting there starts
    # the day after dates[i]
    return pd.DataFrame(
        {
            "date": changes,
            "rate_before": before,
            "rate_after": after,
            "ratio": ratio,
            "lr": lr,
            "prob": prob,
            "date_low": _day_after(dates, low),
            "date_high": _day_after(dates, high),
        }
    )


def _log_ratios(sums_pos: np.ndarray, expo: np.ndarray) -> np.ndarray:
    """Log rate ratio of each change (half a count of prior, capped at 10x either way)."""
    lratio = np.log(np.clip(sums_pos[1:] + 0.5, 1e-9, None) / expo[1:]) - np.log(
        np.clip(sums_pos[:-1] + 0.5, 1e-9, None) / expo[:-1]
    )
    return np.clip(lratio, -np.log(10.0), np.log(10.0))


def persistence(pos_inc: np.ndarray, dt: np.ndarray, bounds: np.ndarray, phi: float) -> float:
    """Probability that the last regime's rate has lasted, rather than been a one-off batch.

    A change can be certain and still not last: a registry that imports a batch of apps over a few
    weeks, then returns to its old pace, shows a real change whose new rate is over by the end. The
    newer half of the last regime's increments decides between two rates: the older half's (the new
    rate lasted) and the previous regime's (it was a batch), by their quasi-Poisson likelihood ratio
    on the newer half's additions, with even prior odds. Rates carry half a count of prior. A newer
    half that has not retreated from the older half's rate towards the previous one (in the
    direction of the change) is no sign of a batch: the chance is then 1.

    Parameters
    ----------
    pos_inc : ndarray
        Additions per increment (net increments clipped at 0) [apps].
    dt : ndarray
        Length of each increment [days].
    bounds : ndarray of int
        Regime starts plus the end, as :attr:`Segmentation.bounds`.
    phi : float
        Quasi-Poisson dispersion.

    Returns
    -------
    float
        In [0, 1]; 1 without a change, for a last regime of a single increment, or when its newer
        half has not retreated towards the previous rate.
    """
    if len(bounds) < 3:
        return 1.0
    prev, start, end = int(bounds[-3]), int(bounds[-2]), int(bounds[-1])
    n = end - start
    if n < 2:  # a regime of one increment has no halves to compare
        return 1.0
    # halves by count, not by days: monthly increments differ in length, and each half must hold one
    older = np.arange(n) < (n + 1) // 2
    adds, days = pos_inc[start:end], dt[start:end]

    def rate(a: np.ndarray, d: np.ndarray) -> float:
        return (a.sum() + 0.5) / max(d.sum(), 1e-9)

    rate_older, rate_newer = rate(adds[older], days[older]), rate(adds[~older], days[~older])
    rate_before, rate_regime = rate(pos_inc[prev:start], dt[prev:start]), rate(adds, days)
    newer, exposure = adds[~older].sum(), days[~older].sum()
    # a batch predicts a retreat towards the old pace; a newer half at or beyond the older half's rate,
    # in the change's direction (a surge still speeding up), is no evidence of one
    if (rate_newer - rate_older) * np.sign(rate_regime - rate_before) >= 0:
        return 1.0
    llr = (newer * np.log(rate_older / rate_before) - (rate_older - rate_before) * exposure) / phi
    return float(1.0 / (1.0 + np.exp(-np.clip(llr, -50.0, 50.0))))


def _last_noise(b: _Blocks, block: int, start: int, rate: float, phi: float) -> float:
    """Variance per day (apps^2/day) of the last regime's net block counts around its rate."""
    inside = (b.ends - block) >= start
    if inside.sum() >= 3:
        dev = b.c[inside] - rate * b.e[inside]
        return float(np.mean(dev**2) / np.mean(b.e[inside]))
    return float(phi * abs(rate))
