"""Tests of capacity.growth.regimes: regime changes found in the rate of new apps."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.growth.fit import fit_growth
from capacity.growth.regimes import (
    _change_stats,
    _dense_recursion,
    _pruned_recursion,
    _seg_cost,
    _sup_deviance2,
    change_prob,
    dispersion,
    pair_prob,
    persistence,
    segment_rate,
)


def test_sample_acceleration_found_near_the_true_date_with_true_rates(sample_fit, truth):
    reg = sample_fit.regimes
    assert len(reg) >= 1
    jump = reg.loc[reg["ratio"].idxmax()]
    assert abs((jump["date"] - pd.Timestamp(truth["break_date"])).days) <= 14
    assert jump["rate_before"] == pytest.approx(truth["rate_before"], rel=0.05)
    assert jump["rate_after"] == pytest.approx(truth["rate_after"], rel=0.10)
    assert jump["ratio"] == pytest.approx(truth["rate_after"] / truth["rate_before"], rel=0.12)
    assert jump["prob"] > 0.99
    assert jump["date_low"] <= jump["date"] <= jump["date_high"]


def test_krew_2026_reacceleration_detected(krew_fit):
    reg = krew_fit.regimes
    recent = reg[(reg["date"] >= "2025-10-01") & (reg["date"] <= "2026-06-30")]
    assert len(recent) == 1
    row = recent.iloc[0]
    assert row["ratio"] > 2.0
    assert row["prob"] > 0.99
    # rates in apps/day: ~3 plugins a month before, ~11 after
    assert 0.05 < row["rate_before"] < 0.2
    assert 0.25 < row["rate_after"] < 0.6
    # soft regimes (issue 14): the change is too recent for the backtest to judge, so the weights mix
    # "the rate has changed and lasts" (all on piecewise) with probability prob x last_persists and
    # the backtest's weights with the rest; the re-acceleration lasted, so piecewise carries at least
    # that share and the rate is the new one's
    lasts = krew_fit.segmentation.last_persists
    assert lasts > 0.99
    assert krew_fit.weights["piecewise"] >= row["prob"] * lasts
    assert any("too recent" in n and "follows the new regime" in n for n in krew_fit.notes)
    assert krew_fit.rate == pytest.approx(row["rate_after"], rel=0.05)


def _daily_adds(rates_days: list[tuple[float, int]], seed: int = 3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.concatenate([rng.poisson(rate, days) for rate, days in rates_days]).astype(float)


def test_persistence_tells_a_batch_from_a_rate_that_lasted():
    # 300 days at 1/day, then 42 days at 3/day: either the 3/day lasted, or it was a 3-week batch
    lasting = _daily_adds([(1.0, 300), (3.0, 42)])
    batch = _daily_adds([(1.0, 300), (3.0, 21), (1.0, 21)])
    days, bounds = np.ones(342), np.array([0, 300, 342])
    assert persistence(lasting, days, bounds, phi=1.0) > 0.99
    assert persistence(batch, days, bounds, phi=1.0) < 0.01
    # over-dispersed counts are weaker evidence
    assert persistence(batch, days, bounds, phi=8.0) > max(persistence(batch, days, bounds, phi=1.0), 0.01)
    # a surge still speeding up (the older half near the old pace, the newer far above) has not retreated
    surge = np.r_[np.ones(300), 0.9 * np.ones(7), 5.0 * np.ones(7)]
    assert persistence(surge, np.ones(314), np.array([0, 300, 314]), phi=1.0) == 1.0
    # the batch is judged against the regime before it, not against all earlier history
    three = _daily_adds([(5.0, 200), (1.0, 100), (3.0, 21), (1.0, 21)])
    assert persistence(three, np.ones(342), np.array([0, 200, 300, 342]), phi=1.0) < 0.01
    # a slowdown that lasted is a rate that lasted too; without a change there is nothing to doubt
    slowdown = _daily_adds([(3.0, 300), (1.0, 42)])
    assert persistence(slowdown, days, bounds, phi=1.0) > 0.99
    assert persistence(lasting, days, np.array([0, 342]), phi=1.0) == 1.0
    assert persistence(lasting, days, np.array([0, 341, 342]), phi=1.0) == 1.0  # one increment: no halves


def test_persistence_of_a_two_month_regime_in_monthly_data():
    # months of unequal length: each half holds one month, whichever is longer
    months = np.array([31.0, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31, 28])
    bounds = np.array([0, 10, 12])
    lasting = np.array([10.0] * 10 + [30, 29])
    batch = np.array([10.0] * 10 + [30, 9])
    assert persistence(lasting, months, bounds, phi=1.0) > 0.99
    assert persistence(batch, months, bounds, phi=1.0) < 0.01


def test_the_segmentation_reports_whether_its_last_rate_lasted(sample_fit):
    assert sample_fit.segmentation.last_persists > 0.99  # the sample's 2010 acceleration lasts


def test_monthly_input(cran_fit):
    assert cran_fit.history.index[1] == pd.Timestamp("1997-11-08")
    assert len(cran_fit.regimes) >= 5
    # the 2012-13 and 2015-17 accelerations of CRAN show as rate rises
    ups = cran_fit.regimes[cran_fit.regimes["ratio"] > 1.4]
    assert (ups["date"].dt.year == 2015).any()
    p = cran_fit.paths(60, n=50)
    assert p.columns.freq == "D"


def test_weekly_input_finds_the_sample_break(sample_apps, truth):
    weekly = sample_apps["apps"][:"2010-10-20"].resample("W").last()
    fit = fit_growth(weekly)
    jump = fit.regimes.loc[fit.regimes["ratio"].idxmax()]
    assert abs((jump["date"] - pd.Timestamp(truth["break_date"])).days) <= 14
    assert jump["rate_before"] == pytest.approx(truth["rate_before"], rel=0.05)


def _null_probs(prob, *, seed: int, blocks: int, reps: int) -> np.ndarray:
    """``prob(c, e)`` on constant-rate weekly counts, ``reps`` series at each of two rates."""
    rng = np.random.default_rng(seed)
    e = np.full(blocks, 7.0)
    counts = (rng.poisson(rate * e).astype(float) for rate in (2.0, 200.0) for _ in range(reps))
    return np.array([prob(c, e) for c in counts])


def test_change_prob_is_calibrated_without_a_change():
    # constant-rate weekly counts: prob = 1 - p-value of the maximised statistic, so a change with
    # prob >= q shows in about 1 - q of the series (a little fewer: the asymptotic tail is conservative)
    probs = _null_probs(lambda c, e: change_prob(c, e, dispersion(c), 4)[1], seed=3, blocks=57, reps=150)
    for q in (0.5, 0.8, 0.9, 0.95):
        assert np.mean(probs >= q) <= (1.0 - q) + 0.04
    assert np.mean(probs >= 0.5) >= 0.3  # a p-value, not a constant 0


def test_change_prob_of_a_doubled_rate():
    rng = np.random.default_rng(4)
    e = np.full(57, 7.0)
    lam = np.where(np.arange(57) >= 53, 40.0, 20.0) * e  # doubled for the last 4 weeks
    c = rng.poisson(lam).astype(float)
    stat, prob = change_prob(c, e, dispersion(c), 4)
    assert stat > 20 and prob > 0.99


def test_two_change_statistic_is_the_best_pair_of_splits():
    rng = np.random.default_rng(5)
    e = rng.uniform(5.0, 7.0, 15)
    c = rng.poisson(30.0, (3, 15)).astype(float)
    c[1, 6:10] *= 2.0  # a bump

    def brute(row: np.ndarray) -> float:
        def cost(a: int, z: int) -> float:
            return float(_seg_cost(np.array(row[a:z].sum()), np.array(e[a:z].sum())))

        n = len(row)
        return max(cost(0, n) - cost(0, k1) - cost(k1, k2) - cost(k2, n)
                   for k1 in range(3, n - 5) for k2 in range(k1 + 3, n - 2))

    np.testing.assert_allclose(_sup_deviance2(c, e, 3), [brute(r) for r in c], rtol=1e-12)
    assert _sup_deviance2(c[:, :8], e[:8], 3).tolist() == [0.0, 0.0, 0.0]  # no room for two splits


def test_pair_prob_is_calibrated_without_a_change_and_sees_a_bump():
    # one or two changes against none, min-p adjusted: at most about 1 - q of constant-rate stretches
    # reach prob q
    probs = _null_probs(lambda c, e: pair_prob(c, e, dispersion(c), 4), seed=6, blocks=30, reps=100)
    for q in (0.5, 0.8, 0.9, 0.95):
        assert np.mean(probs >= q) <= (1.0 - q) + 0.05
    assert np.mean(probs >= 0.5) >= 0.3
    rng, e = np.random.default_rng(6), np.full(30, 7.0)
    bump = rng.poisson(np.where((np.arange(30) >= 12) & (np.arange(30) < 18), 40.0, 20.0) * e).astype(float)
    assert pair_prob(bump, e, dispersion(bump), 4) > 0.99


def test_a_change_is_no_surer_than_the_pairs_it_is_part_of():
    rng = np.random.default_rng(7)
    e = np.full(60, 7.0)
    lam = np.select([np.arange(60) < 20, np.arange(60) < 40], [20.0, 30.0], 20.0) * e
    c = rng.poisson(lam).astype(float)
    phi = dispersion(c)
    stats = _change_stats(c, e, [20, 40], phi, 4)
    local = [change_prob(c[a:z], e[a:z], phi, 4, e_phi=e) for a, z in ((0, 40), (20, 60))]
    pair = pair_prob(c, e, phi, 4, e_phi=e)
    for (stat, prob), (local_stat, local_prob) in zip(stats, local, strict=True):
        assert stat == pytest.approx(local_stat, rel=1e-12)
        assert prob == pytest.approx(min(local_prob, pair), rel=1e-12)
    assert pair > 0.99 and all(prob > 0.99 for _, prob in stats)  # a real bump stays sure
    # one change: its own test
    assert _change_stats(c, e, [20], phi, 4) == [pytest.approx(change_prob(c, e, phi, 4, e_phi=e), rel=1e-12)]


def _brute_force_cost(c: np.ndarray, e: np.ndarray, pen: float, min_len: int) -> float:
    """The smallest penalised cost over every segmentation with segments of at least ``min_len``."""
    n = len(c)

    def best_from(a: int) -> float:
        whole = float(_seg_cost(c[a:].sum(), e[a:].sum()))
        splits = [float(_seg_cost(c[a:k].sum(), e[a:k].sum())) + pen + best_from(k)
                  for k in range(a + min_len, n - min_len + 1)]
        return min([whole, *splits])

    return best_from(0)


# seeds 55 ... 619 are series where pruning without the minimum length's delay missed the optimum
@pytest.mark.parametrize("seed", [*range(6), 55, 171, 381, 578, 595, 619])
def test_both_recursions_find_the_brute_force_optimum(seed):
    # low rates with empty stretches
    rng = np.random.default_rng(seed)
    n, min_len = 22, int(rng.integers(4, 7))
    e = np.full(n, 7.0)
    c = rng.poisson(np.repeat(rng.choice([0.0, 0.05, 0.3, 1.0], 4), 6)[:n] * e).astype(float)
    cs, ce = np.r_[0.0, np.cumsum(c)], np.r_[0.0, np.cumsum(e)]
    pen = 2.0 * np.log(n)
    truth = _brute_force_cost(c, e, pen, min_len)
    for recursion in (_dense_recursion, _pruned_recursion):
        best, last = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=int)
        best[0] = -pen
        recursion(cs, ce, pen, min_len, best, last)
        assert best[n] == pytest.approx(truth, rel=1e-12, abs=1e-9), recursion.__name__


def _one_end_at_a_time(cs, ce, pen, min_len, best, last) -> None:
    """The plain optimal-partitioning recursion the dense one must equal exactly."""
    for t in range(min_len, len(cs)):
        s = slice(0, t - min_len + 1)
        total = best[s] + _seg_cost(cs[t] - cs[s], ce[t] - ce[s])
        j = int(total.argmin())
        best[t], last[t] = total[j] + pen, j


def test_the_dense_recursion_equals_the_plain_one_exactly():
    # several ends are minimised at once: every best and every back-pointer must be the same
    rng = np.random.default_rng(0)
    for _ in range(1500):
        n, min_len = int(rng.integers(0, 60)), int(rng.integers(0, 10))
        e = np.where(rng.random(n) < 0.1, 0.0, 7.0)
        c = rng.poisson(rng.choice([0.0, 0.3, 3.0, 30.0]) * np.maximum(e, 1)).astype(float)
        cs, ce = np.r_[0.0, np.cumsum(c)], np.r_[0.0, np.cumsum(e)]
        pen = float(rng.choice([0.0, 2.0 * np.log(max(n, 2))]))
        runs = []
        for recursion in (_dense_recursion, _one_end_at_a_time):
            best, last = np.full(n + 1, np.inf), np.zeros(n + 1, dtype=int)
            best[0] = -pen
            with np.errstate(divide="ignore", invalid="ignore"):
                recursion(cs, ce, pen, min_len, best, last)
            runs.append((best, last))
        (best, last), (want, _) = runs
        where = f"n={n} min_len={min_len}"
        # a vectorised log may round differently by an ulp where the arrays differ in shape: the optima
        # agree to rounding, and each back-pointer of the dense recursion reaches its end's optimum
        np.testing.assert_allclose(best, want, rtol=1e-12, atol=1e-9, err_msg=where)
        for t in np.flatnonzero(np.isfinite(want))[1:]:
            s = last[t]
            reached = want[s] + _seg_cost(cs[t] - cs[s], ce[t] - ce[s]) + pen
            assert reached == pytest.approx(want[t], rel=1e-12, abs=1e-9), where


def test_change_dates_keep_a_timezone():
    rng = np.random.default_rng(4)
    y = np.r_[0.0, np.cumsum(rng.poisson(np.where(np.arange(400) < 200, 5.0, 20.0)))]
    naive = pd.date_range("2024-01-01", periods=len(y), freq="D")
    t = np.arange(len(y), dtype=float)
    plain = segment_rate(naive, t, y, block=7)
    berlin = segment_rate(naive.tz_localize("Europe/Berlin"), t, y, block=7)
    assert len(plain.changes) == 1
    assert (berlin.changes == plain.changes.tz_localize("Europe/Berlin")).all()
    for col in ("date", "date_low", "date_high"):
        assert (berlin.table[col].dt.tz_localize(None) == plain.table[col]).all()


def test_the_last_change_alone_gets_the_tables_probability():
    rng = np.random.default_rng(3)
    rate = np.select([np.arange(700) < 250, np.arange(700) < 500], [20.0, 45.0], 25.0)
    y = np.r_[0.0, np.cumsum(rng.poisson(rate))]
    dates = pd.date_range("2024-01-01", periods=len(y), freq="D")
    t = np.arange(len(y), dtype=float)
    alone = segment_rate(dates, t, y, block=7)
    both = segment_rate(dates, t, y, block=7)
    assert len(both.table) == 2 and (both.table["date"] == both.changes).all()
    assert alone.last_prob == pytest.approx(both.table["prob"].iloc[-1], rel=1e-12)
    assert "_table" not in alone.__dict__  # the other change was never tested
