"""Tests for capacity.load.queueing against published values and independent formulas.

Published values used:
* Westbay Engineers, Erlang calculator manual, "How much traffic can a trunk group handle?"
  (erlang.com/calculatormanual/howmuchtrafficcanatrunkgrouphandle.htm): 15 lines at 1% blocking
  carry 8.108 erlangs (Erlang B).
* L. Kleinrock, Queueing Systems, Vol. 1 (Wiley, 1975), Section 3.2 (M/M/1): P(wait) = rho,
  T = (1/mu) / (1 - rho), and the FCFS response time is exponential with rate mu (1 - rho);
  Section 3.5 (M/M/m): Erlang's C formula, which for m = 2 reduces to 2 rho^2 / (1 + rho).
* L. Kleinrock, "Power and deterministic rules of thumb for probabilistic problems in computer
  communications", ICC 1979: power rho / (T / S) of M/M/1 peaks at rho = 1/2.
Independent checks: Erlang C by the direct factorial sum in exact rational arithmetic, by
scipy's Poisson distribution in log space for thousands of servers, and a seeded simulation.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from capacity.errors import ArgumentError, CapacityError
from capacity.load.queueing import (
    erlang_b,
    erlang_c,
    mmc_response_quantile,
    mmc_response_time,
    mmc_utilisation,
    mmc_wait,
    mmc_wait_quantile,
    utilisation_knee,
    utilisation_limit,
)


def _erlang_c_direct(c: int, a: Fraction) -> Fraction:
    """Textbook Erlang C (Kleinrock 1975, Sec. 3.5) by the factorial sum, in exact arithmetic."""
    top = a**c / math.factorial(c) * Fraction(c) / (c - a)
    return top / (sum(a**k / math.factorial(k) for k in range(c)) + top)


def _erlang_b_poisson(c: int, a: float) -> float:
    """Erlang B = Poisson pmf(c; A) / cdf(c; A), in log space (independent of the recursion)."""
    return math.exp(stats.poisson.logpmf(c, a) - stats.poisson.logcdf(c, a))


# ------------------------------------------------------------------------- Erlang B and C


def test_erlang_b_matches_westbay_trunk_table() -> None:
    # Westbay: 15 lines, 1% blocking -> 8.108 erlangs. The published figure is rounded to
    # 4 significant digits, so B must cross 1% between 8.1075 and 8.1085.
    assert erlang_b(15, 8.1075) < 0.01 < erlang_b(15, 8.1085)
    assert erlang_b(15, 8.108) == pytest.approx(0.01, abs=5e-6)


def test_erlang_c_one_and_two_servers_closed_forms() -> None:
    # Kleinrock Sec. 3.2: M/M/1 waits with probability rho.
    for rho in (0.1, 0.5, 0.9, 0.999):
        assert erlang_c(1, rho) == pytest.approx(rho, rel=1e-12)
    # Sec. 3.5 with m = 2: C = 2 rho^2 / (1 + rho); A = 1 erlang gives exactly 1/3.
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-14)
    for rho in (0.2, 0.6, 0.95):
        assert erlang_c(2, 2 * rho) == pytest.approx(2 * rho**2 / (1 + rho), rel=1e-12)


@pytest.mark.parametrize("c", [1, 3, 10, 55, 120])
@pytest.mark.parametrize("rho", [0.05, 0.5, 0.8, 0.87, 0.99])
def test_erlang_c_matches_exact_factorial_sum(c: int, rho: float) -> None:
    a = Fraction(rho).limit_denominator(10**6) * c
    assert erlang_c(c, float(a)) == pytest.approx(float(_erlang_c_direct(c, a)), rel=1e-11)


@pytest.mark.parametrize(("c", "a"), [(1000, 950.0), (2000, 1990.0), (5000, 4900.0), (5000, 10.0)])
def test_erlang_b_and_c_are_stable_for_thousands_of_servers(c: int, a: float) -> None:
    b = erlang_b(c, a)
    assert b == pytest.approx(_erlang_b_poisson(c, a), rel=1e-9, abs=1e-300)
    prob_wait = erlang_c(c, a)
    assert 0.0 <= prob_wait <= 1.0
    assert prob_wait == pytest.approx(c * b / (c - a * (1 - b)), rel=1e-12, abs=1e-300)
    assert math.isfinite(prob_wait)


def test_erlang_c_is_vectorised_and_keeps_series() -> None:
    loads = pd.Series([0.5, 1.0, 1.5], index=["x", "y", "z"])
    out = erlang_c(2, loads)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["x", "y", "z"]
    np.testing.assert_allclose(out.to_numpy(), [2 * r**2 / (1 + r) for r in (0.25, 0.5, 0.75)])
    arr = erlang_c(np.array([1, 2, 4]), np.array([0.5, 1.0, 2.0]))
    assert isinstance(arr, np.ndarray)
    assert isinstance(erlang_c(4, 2.0), float)
    assert erlang_c(4, 0.0) == 0.0


@settings(max_examples=40, deadline=None)
@given(c=st.integers(1, 300), rho=st.floats(0.0, 0.999))
def test_erlang_c_bounds_and_ordering(c: int, rho: float) -> None:
    a = rho * c
    prob_wait = erlang_c(c, a)
    assert erlang_b(c, a) <= prob_wait + 1e-15 <= 1.0 + 1e-15
    # more load waits more; one more server waits less
    assert erlang_c(c, min(a * 1.0005, c * 0.9995)) >= prob_wait - 1e-15
    assert erlang_c(c + 1, a) <= prob_wait + 1e-15


# ------------------------------------------------------------------------------ M/M/c


def test_mm1_mean_times_and_quantiles() -> None:
    # Kleinrock Sec. 3.2, lambda = 80/s, mu = 100/s (rho = 0.8): W_q = rho / (mu - lambda) = 40 ms,
    # T = 1 / (mu - lambda) = 50 ms, T ~ Exp(mu - lambda), P(W_q > t) = rho exp(-(mu - lambda) t).
    assert mmc_utilisation(80.0, 100.0, 1) == pytest.approx(0.8)
    assert mmc_wait(80.0, 100.0, 1) == pytest.approx(0.040, rel=1e-12)
    assert mmc_response_time(80.0, 100.0, 1) == pytest.approx(0.050, rel=1e-12)
    for q in (0.5, 0.9, 0.99, 0.999):
        assert mmc_response_quantile(80.0, 100.0, 1, q) == pytest.approx(-math.log(1 - q) / 20, rel=1e-9)
        assert mmc_wait_quantile(80.0, 100.0, 1, q) == pytest.approx(
            max(0.0, math.log(0.8 / (1 - q)) / 20), rel=1e-12, abs=1e-15
        )
    # the median wait is 0 when fewer than half of the arrivals wait at all
    assert mmc_wait_quantile(30.0, 100.0, 1, 0.5) == 0.0


def test_mm2_mean_response_time_closed_form() -> None:
    # From Sec. 3.5 with m = 2: T = S / (1 - rho^2).
    for rho in (0.1, 0.5, 0.9):
        assert mmc_response_time(2 * rho * 10.0, 10.0, 2) == pytest.approx(0.1 / (1 - rho**2), rel=1e-12)


def test_response_quantile_when_theta_equals_mu() -> None:
    # c = 2, lambda = mu: theta = c mu - lambda = mu, the hypoexponential degenerates to Erlang-2.
    mu = 5.0
    prob_wait = erlang_c(2, 1.0)
    t = mmc_response_quantile(mu, mu, 2, 0.95)
    tail = (1 - prob_wait) * math.exp(-mu * t) + prob_wait * (1 + mu * t) * math.exp(-mu * t)
    assert tail == pytest.approx(0.05, rel=1e-9)


def test_mmc_matches_seeded_simulation() -> None:
    # Independent check of the M/M/4 wait probability, mean and 95th-percentile response time by
    # simulating FCFS with the Kiefer-Wolfowitz workload vector.
    rng = np.random.default_rng(7)
    c, lam, mu, n = 4, 3.2, 1.0, 120_000
    gaps = rng.exponential(1 / lam, n)
    service = rng.exponential(1 / mu, n)
    free_at = np.zeros(c)
    clock = 0.0
    waits = np.empty(n)
    for i in range(n):
        clock += gaps[i]
        k = int(np.argmin(free_at))
        start = max(clock, free_at[k])
        waits[i] = start - clock
        free_at[k] = start + service[i]
    waits, resp = waits[5000:], (waits + service)[5000:]
    assert np.mean(waits > 0) == pytest.approx(erlang_c(c, lam / mu), abs=0.02)
    assert resp.mean() == pytest.approx(mmc_response_time(lam, mu, c), rel=0.04)
    assert np.quantile(resp, 0.95) == pytest.approx(mmc_response_quantile(lam, mu, c, 0.95), rel=0.04)
    assert np.quantile(waits, 0.95) == pytest.approx(mmc_wait_quantile(lam, mu, c, 0.95), rel=0.06)


def test_mmc_functions_keep_series_type() -> None:
    lam = pd.Series([1.0, 2.0, 3.0], index=pd.date_range("2010-10-25", periods=3, freq="D"))
    out = mmc_response_time(lam, 1.0, 4)
    assert isinstance(out, pd.Series)
    assert out.index.equals(lam.index)
    assert out.is_monotonic_increasing
    q = mmc_response_quantile(lam, 1.0, 4, 0.99)
    assert isinstance(q, pd.Series)
    assert (q > out).all()


# ---------------------------------------------------------------------- knee and limit


def _knee_by_grid(c: int) -> float:
    """Maximise rho / (T/S) on a fine grid with the direct-sum Erlang C (independent path)."""
    k = np.arange(c)
    fact = np.array([math.factorial(int(i)) for i in k], dtype=float)

    def power(rho: np.ndarray) -> np.ndarray:
        a = rho * c
        top = a**c / math.factorial(c) * c / (c - a)
        prob_wait = top / ((a[:, None] ** k / fact).sum(axis=1) + top)
        return rho / (1 + prob_wait / (c * (1 - rho)))

    grid = np.linspace(0.001, 0.999, 9981)
    best = grid[np.argmax(power(grid))]
    fine = np.linspace(best - 2e-4, best + 2e-4, 4001)
    return float(fine[np.argmax(power(fine))])


def test_utilisation_knee_for_1_2_4_8_16_servers() -> None:
    knees = utilisation_knee(np.array([1, 2, 4, 8, 16]))
    # c = 1: Kleinrock (1979), rho = 1/2; c = 2: power rho (1 - rho^2) peaks at 1/sqrt(3).
    assert knees[0] == pytest.approx(0.5, abs=1e-8)
    assert knees[1] == pytest.approx(1 / math.sqrt(3), abs=1e-8)
    # Values reported in the module's documentation and the issue, to 4 decimals.
    np.testing.assert_allclose(knees, [0.5, 0.5774, 0.6650, 0.7450, 0.8107], atol=5e-5)
    for c, knee in zip([1, 2, 4, 8, 16], knees, strict=True):
        assert knee == pytest.approx(_knee_by_grid(c), abs=2e-6)
    assert np.all(np.diff(knees) > 0)
    assert isinstance(utilisation_knee(8), float)


def test_utilisation_limit_mean_target() -> None:
    # M/M/1: S / (1 - rho) = target  =>  rho = 1 - S / target. Twice the service time -> 50%.
    assert utilisation_limit(0.02, service_time=0.01) == pytest.approx(0.5, abs=1e-12)
    assert utilisation_limit(0.05, service_time=0.01) == pytest.approx(0.8, abs=1e-12)
    # M/M/2: S / (1 - rho^2) = target  =>  rho = sqrt(1 - S / target).
    assert utilisation_limit(0.04, service_time=0.01, servers=2) == pytest.approx(math.sqrt(0.75), abs=1e-12)


def test_utilisation_limit_quantile_target() -> None:
    # M/M/1: T ~ Exp(mu (1 - rho)), so q-quantile = -S ln(1 - q) / (1 - rho).
    s, q, target = 0.01, 0.99, 0.1
    rho = utilisation_limit(target, service_time=s, quantile=q)
    assert rho == pytest.approx(1 + s * math.log(1 - q) / target, abs=1e-12)


@settings(max_examples=30, deadline=None)
@given(
    c=st.integers(1, 64),
    stretch=st.floats(1.05, 20.0),
    quantile=st.sampled_from([None, 0.5, 0.9, 0.99]),
)
def test_utilisation_limit_inverts_the_response_time(c: int, stretch: float, quantile: float | None) -> None:
    s = 0.004
    floor = s if quantile is None else -s * math.log(1 - quantile)
    target = floor * stretch
    rho = utilisation_limit(target, service_time=s, servers=c, quantile=quantile)
    assert 0.0 < rho < 1.0
    lam = rho * c / s
    got = (
        mmc_response_time(lam, 1 / s, c)
        if quantile is None
        else mmc_response_quantile(lam, 1 / s, c, quantile)
    )
    assert got == pytest.approx(target, rel=1e-8)


def test_utilisation_limit_more_servers_allow_more_utilisation() -> None:
    limits = [utilisation_limit(0.1, service_time=0.01, servers=c, quantile=0.99) for c in (1, 4, 16, 256)]
    assert limits == sorted(limits)
    # and it handles large pools
    assert 0.9 < utilisation_limit(0.011, service_time=0.01, servers=2000) < 1.0


def test_utilisation_limit_keeps_series_type() -> None:
    targets = pd.Series([0.02, 0.05], index=["p50", "p99"])
    out = utilisation_limit(targets, service_time=0.01)
    assert isinstance(out, pd.Series)
    assert list(out.index) == ["p50", "p99"]
    np.testing.assert_allclose(out.to_numpy(), [0.5, 0.8], atol=1e-12)


def test_utilisation_limit_unreachable_target() -> None:
    unreachable = r"latency_target 0\.005 s cannot be met .* 0\.01 s \(the mean service time\)"
    with pytest.raises(CapacityError, match=unreachable):
        utilisation_limit(0.005, service_time=0.01)
    with pytest.raises(CapacityError, match=r"0\.99-quantile of the service time"):
        utilisation_limit(0.03, service_time=0.01, quantile=0.99)  # needs > 0.046 s even when idle


# --------------------------------------------------------------------------------- errors


def test_invalid_servers() -> None:
    with pytest.raises(ArgumentError, match=r"^erlang_c: servers must be an integer >= 1, not 0$"):
        erlang_c(0, 0.5)
    with pytest.raises(ArgumentError, match=r"^erlang_b: servers must be an integer >= 1, not 2\.5$"):
        erlang_b(2.5, 1.0)
    with pytest.raises(ArgumentError, match=r"^utilisation_knee: servers\[1\] must be an integer >= 1, not "
                                            r"0$"):
        utilisation_knee([1, 0])
    with pytest.raises(ArgumentError, match=r"^erlang_b: servers\[2\] must be an integer >= 1, not 2\.5$"):
        erlang_b(np.array([1.0, 2.0, 2.5]), 1.0)  # whole numbers in a float array are fine, 2.5 is not
    with pytest.raises(ArgumentError, match=r"^erlang_c: servers must be an integer >= 1 or an array of "
                                            r"them, not '2'$"):
        erlang_c("2", 1.0)


def test_invalid_rates_and_loads() -> None:
    with pytest.raises(ArgumentError, match=r"^mmc_wait: arrival_rate must be a finite number >= 0, not -1$"):
        mmc_wait(-1.0, 1.0, 1)
    with pytest.raises(ArgumentError, match=r"^mmc_response_time: service_rate must be a finite number > 0, "
                                            r"not 0$"):
        mmc_response_time(1.0, 0.0, 1)
    with pytest.raises(ArgumentError, match=r"^erlang_b: offered_load must be a finite number >= 0, not "
                                            r"nan$"):
        erlang_b(3, float("nan"))
    loads = pd.Series([1.0, -2.0], index=["mon", "tue"])
    with pytest.raises(ArgumentError, match=r"^erlang_b: offered_load\['tue'\] must be a finite number >= 0, "
                                            r"not -2$"):
        erlang_b(3, loads)
    with pytest.raises(ArgumentError, match=r"^mmc_utilisation: arrival_rate, service_rate, servers must "
                                            r"broadcast together, not shapes arrival_rate \(2,\), "
                                            r"service_rate \(\), servers \(3,\)$"):
        mmc_utilisation([1.0, 2.0], 1.0, [1, 2, 3])


def test_unstable_queue_is_rejected() -> None:
    with pytest.raises(
        ArgumentError,
        match=r"^erlang_c: offered_load must be below servers .* "
        r"got offered_load=5 erlangs with servers=4 \(utilisation 1\.25\)$",
    ):
        erlang_c(4, 5.0)
    with pytest.raises(
        ArgumentError,
        match=r"^mmc_response_time: utilisation must be below 1 for a steady state; got 1 "
        r"\(arrival_rate 8 requests/s over servers \* service_rate = 8 requests/s\)$",
    ):
        mmc_response_time(8.0, 2.0, 4)


def test_invalid_quantile_and_targets() -> None:
    with pytest.raises(ArgumentError, match=r"^mmc_wait_quantile: q must be a finite number in \[0, 1\), "
                                            r"not 1\.0$"):
        mmc_wait_quantile(1.0, 2.0, 1, 1.0)
    with pytest.raises(ArgumentError, match=r"^utilisation_limit: quantile must be a finite number in "
                                            r"\(0, 1\) or None, not 0\.0$"):
        utilisation_limit(0.1, service_time=0.01, quantile=0.0)
    with pytest.raises(ArgumentError, match=r"^utilisation_limit: latency_target must be a finite number > "
                                            r"0, "
                                            r"not -1$"):
        utilisation_limit(-1.0, service_time=0.01)
    with pytest.raises(ArgumentError, match=r"^utilisation_limit: service_time must be a finite number > 0, "
                                            r"not 0\.0$"):
        utilisation_limit(0.1, service_time=0.0)
    with pytest.raises(ArgumentError, match=r"^utilisation_limit: servers must be an integer >= 1, not "
                                            r"2\.0$"):
        utilisation_limit(0.1, service_time=0.01, servers=2.0)
