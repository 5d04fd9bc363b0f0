"""Tests of capacity.growth.paths: GrowthFit.paths and GrowthFit.forecast, and the calibration grid."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.growth.fit import fit_growth
from capacity.growth.paths import (
    _LOG_BOUND,
    SCALE_GRID,
    CoverageGrid,
    Uncertainty,
    _jumps,
    origin_draws,
    simulate_paths,
)


def test_sample_paths_never_fall(sample_fit):
    assert sample_fit.monotone
    p = sample_fit.paths(365, n=500, seed=3).to_numpy()
    assert (p >= sample_fit.last_value).all()
    assert (np.diff(p, axis=1) >= 0).all()


@pytest.mark.parametrize("hazard", [1e-4, 2e-3, 0.05])
def test_future_jumps_are_the_running_sum_of_the_drawn_jumps(hazard):
    # few paths with a jump (only they are summed) and many (all are)
    n, horizon = 400, 365
    got = _jumps(n, horizon, hazard, np.random.default_rng(5))
    rng = np.random.default_rng(5)
    k = rng.poisson(hazard * horizon, size=n)
    dense = np.zeros((n, horizon))
    np.add.at(dense, (np.repeat(np.arange(n), k), rng.integers(0, horizon, size=int(k.sum()))),
              rng.standard_normal(int(k.sum())))
    np.testing.assert_array_equal(got, np.cumsum(dense, axis=1))
    assert (got[k == 0] == 0).all()


@pytest.mark.parametrize("monotone", [True, False])
@pytest.mark.parametrize("hazard", [0.0, 1e-4, 2e-3, 0.05])
def test_paths_equal_the_dense_formula(monotone, hazard):
    # only the paths with a jump get a day-by-day log rate: the others must come out the same
    unc = Uncertainty(rate_log_sd=0.3, hazard=hazard, shock_sd=0.8, phi=1.7, noise_var=0.4, monotone=monotone)
    bases = np.array([np.linspace(2.0, 3.0, 200), np.full(200, 2.5)])
    weights, scale, n = np.array([0.3, 0.7]), 0.8, 300
    got = simulate_paths(bases, weights, unc, 50.0, n, np.random.default_rng(8), scale)
    rng = np.random.default_rng(8)
    base = weights @ bases / weights.sum()
    g = scale * unc.rate_log_sd * rng.standard_normal(n)
    log_rate = g[:, None] + (_jumps(n, 200, hazard, rng) * min(scale, 1.0) * unc.shock_sd if hazard else 0.0)
    rate = np.exp(np.clip(log_rate, -_LOG_BOUND, _LOG_BOUND)) * base[None, :] + np.zeros((n, 200))
    if monotone:
        want = 50.0 + np.cumsum(rng.gamma(np.maximum(rate, 0.0) / unc.phi, unc.phi), axis=1)
    else:
        sd = np.sqrt(np.maximum(unc.phi * np.abs(rate), unc.noise_var))
        want = np.maximum(50.0 + np.cumsum(rate + sd * rng.standard_normal(rate.shape), axis=1), 0.0)
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_paths_interface(sample_fit):
    p = sample_fit.paths(365)
    assert p.shape == (1000, 365)
    assert isinstance(p.index, pd.RangeIndex) and p.index.name == "path"
    assert isinstance(p.columns, pd.DatetimeIndex)
    assert p.columns[0] == pd.Timestamp("2010-10-21")
    assert p.columns[-1] == pd.Timestamp("2011-10-20")
    assert (np.diff(p.columns.asi8) == np.diff(p.columns.asi8)[0]).all()
    assert p.dtypes.unique().tolist() == [np.dtype(float)]


def test_paths_of_a_falling_count_stay_at_or_above_zero(cran_fit):
    # CRAN lost packages at the end of its history: the last regime's rate is negative
    assert cran_fit.rate < 0
    assert not cran_fit.monotone
    p = cran_fit.paths(4000, n=300).to_numpy()
    assert (p >= 0).all()
    assert (p[:, -1] == 0).mean() > 0.3


def test_forecast_frame(sample_fit):
    fc = sample_fit.forecast(90, level=0.9)
    assert list(fc.columns) == ["mean", "lower", "upper"]
    assert fc.index.name == "date" and len(fc) == 90
    assert fc.index[0] == sample_fit.last_date + pd.Timedelta(days=1)
    # the band widens with the horizon
    width = fc["upper"] - fc["lower"]
    assert width.iloc[-1] > width.iloc[9] > 0


@settings(max_examples=15, deadline=None)
@given(
    horizon=st.integers(1, 400),
    level=st.floats(0.05, 0.99),
    wider=st.floats(0.001, 0.5),
    seed=st.integers(0, 2**31),
    which=st.sampled_from(["sample", "cran"]),
)
def test_forecast_properties(sample_fit, cran_fit, horizon, level, wider, seed, which):
    fit = sample_fit if which == "sample" else cran_fit
    level2 = min(level + wider, 0.995)
    fc = fit.forecast(horizon, level=level, n=400, seed=seed)
    fc2 = fit.forecast(horizon, level=level2, n=400, seed=seed)
    assert (fc["lower"] <= fc["mean"]).all() and (fc["mean"] <= fc["upper"]).all()
    assert (fc2["lower"] <= fc["lower"]).all() and (fc2["upper"] >= fc["upper"]).all()
    assert (fc["lower"] >= 0).all()


@settings(max_examples=15, deadline=None)
@given(horizon=st.integers(1, 200), n=st.integers(1, 300), seed=st.integers(0, 2**31))
def test_same_seed_same_paths(sample_fit, horizon, n, seed):
    a = sample_fit.paths(horizon, n=n, seed=seed)
    b = sample_fit.paths(horizon, n=n, seed=seed)
    pd.testing.assert_frame_equal(a, b)
    assert (a.to_numpy() >= 0).all()
    if n > 20:
        assert not a.equals(sample_fit.paths(horizon, n=n, seed=seed + 1))


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    rate=st.floats(2.0, 200.0),
    jump=st.floats(0.3, 4.0),
    days=st.integers(120, 500),
)
def test_seeded_poisson_growth_paths_never_fall(seed, rate, jump, days):
    rng = np.random.default_rng(seed)
    lam = np.where(np.arange(days) < days * 0.7, rate, rate * jump)
    counts = 1000 + np.cumsum(rng.poisson(lam))
    s = pd.Series(counts, index=pd.date_range("2020-01-01", periods=days, freq="D"))
    fit = fit_growth(s, seed=seed)
    p = fit.paths(120, n=200, seed=seed).to_numpy()
    assert (p >= s.iloc[-1]).all()
    assert (np.diff(p, axis=1) >= 0).all()
    fc = fit.forecast(120, level=0.8, n=200)
    assert (fc["lower"] <= fc["mean"]).all() and (fc["mean"] <= fc["upper"]).all()


def _reference_hits(d, scale: float, level: float) -> np.ndarray:
    """One origin's hits at one scale, written out path by path (the calibration's model, weekly)."""
    u = d.unc
    covered = []
    for k, week in enumerate(d.checks):
        lv = []
        for i in range(len(d.z)):
            log_g = scale * u.rate_log_sd * d.z[i] + min(scale, 1.0) * u.shock_sd * d.jumps[:week, i]
            rate = d.base_w[:week] * np.exp(np.clip(log_g, -np.log(10.0), np.log(10.0)))
            acc = np.sum(np.maximum(rate, 0.0) if u.monotone else rate)
            var = u.phi * abs(acc) if u.monotone else max(u.phi * abs(acc), u.noise_var * 7.0 * week)
            x = d.y_last + acc + np.sqrt(var) * d.walk[k, i]
            lv.append(max(x, d.y_last) if u.monotone else max(x, 0.0))
        lv = np.sort(lv)
        n = len(lv)
        lo, hi = lv[int(np.floor((1 - level) / 2 * (n - 1)))], lv[int(np.ceil((1 + level) / 2 * (n - 1)))]
        covered.append(lo <= d.actual[k] <= hi)
    return np.array(covered)


@pytest.mark.parametrize("monotone, hazard", [((True, False, True), 0.01), ((True, True), 0.01),
                                              ((False, False), 0.01), ((True, False), 0.0)])
def test_the_coverage_grid_evaluates_every_origin_as_one_would_by_hand(monotone, hazard):
    rng = np.random.default_rng(11)
    checks = np.array([4, 8, 12, 13])
    draws = []
    for mono in monotone:
        unc = Uncertainty(rate_log_sd=0.2, hazard=hazard, shock_sd=0.4, phi=3.0, noise_var=50.0,
                          monotone=mono)
        bases = rng.uniform(5.0, 15.0, (2, 13)) * 7.0
        actual = 1000.0 + np.cumsum(rng.uniform(40.0, 120.0, 13))[checks - 1]
        draws.append(origin_draws(bases, np.array([0.3, 0.7]), 1000.0, unc, checks, actual, 60, rng))
    grid = CoverageGrid(draws, 0.8)
    n = len(draws)
    for j in (0, 20, 30, 45, len(SCALE_GRID) - 1):
        for i, d in enumerate(draws):
            np.testing.assert_array_equal(grid.hits(i, j), _reference_hits(d, float(SCALE_GRID[j]), 0.8))
    every = np.stack([grid.hits(i, j) for j in range(len(SCALE_GRID)) for i in range(n)])
    assert 0 < every.mean() < 1  # the scales span covering and missing
    mask = np.ones((n, 4), dtype=bool)
    mask[1, 2:] = False
    j = 30
    expected = sum(int(grid.hits(i, j)[mask[i]].sum()) for i in range(n)) / mask.sum()
    assert grid.pooled(j, mask) == expected
