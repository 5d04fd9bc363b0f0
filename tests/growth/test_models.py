"""Tests of capacity.growth.models: the candidate shapes and their registry."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.errors import ArgumentError
from capacity.growth.backtest import as_series, observe, prepare
from capacity.growth.fit import fit_growth
from capacity.growth.models import (
    _GAINS,
    _LT_GRID,
    MODELS,
    Drift,
    Exponential,
    GrowthModel,
    Linear,
    Observed,
    _line,
    _parabola,
    llt_filter,
    register_model,
    unregister_model,
)
from capacity.growth.regimes import segment_rate


def test_helm_cap_within_ten_percent_of_the_real_saturation(helm_fit):
    assert helm_fit.history.max() == 277
    assert helm_fit.cap == pytest.approx(282, rel=0.10)
    assert helm_fit.cap >= 277  # bounded below by the largest value seen
    assert helm_fit.cap_determined
    summary = helm_fit.summary()
    assert summary.loc["logistic", "cap"] == pytest.approx(282, rel=0.10)
    assert summary.loc["logistic", "cap_se"] > 0


def test_fixed_cap_is_used(helm_fit):
    fit = fit_growth(helm_fit.history, cap=300.0, models=["logistic", "piecewise"])
    s = fit.summary()
    assert s.loc["logistic", "cap"] == 300.0
    assert s.loc["logistic", "note"] == "cap fixed by the caller"
    assert fit.cap == 300.0


def test_poorly_determined_cap_is_flagged(sample_fit):
    # a straight-line series with a jump up: nothing pins a cap down
    s = sample_fit.summary()
    for m in ("logistic", "gompertz"):
        assert not s.loc[m, "cap_determined"]
        assert "poorly determined" in s.loc[m, "note"]
    assert any("cap poorly determined" in n for n in sample_fit.notes)


def test_non_saturating_series_drops_the_sigmoids(vcpkg_fit):
    fit = vcpkg_fit
    s = fit.summary()
    assert {"logistic", "gompertz"} <= set(s.index)
    assert "logistic" not in fit.weights.index
    assert "rate does not fall" in s.loc["logistic", "note"]


# ------------------------------------------------------------------------------ the registry


class Constant(GrowthModel):
    """A toy shape: the count stays where it is."""

    name = "toy"

    def fit(self, data):
        return self.candidate(data, {"level": data.y_last}, rate_now=0.0)

    def level(self, c, h):
        return np.full(len(h), c.y_last)


@pytest.fixture
def toy():
    model = register_model(Constant())
    try:
        yield model
    finally:
        unregister_model("toy")


def test_the_built_in_shapes_are_registered_in_order():
    assert list(MODELS) == ["piecewise", "linear", "drift", "exponential", "logistic", "gompertz",
                            "local_trend", "additive_trend"]
    assert all(isinstance(m, GrowthModel) and m.name == name for name, m in MODELS.items())
    assert [m for m, model in MODELS.items() if model.saturating] == ["logistic", "gompertz"]
    assert capacity.growth.MODELS is MODELS


def test_a_registered_model_is_fitted_backtested_weighed_and_simulated(toy):
    assert MODELS["toy"] is toy and list(MODELS)[-1] == "toy"
    # a platform whose deletions balance its additions: standing still is a fair forecast
    rng = np.random.default_rng(1)
    churn = rng.poisson(3, 400) - rng.poisson(3, 400)
    apps = pd.Series(5000.0 + np.cumsum(churn), index=pd.date_range("2020-01-01", periods=400))
    fit = fit_growth(apps, models=["linear", "toy"])
    assert [c.name for c in fit.candidates] == ["linear", "toy"]
    assert list(fit.backtest.index) == ["linear", "toy"]
    assert fit.backtest.attrs["n_origins"] >= 2 and np.isfinite(fit.coverage)
    mase = fit.backtest["mase"]
    assert np.isfinite(mase).all()
    assert (fit.weights > 0.3).all() and fit.weights.sum() == pytest.approx(1.0)
    assert np.allclose(fit.weights, (1 / mase) / (1 / mase).sum(), rtol=1e-9)
    assert fit.summary().loc["toy", "params"] == f"level={fit.last_value:.4g}"
    assert np.isnan(fit.cap)  # neither shape saturates
    assert (fit.candidates[1].mean_path(30) == fit.last_value).all()
    p = fit.paths(60, n=100, seed=1)
    assert p.shape == (100, 60) and (p.to_numpy() >= 0).all()


def test_an_unregistered_model_cannot_be_asked_for(sample_apps):
    model = register_model(Constant())
    assert unregister_model("toy") is model
    assert "toy" not in MODELS
    with pytest.raises(ArgumentError, match=r"^fit_growth: models must be .*'additive_trend' or None, "
                                            r"not \['toy'\]"):
        fit_growth(sample_apps["apps"][:"2010-06-30"], models=["toy"])


def test_the_registry_refuses_bad_models():
    with pytest.raises(ArgumentError, match=r"^register_model: name 'linear' is already registered"):
        register_model(Linear())
    with pytest.raises(ArgumentError, match=r"^register_model: model must be a GrowthModel, not"):
        register_model(object())

    class Nameless(Constant):
        name = ""

    with pytest.raises(ArgumentError, match=r"^register_model: name must be a non-empty string"):
        register_model(Nameless())
    with pytest.raises(ArgumentError, match=r"^unregister_model: name must be one of 'piecewise'"):
        unregister_model("quadratic")
    assert list(MODELS) == ["piecewise", "linear", "drift", "exponential", "logistic", "gompertz",
                            "local_trend", "additive_trend"]


def test_every_mean_path_starts_at_the_last_count_and_never_falls(sample_fit):
    for c in sample_fit.candidates:
        path = c.mean_path(365)
        assert path.shape == (365,)
        assert (path >= sample_fit.last_value).all(), c.name
        assert (np.diff(path) >= 0).all(), c.name
        assert c.increments(365).sum() == pytest.approx(path[-1] - sample_fit.last_value)
        assert c.rate_now >= 0


def test_a_saturating_curve_levels_off_at_its_cap(helm_fit):
    for c in helm_fit.candidates:
        if c.saturating:
            path = c.mean_path(3650)
            assert path[-1] <= c.cap * (1 + 1e-9)
            assert path[-1] == pytest.approx(c.cap, rel=0.02)


class Picky(Constant):
    """A toy shape that only fits the whole series (never a backtest origin)."""

    name = "picky"
    failure = "too little history"

    def fit(self, data):
        return super().fit(data) if data.t_last >= 400 else None


def test_a_model_the_backtest_cannot_judge_still_forecasts(sample_apps):
    register_model(Picky())
    try:
        fit = fit_growth(sample_apps["apps"][:"2010-10-20"], models=["picky"])
    finally:
        unregister_model("picky")
    assert list(fit.weights.items()) == [("picky", 1.0)]
    assert np.isnan(fit.backtest.loc["picky", "mase"])
    assert fit.scale == 1.0 and np.isnan(fit.coverage)
    assert any("no candidate could be judged" in n for n in fit.notes)
    assert any("the paths are not calibrated" in n for n in fit.notes)
    assert (fit.paths(30, n=20).to_numpy() >= fit.last_value).all()


def test_a_cap_at_the_search_bound_is_said_unbounded_not_a_number():
    # an accelerating series shows no ceiling: the S-curves' best cap is the search bound itself
    days = pd.date_range("2020-01-01", periods=400, name="date")
    s = pd.Series(np.floor(100 * np.exp(np.arange(400) / 150.0)), index=days)
    summary = fit_growth(s, models=["linear", "logistic", "gompertz"], n_origins=2).summary()
    for name in ("logistic", "gompertz"):
        assert summary.loc[name, "cap"] == np.inf
        assert summary.loc[name, "note"].startswith("cap unbounded")
        assert not summary.loc[name, "cap_determined"]


def test_one_filter_pass_serves_every_truncation_of_a_series():
    rng = np.random.default_rng(5)
    z = np.log1p(np.cumsum(rng.poisson(30.0, 120)).astype(float))
    cuts = [z[:n] for n in (20, 57, 58, 120)]
    together = llt_filter(cuts, *_LT_GRID)  # prefixes of one series: one pass, read at each end
    for i, zi in enumerate(cuts):
        alone = llt_filter([zi], *_LT_GRID)
        for a, b in zip(together, alone, strict=True):  # other array shapes: a tolerance
            np.testing.assert_allclose(a[i], b[0], rtol=1e-12)
    # the data-free part is cached per length: a longer series grows it, a fresh cache agrees
    _GAINS.clear()
    short, long = llt_filter([cuts[0]], *_LT_GRID), llt_filter([cuts[3]], *_LT_GRID)
    _GAINS.clear()
    for a, b in zip(llt_filter([cuts[3]], *_LT_GRID) + llt_filter([cuts[0]], *_LT_GRID), long + short,
                    strict=True):
        np.testing.assert_array_equal(a, b)
    mixed = llt_filter([cuts[0], cuts[3][1:]], *_LT_GRID)  # not prefixes: one pass per series
    for a, b in zip(mixed, llt_filter([cuts[3][1:]], *_LT_GRID), strict=True):
        np.testing.assert_allclose(a[1], b[0], rtol=1e-12)
    # two points: the exact start, the slope between them
    assert (llt_filter([np.array([1.0, 3.0])], *_LT_GRID)[2] == 2.0).all()


def test_the_additive_trend_extends_the_recent_slope_in_a_straight_line():
    rng = np.random.default_rng(8)
    # 5 apps a day for a year, then 12: the local slope follows the recent rate, the global line lags
    rate = np.where(np.arange(540) < 365, 5.0, 12.0)
    apps = pd.Series(np.cumsum(rng.poisson(rate)).astype(float),
                     index=pd.date_range("2024-01-01", periods=540, freq="D"))
    fit = fit_growth(apps, models=["additive_trend", "linear"], n_origins=0)
    trend = {c.name: c for c in fit.candidates}["additive_trend"]
    assert trend.params["rate"] == pytest.approx(12.0, rel=0.15)
    assert trend.rate_now == trend.params["rate"]
    path = trend.mean_path(30)
    np.testing.assert_allclose(np.diff(np.r_[trend.y_last, path]), trend.params["rate"], rtol=1e-12)
    assert {c.name: c for c in fit.candidates}["linear"].params["rate"] < 9.0


def test_the_closed_form_line_and_parabola_agree_with_polyfit():
    rng = np.random.default_rng(1)
    for _ in range(20):
        x = np.sort(rng.uniform(0, 3000, 60))
        y = 5 + 0.3 * x + rng.normal(0, 3, 60)
        w = rng.uniform(0.5, 3, 60)
        np.testing.assert_allclose(_line(x, y), np.polyfit(x, y, 1), rtol=1e-11)
        # polyfit's weights multiply the residuals, _line's their squares
        np.testing.assert_allclose(_line(x, y, w), np.polyfit(x, y, 1, w=np.sqrt(w)), rtol=1e-11)
        xs, ys = np.sort(rng.uniform(5, 9, 3)), rng.normal(0, 1, 3)
        np.testing.assert_allclose(_parabola(xs, ys), np.polyfit(xs, ys, 2)[:2], rtol=1e-7)
    assert _line(np.full(4, 2.0), np.arange(4.0)) == (0.0, 1.5)  # no spread in x: a flat line


def _observed(apps: pd.Series) -> Observed:
    p = prepare(as_series(apps))
    return observe(p, segment_rate(p.dates, p.t, p.y, block=p.block, min_blocks=p.min_blocks), None, {})


def test_the_exponential_is_fitted_weighted_by_the_counts():
    # log y on t, each squared residual weighted by y (polyfit's w = sqrt(y))
    rng = np.random.default_rng(2)
    apps = pd.Series(np.cumsum(rng.poisson(np.linspace(3, 12, 500))) + 50.0,
                     index=pd.date_range("2024-01-01", periods=500, freq="D"))
    data = _observed(apps)
    c = Exponential().fit(data)
    g, a = np.polyfit(data.t, np.log(data.y), 1, w=np.sqrt(data.y))
    assert c.params["growth_per_day"] == pytest.approx(max(g, 0.0), rel=1e-10)
    assert c.params["log_intercept"] == pytest.approx(a, rel=1e-10)


def test_a_flat_series_gets_a_zero_slope_without_a_clip_note():
    flat = pd.Series(500.0, index=pd.date_range("2024-01-01", periods=400, freq="D"))
    c = Linear().fit(_observed(flat))
    assert c.params["rate"] == 0.0 and c.note == ""


def test_the_drift_holds_the_mean_rate_of_the_last_year():
    days = pd.date_range("2023-01-01", periods=900, freq="D")
    # 3 apps a day for 400 days, then 10: the last year lies wholly in the second regime
    apps = pd.Series(np.cumsum(np.where(np.arange(900) < 400, 3.0, 10.0)), index=days)
    c = Drift().fit(_observed(apps))
    assert c.params["rate"] == pytest.approx(10.0, rel=1e-9)
    assert c.params["window_days"] == pytest.approx(365.25)
    np.testing.assert_allclose(c.mean_path(5), apps.iloc[-1] + 10.0 * np.arange(1, 6), rtol=1e-12)
    # half a year of history: the whole of it
    half_year = _observed(pd.Series(np.cumsum(np.full(180, 4.0)), index=days[:180]))
    short = Drift().fit(half_year)
    assert short.params["rate"] == pytest.approx(4.0, rel=1e-9)
    assert short.params["window_days"] == half_year.t_last - half_year.t[0] < 180
    # a count that fell over the year keeps its negative rate unless the history never fell
    falling = pd.Series(np.r_[np.full(400, 900.0), np.linspace(900, 700, 500)], index=days)
    assert Drift().fit(_observed(falling)).params["rate"] < 0
