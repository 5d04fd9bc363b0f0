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
