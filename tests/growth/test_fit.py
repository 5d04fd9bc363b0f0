"""Tests of capacity.growth.fit: fit_growth's input and options, GrowthFit's reporting and errors."""

from __future__ import annotations

import altair as alt
import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.errors import ArgumentError, ConfigError, FitError, InputDataError
from capacity.growth.fit import MODELS, GrowthFit, fit_growth


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


def test_regimes_table_is_built_on_first_use(sample_apps):
    # the forecast needs only the last change's test; the table runs every change's, once
    fit = fit_growth(sample_apps["apps"][:"2010-10-20"])
    assert "_table" not in fit.segmentation.__dict__
    used = fit.segmentation.__dict__["_last_prob"]  # what the forecast's mixture weighed the change by
    table = fit.regimes
    assert fit.regimes is table and len(table) == len(fit.segmentation.changes) == 1
    assert table["prob"].iloc[-1] == pytest.approx(used, rel=1e-12)
    assert table["date"].iloc[-1] == pd.Timestamp("2010-09-06")


def test_nested_coverage_is_computed_when_asked(sample_apps):
    fit = fit_growth(sample_apps["apps"][:"2010-10-20"])
    assert "_coverage_nested" not in fit.__dict__ and "coverage_nested" not in fit.backtest.attrs
    nested = fit.coverage_nested
    assert 0.0 <= nested <= 1.0 and nested != fit.coverage  # another scale per origin than leave-one-out
    assert fit.coverage_nested == nested
    short = fit_growth(sample_apps["apps"][:"2009-08-31"])
    assert np.isnan(short.coverage_nested)


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


def _series(values, start="2010-01-01"):
    return pd.Series(values, index=pd.date_range(start, periods=len(values), freq="D"))


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (_series([1.0, 2.0, np.nan] + list(range(3, 100))),
         r"column 'apps': missing value \(NaN\) on 2010-01-03 \(row 3\)"),
        (_series([5, 6, -1] + list(range(7, 100))),
         r"column 'apps': negative app count -1 on 2010-01-03 \(row 3\)"),
        (_series([1.0, 2.0, np.inf] + list(range(3, 90))),
         r"column 'apps': app count inf on 2010-01-03 \(row 3\) is not a finite number"),
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


_NAMES = ("'piecewise', 'linear', 'drift', 'exponential', 'logistic', 'gompertz', 'local_trend', "
          "'additive_trend'")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"models": ["linear", "cubic"]},
         rf"^fit_growth: models must be a non-empty list of distinct names from {_NAMES} or None, "
         r"not \['linear', 'cubic'\] \(list\)$"),
        ({"models": []}, r"^fit_growth: models must be a non-empty list of distinct names from .*, not \[\]"),
        ({"models": "cubic"}, rf"^fit_growth: models must be one of {_NAMES}, not 'cubic'$"),
        ({"models": ["linear", "linear"]}, r"models must be a non-empty list of distinct names"),
        ({"level": 1.5}, r"^fit_growth: level must be a finite number in \(0, 1\), not 1\.5$"),
        ({"level": "0.8"}, r"^fit_growth: level must be a finite number in \(0, 1\), not '0\.8'$"),
        ({"horizon_days": 3}, r"^fit_growth: horizon_days must be an integer >= 7, not 3$"),
        ({"horizon_days": 180.0}, r"^fit_growth: horizon_days must be an integer >= 7, not 180\.0$"),
        ({"n_origins": -1}, r"^fit_growth: n_origins must be an integer >= 0, not -1$"),
        ({"penalty": 0.0}, r"^fit_growth: penalty must be a finite number > 0, not 0\.0$"),
        ({"penalty": float("inf")}, r"^fit_growth: penalty must be a finite number > 0, not inf$"),
        ({"cap": "300"}, r"^fit_growth: cap must be a finite number > 0 or None, not '300'$"),
        ({"cap": float("nan")}, r"^fit_growth: cap must be a finite number > 0 or None, not nan$"),
        ({"seed": -1}, r"^fit_growth: seed must be an integer >= 0 or a numpy Generator, not -1$"),
    ],
)
def test_option_errors(sample_apps, kwargs, match):
    with pytest.raises(ArgumentError, match=match):
        fit_growth(sample_apps[:"2010-10-20"], **kwargs)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda f: f.paths(0), r"^GrowthFit\.paths: horizon_days must be an integer >= 1, not 0$"),
        (lambda f: f.paths(10, n=2.5), r"^GrowthFit\.paths: n must be an integer >= 1, not 2\.5$"),
        (lambda f: f.paths(10, seed="7"),
         r"^GrowthFit\.paths: seed must be an integer >= 0 or a numpy Generator"),
        (lambda f: f.forecast(10, level=0.0),
         r"^GrowthFit\.forecast: level must be a finite number in \(0, 1\), not 0\.0$"),
        (lambda f: f.forecast("10"),
         r"^GrowthFit\.forecast: horizon_days must be an integer >= 1, not '10'$"),
        (lambda f: f.chart(30, threshold="500"),
         r"^GrowthFit\.chart: threshold must be a finite number >= 0 or None, not '500'$"),
        (lambda f: f.chart(0), r"^GrowthFit\.chart: horizon_days must be an integer >= 1 or None, not 0$"),
    ],
)
def test_method_argument_errors(sample_fit, call, match):
    with pytest.raises(ArgumentError, match=match):
        call(sample_fit)


def test_option_errors_are_argument_errors_not_config_errors(sample_apps):
    # a bad Python argument is not a bad config file: callers catching ValueError still catch it
    with pytest.raises(ArgumentError) as info:
        fit_growth(sample_apps[:"2010-10-20"], horizon_days=3)
    assert isinstance(info.value, ValueError) and not isinstance(info.value, ConfigError)


def test_one_model_name_is_one_model_not_its_letters(sample_apps):
    s = sample_apps["apps"][:"2010-06-30"]
    one = fit_growth(s, models="linear", n_origins=2)
    assert [c.name for c in one.candidates] == ["linear"]
    both = fit_growth(s, models=("linear",), n_origins=2)
    pd.testing.assert_frame_equal(one.backtest, both.backtest)


def test_candidates_follow_the_registry_order_not_the_request(sample_apps):
    asked = ["exponential", "piecewise", "linear"]
    fit = fit_growth(sample_apps["apps"][:"2010-06-30"], models=asked)
    assert [c.name for c in fit.candidates] == [m for m in MODELS if m in asked]
    assert list(fit.weights.index) == ["piecewise", "linear", "exponential"]


def test_no_model_fitted_is_a_fit_error(vcpkg_fit):
    # vcpkg's rate never slows: the logistic curve alone has nothing to fit
    with pytest.raises(FitError, match=r"^fit_growth: none of the models \['logistic'\] could be fitted "
                                       r"\(logistic: best cap is at the largest value seen"):
        fit_growth(vcpkg_fit.history, models=["logistic"])
