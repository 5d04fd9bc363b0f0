"""Tests of capacity.growth.backtest: the rolling-origin backtest, the weights and the calibration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.growth.backtest import _recent_prob, as_series, fit_state, fit_with_origins, prepare
from capacity.growth.fit import fit_growth
from capacity.growth.models import MODELS


def test_sample_forecast_follows_the_new_regime(sample_fit, truth):
    # the break is ~6 weeks old: no backtest origin saw it, so the new regime must drive the forecast
    assert sample_fit.weights["piecewise"] == 1.0
    assert any("too recent" in n for n in sample_fit.notes)
    assert sample_fit.rate == pytest.approx(truth["rate_after"], rel=0.10)
    fc = sample_fit.forecast(60)
    growth_30 = fc["mean"].iloc[29] - sample_fit.last_value
    assert growth_30 == pytest.approx(30 * truth["rate_after"], rel=0.15)
    # the public milestone 49 days later: 106,538 apps on 2010-12-08, inside the 80% band
    day = fc.loc["2010-12-08"]
    assert day["lower"] <= 106_538 <= day["upper"]


def test_a_certain_change_whose_new_rate_did_not_last_keeps_the_backtest_weights(spdx_apps):
    # spdx on 2023-03-28: licences came at 0.55/day since 2023-02-10 against 0.08 before (prob ~ 1), but
    # the batch was over: the regime's newer half added none; over the next 90 days 21 licences came
    s = spdx_apps
    fit = fit_growth(s[:"2023-03-28"])
    seg = fit.segmentation
    assert seg.changes[-1] == pd.Timestamp("2023-02-10") and seg.last_prob > 0.99
    assert seg.last_persists < 0.01
    assert fit.weights["piecewise"] < 0.5
    assert any("mostly keeps the backtest's weights" in n and "the chance 0.0" in n for n in fit.notes)
    added = s["2023-03-28":].iloc[90] - s[:"2023-03-28"].iloc[-1]
    growth_90 = fit.forecast(90)["mean"].iloc[-1] - fit.last_value
    assert abs(growth_90 - added) < abs(90 * seg.rates[-1] - added) / 2


def test_backtest_reports_errors_weights_and_coverage(krew_fit):
    bt = krew_fit.backtest
    assert bt.index.name == "model"
    assert list(bt.columns) == ["mase", "mae", "weight"]
    assert bt["weight"].sum() == pytest.approx(1.0)
    assert (bt["mase"].dropna() > 0).all()
    assert bt.attrs["horizon_days"] == krew_fit.horizon_days == 182
    assert bt.attrs["n_origins"] == 8
    assert len(bt.attrs["origins"]) == 8
    assert 0.0 <= krew_fit.coverage <= 1.0
    assert bt.attrs["coverage"] == krew_fit.coverage
    assert krew_fit.scale > 0


def test_weights_follow_backtest_errors(vcpkg_fit):
    fit = vcpkg_fit
    w = fit.weights[fit.weights > 0]
    assert len(w) >= 2 and w.sum() == pytest.approx(1.0)
    mase = fit.backtest.loc[w.index, "mase"]
    # weights are proportional to 1 / mase (renormalised after dropping tiny ones)
    assert np.allclose(w / w.sum(), (1 / mase) / (1 / mase).sum(), rtol=1e-9)
    assert w.idxmax() == mase.idxmin()


def test_calibrated_coverage_close_to_nominal(sample_fit, krew_fit, helm_fit):
    for fit in (sample_fit, krew_fit, helm_fit):
        assert fit.level == 0.8
        assert 0.6 <= fit.coverage <= 0.95


def test_short_history_skips_the_backtest(sample_apps):
    fit = fit_growth(sample_apps["apps"][:100])
    assert np.isnan(fit.coverage)
    assert fit.scale == 1.0
    assert fit.weights["piecewise"] == 1.0
    assert any("too short for a rolling-origin backtest" in n for n in fit.notes)


def _weekly_with_a_late_change() -> pd.Series:
    rng = np.random.default_rng(1)
    rate = np.where(np.arange(120) < 100, 70.0, 210.0)
    return pd.Series(np.cumsum(rng.poisson(rate)) + 100.0,
                     index=pd.date_range("2020-01-05", periods=120, freq="W"))


def test_a_change_is_too_recent_to_judge_for_a_minimum_regime_in_days():
    # weekly data: the minimum regime is 4 points = 28 days after the change (not 4 days)
    p = prepare(as_series(_weekly_with_a_late_change()))
    state = fit_state(p, list(MODELS), None, 2.0)
    assert p.block == 1 and p._step() == 7.0 and state.regime_model is not None
    change = (state.seg.changes[-1] - p.dates[0]).days
    assert _recent_prob(p, state, np.array([change + 27.0] * 2)) == state.seg.last_prob > 0.5
    assert _recent_prob(p, state, np.array([change + 28.0] * 2)) == 0.0
    assert _recent_prob(p, state, np.array([change + 27.0, change + 28.0])) == state.seg.last_prob


@pytest.mark.parametrize("freq", ["D", "W"])
def test_the_batched_fit_equals_fitting_the_whole_and_each_origin_alone(freq):
    apps = _weekly_with_a_late_change()
    if freq == "D":
        apps = apps.resample("D").interpolate().round()
    p = prepare(as_series(apps))
    full, origins = fit_with_origins(p, list(MODELS), None, 2.0, 180, 8)
    alone = [fit_state(p, list(MODELS), None, 2.0)] + [
        fit_state(p.truncate(int(np.searchsorted(p.t, o.t))), list(MODELS), None, 2.0) for o in origins]
    assert len(origins) >= 4
    for got, want in zip([full, *(o.state for o in origins)], alone, strict=True):
        np.testing.assert_array_equal(got.seg.bounds, want.seg.bounds)
        assert list(got.cands) == list(want.cands)
        for name, c in got.cands.items():
            # the filter runs on arrays of another shape in the batch: equal up to rounding
            assert c.params == pytest.approx(want.cands[name].params, rel=1e-12, abs=1e-300), name
