"""Tests of GrowthFit.cross_validation: the backtest's forecasts as a tidy frame."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.growth.fit import fit_growth

COLUMNS = ["origin", "date", "horizon", "actual", "mean", "lower", "upper", "model"]


def checkpoint_coverage(cv: pd.DataFrame, horizon_days: int) -> float:
    """Coverage the way GrowthFit.coverage counts it: per origin at the backtest's checkpoints (every 28
    days and the horizon's last day), then averaged over origins."""
    at = cv[(cv["horizon"] % 28 == 0) | (cv["horizon"] == horizon_days)]
    hit = (at["lower"] <= at["actual"]) & (at["actual"] <= at["upper"])
    return float(hit.groupby(at["origin"]).mean().mean())


def test_shape_and_columns(krew_fit):
    cv = krew_fit.cross_validation()
    assert list(cv.columns) == COLUMNS
    origins = krew_fit.backtest.attrs["origins"]
    assert cv["origin"].nunique() == len(origins)
    assert sorted(cv["origin"].dt.strftime("%Y-%m-%d").unique()) == sorted(origins)
    # daily data: one row per origin and horizon day
    assert len(cv) == len(origins) * krew_fit.horizon_days
    assert (cv.groupby("origin")["horizon"].apply(list)
            .map(lambda h: h == list(range(1, krew_fit.horizon_days + 1)))).all()
    assert set(cv["model"]) == {"combined"}
    assert cv["origin"].is_monotonic_increasing
    assert (cv["lower"] <= cv["mean"]).all() and (cv["mean"] <= cv["upper"]).all()
    assert not cv.isna().any().any()


def test_no_row_uses_data_after_its_origin(krew_fit):
    cv = krew_fit.cross_validation()
    assert (cv["date"] > cv["origin"]).all()
    assert (cv["date"] - cv["origin"] == pd.to_timedelta(cv["horizon"], unit="D")).all()
    # the actual is the observed count on that date
    hist = krew_fit.history
    assert np.array_equal(cv["actual"].to_numpy(), hist.reindex(cv["date"]).to_numpy())


def test_per_model_rows(vcpkg_fit):
    cv = vcpkg_fit.cross_validation(models=True, n=200)
    used = set(vcpkg_fit.weights[vcpkg_fit.weights > 0].index)
    assert set(cv["model"]) == used | {"combined"}
    sizes = cv.groupby("model").size()
    assert sizes.nunique() == 1


def test_same_seed_same_frame(krew_fit):
    pd.testing.assert_frame_equal(krew_fit.cross_validation(seed=3), krew_fit.cross_validation(seed=3))


@pytest.mark.parametrize("which", ["sample_fit", "krew_fit", "vcpkg_fit", "helm_fit"])
def test_coverage_from_the_frame_matches_the_fits(which, request):
    # the same definition (each origin at the scale calibrated on the others, judged at the
    # checkpoints) with other random numbers and daily instead of weekly simulation: close, not equal
    fit = request.getfixturevalue(which)
    cv = fit.cross_validation(n=1000)
    assert checkpoint_coverage(cv, fit.horizon_days) == pytest.approx(fit.coverage, abs=0.1)


def test_short_history_gives_an_empty_frame(sample_apps):
    fit = fit_growth(sample_apps["apps"][:"2009-08-31"])
    cv = fit.cross_validation()
    assert list(cv.columns) == COLUMNS and cv.empty


def test_changing_the_data_after_an_origin_leaves_its_forecast_unchanged():
    # leak-free backtest: every origin's fit (segmentation, parameters, local-trend variances) and its
    # nested weights use only the data known then, so rewriting the future does not move its forecast
    rng = np.random.default_rng(7)
    days = 600
    s = pd.Series(1000.0 + np.cumsum(rng.poisson(20, days)), index=pd.date_range("2020-01-01", periods=days))
    fit = fit_growth(s)
    cv = fit.cross_validation(n=50)
    origins = sorted(cv["origin"].unique())
    origin = origins[len(origins) // 2]
    later = s.index > origin
    changed = s.copy()
    changed[later] = s[~later].iloc[-1] + 3.0 * (s[later] - s[~later].iloc[-1])  # the rate triples
    other = fit_growth(changed).cross_validation(n=50)
    assert sorted(other["origin"].unique()) == origins
    a, b = cv[cv["origin"] == origin], other[other["origin"] == origin]
    np.testing.assert_array_equal(a["mean"].to_numpy(), b["mean"].to_numpy())
    assert not np.array_equal(a["actual"].to_numpy(), b["actual"].to_numpy())
    # the older origins' forecasts are unchanged too
    for o in origins[: len(origins) // 2]:
        np.testing.assert_array_equal(cv.loc[cv["origin"] == o, "mean"].to_numpy(),
                                      other.loc[other["origin"] == o, "mean"].to_numpy())
