"""Tests of capacity.growth on the sample platform and real registry series."""

from __future__ import annotations

import json
from pathlib import Path

import altair as alt
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import capacity
from capacity.data import load_apps
from capacity.errors import ConfigError, InputDataError
from capacity.growth.fit import MODELS, GrowthFit, fit_growth

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "capacity" / "sample"
GROWTH = ROOT / "data" / "real" / "growth"


def real(name: str) -> pd.Series:
    return load_apps(GROWTH / f"{name}.csv", apps_col="value")["apps"]


@pytest.fixture(scope="module")
def truth() -> dict:
    return json.loads((SAMPLE / "truth.json").read_text())["growth"]


@pytest.fixture(scope="module")
def sample_apps() -> pd.DataFrame:
    return load_apps(SAMPLE / "apps.csv", new_apps_col="new_apps")


@pytest.fixture(scope="module")
def sample_fit(sample_apps) -> GrowthFit:
    # the frame from load_apps goes in as it is (its "apps" column is used)
    return fit_growth(sample_apps[:"2010-10-20"])


@pytest.fixture(scope="module")
def krew_fit() -> GrowthFit:
    return fit_growth(real("krew_kubectl_plugins"))


@pytest.fixture(scope="module")
def helm_fit() -> GrowthFit:
    return fit_growth(real("helm_stable_charts")[:"2019-06-30"])


@pytest.fixture(scope="module")
def vcpkg_fit() -> GrowthFit:
    return fit_growth(real("vcpkg_ports"))


@pytest.fixture(scope="module")
def cran_fit() -> GrowthFit:
    return fit_growth(real("cran_monthly_packages"))


# ------------------------------------------------------------------------------ what it must show


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


def test_sample_paths_never_fall(sample_fit):
    assert sample_fit.monotone
    p = sample_fit.paths(365, n=500, seed=3).to_numpy()
    assert (p >= sample_fit.last_value).all()
    assert (np.diff(p, axis=1) >= 0).all()


def test_helm_cap_within_ten_percent_of_the_real_saturation(helm_fit):
    assert helm_fit.history.max() == 277
    assert helm_fit.cap == pytest.approx(282, rel=0.10)
    assert helm_fit.cap >= 277  # bounded below by the largest value seen
    assert helm_fit.cap_determined
    summary = helm_fit.summary()
    assert summary.loc["logistic", "cap"] == pytest.approx(282, rel=0.10)
    assert summary.loc["logistic", "cap_se"] > 0


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
    assert krew_fit.weights["piecewise"] == 1.0
    assert krew_fit.rate == pytest.approx(row["rate_after"], rel=0.05)


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


# ------------------------------------------------------------------------------ backtest, calibration


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


def test_models_subset(sample_apps):
    fit = fit_growth(sample_apps["apps"][:"2010-06-30"], models=["linear", "exponential"])
    assert set(fit.weights.index) == {"linear", "exponential"}
    assert fit.weights.sum() == pytest.approx(1.0)


def test_fit_is_deterministic(sample_apps):
    s = sample_apps["apps"][:"2010-08-31"]
    a, b = fit_growth(s, seed=5), fit_growth(s, seed=5)
    pd.testing.assert_frame_equal(a.backtest, b.backtest)
    assert a.scale == b.scale and a.coverage == b.coverage
    pd.testing.assert_frame_equal(a.paths(30, seed=1), b.paths(30, seed=1))


# ------------------------------------------------------------------------------ forecast and paths


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


def test_gaps_are_filled_and_reported(sample_apps, sample_fit):
    s = sample_apps["apps"][:"2010-10-20"]
    gappy = s.drop(pd.to_datetime(["2010-02-10", "2010-02-11", "2010-02-12", "2010-07-04"]))
    fit = fit_growth(gappy)
    assert "4 missing days filled by linear interpolation of the count" in fit.notes
    assert len(fit.history) == len(s) - 4  # the history is what was observed
    assert fit.regimes["date"].tolist() == sample_fit.regimes["date"].tolist()
    assert not fit.paths(30).isna().any().any()


def test_unsorted_and_tz_aware_input(sample_apps, sample_fit):
    s = sample_apps["apps"][:"2010-10-20"]
    shuffled = s.sample(frac=1.0, random_state=1)
    shuffled.index = shuffled.index.tz_localize("UTC")
    fit = fit_growth(shuffled)
    assert fit.history.index.is_monotonic_increasing and fit.history.index.tz is None
    pd.testing.assert_frame_equal(fit.regimes, sample_fit.regimes)
    assert fit.last_date == pd.Timestamp("2010-10-20")


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


# ------------------------------------------------------------------------------ reporting


def test_summary_params_and_repr(sample_fit):
    s = sample_fit.summary()
    assert set(s.index) == set(MODELS)
    assert {"weight", "mase", "rate_now", "cap", "cap_se", "cap_determined", "params",
            "note"} <= set(s.columns)
    assert s.loc["piecewise", "rate_now"] == pytest.approx(sample_fit.rate)
    assert "rate=" in s.loc["piecewise", "params"]
    p = sample_fit.params
    assert p.index.names == ["model", "parameter"]
    assert p[("piecewise", "rate")] == pytest.approx(sample_fit.rate)
    text = repr(sample_fit)
    assert "\n" not in text
    assert text.startswith("GrowthFit(last_date=2010-10-20, last_value=91,255")
    assert "regimes=1" in text
    assert sample_fit.last_value == 91_255.0
    assert sample_fit.history.iloc[-1] == 91_255.0


def test_chart_layers_and_threshold(krew_fit):
    chart = krew_fit.chart(365, threshold=500)
    assert isinstance(chart, alt.LayerChart)
    spec = chart.to_dict()
    marks = [layer["mark"]["type"] if isinstance(layer["mark"], dict) else layer["mark"]
             for layer in spec["layer"]]
    assert marks.count("rule") == 2  # regime changes and the threshold
    assert "area" in marks and "line" in marks
    # the long daily history is thinned so the embedded data stays small
    assert all(len(v) < 5000 for v in spec["datasets"].values())
    assert krew_fit.chart().to_dict()["layer"][-1]["mark"]["type"] == "rule"


def test_public_through_capacity():
    assert capacity.fit_growth is fit_growth
    assert capacity.GrowthFit is GrowthFit


# ------------------------------------------------------------------------------ errors


def _series(values, start="2010-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (_series([1.0, 2.0, np.nan] + list(range(3, 100))),
         r"column 'apps': missing value \(NaN\) on 2010-01-03 \(row 3\)"),
        (_series([5, 6, -1] + list(range(7, 100))),
         r"column 'apps': negative app count -1 on 2010-01-03 \(row 3\)"),
        (_series(list(range(30))),
         r"fit_growth needs at least 57 daily points \(8 weeks\) of the app count; got 30"),
        (pd.Series(range(100), dtype=float),
         r"fit_growth needs a DatetimeIndex on the app counts, got RangeIndex"),
        (pd.Series(["1", "2", "x"] * 30, index=pd.date_range("2010-01-01", periods=90)),
         r"column 'apps': value 'x' on 2010-01-03 \(row 3\) is not a number"),
        (pd.Series(range(60), index=pd.DatetimeIndex(
            list(pd.date_range("2010-01-01", periods=59)) + [pd.Timestamp("2010-01-05")])),
         r"column 'apps': date 2010-01-05 appears more than once"),
        (pd.DataFrame({"a": range(60), "b": range(60)},
                      index=pd.date_range("2010-01-01", periods=60)),
         r"needs a Series of live app counts or a frame with an 'apps' column; got columns"),
        ([1, 2, 3], r"fit_growth needs a pandas Series of live app counts, got list"),
        (pd.Series(range(5), index=pd.date_range("2010-01-01", periods=5, freq="MS")),
         r"fit_growth needs at least 10 points of the app count; got 5"),
    ],
)
def test_input_errors(bad, match):
    with pytest.raises(InputDataError, match=match):
        fit_growth(bad)


def test_named_series_in_messages():
    s = _series([1.0, np.nan] + list(range(2, 90))).rename("live")
    with pytest.raises(InputDataError, match=r"column 'live': missing value"):
        fit_growth(s)


def test_cap_below_the_data_is_rejected(sample_apps):
    with pytest.raises(InputDataError, match=r"cap=1000\.0 is below the largest app count seen "
                                             r"\(91,255\)"):
        fit_growth(sample_apps[:"2010-10-20"], cap=1000.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ["linear", "cubic"]}, r"unknown growth model\(s\) \['cubic'\]; choose from"),
        ({"models": []}, r"models must name at least one of"),
        ({"level": 1.5}, r"level must be a probability strictly between 0 and 1, got 1\.5"),
        ({"horizon_days": 3}, r"horizon_days must be an integer >= 7, got 3"),
        ({"n_origins": -1}, r"n_origins must be an integer >= 0, got -1"),
        ({"penalty": 0.0}, r"penalty must be a positive number, got 0\.0"),
        ({"cap": "300"}, r"cap must be a number of apps or None, got '300'"),
    ],
)
def test_option_errors(sample_apps, kwargs, match):
    with pytest.raises(ConfigError, match=match):
        fit_growth(sample_apps[:"2010-10-20"], **kwargs)


def test_method_argument_errors(sample_fit):
    with pytest.raises(ConfigError, match=r"horizon_days must be an integer >= 1, got 0"):
        sample_fit.paths(0)
    with pytest.raises(ConfigError, match=r"n must be an integer >= 1, got 2\.5"):
        sample_fit.paths(10, n=2.5)
    with pytest.raises(ConfigError, match=r"level must be a probability strictly between 0 and 1"):
        sample_fit.forecast(10, level=0.0)
