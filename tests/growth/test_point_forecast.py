"""The point forecast (``forecast()["mean"]``) stays plausible and the paths' tail stays bounded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.data import load_apps
from capacity.growth.fit import fit_growth
from capacity.growth.paths import RATE_BOUND

GROWTH = Path(__file__).resolve().parents[2] / "data" / "real" / "growth"
REAL = sorted(p for p in GROWTH.glob("*.csv") if not p.stem.endswith("_daily"))


def typical_daily_change(s: pd.Series) -> float:
    """Mean absolute change per day (apps/day), at least 1 app per 90 days. (The median is 0 on most
    registry series: on most days nothing is added.)"""
    dy = np.abs(np.diff(s.to_numpy(dtype=float)))
    dt = np.diff((s.index - s.index[0]) / pd.Timedelta(days=1))
    return max(float(np.mean(dy / dt)), 1.0 / 90.0)


def test_mean_is_the_combined_mean_path(vcpkg_fit):
    fc = vcpkg_fit.forecast(120, n=50, seed=1)
    other = vcpkg_fit.forecast(120, n=500, seed=2)
    # it does not depend on the random numbers
    np.testing.assert_array_equal(fc["mean"].to_numpy(), other["mean"].to_numpy())
    by = {c.name: c for c in vcpkg_fit.candidates}
    w = vcpkg_fit.weights[vcpkg_fit.weights > 0]
    inc = sum(w[m] * by[m].increments(120) for m in w.index) / w.sum()
    np.testing.assert_allclose(fc["mean"].to_numpy(), vcpkg_fit.last_value + np.cumsum(np.maximum(inc, 0)))


def test_paths_rate_is_bounded(sample_fit):
    # however wide the calibration scale, no path's 90-day growth exceeds RATE_BOUND x the combined
    # mean path's (plus the day-to-day noise)
    p = sample_fit.paths(90, n=2000, seed=4).to_numpy()
    mean = sample_fit.forecast(90, n=1)["mean"].to_numpy()
    grown = p[:, -1] - sample_fit.last_value
    assert grown.max() <= 1.2 * RATE_BOUND * (mean[-1] - sample_fit.last_value)


@pytest.mark.slow
@pytest.mark.parametrize("path", REAL, ids=lambda p: p.stem)
def test_mean_at_90_days_is_plausible_at_yearly_origins(path):
    # yearly origins keep the suite quick; bench/growth.py scores every quarterly origin
    s = load_apps(path, apps_col="value")["apps"].astype(float)
    origins = pd.date_range(s.index[0] + pd.Timedelta(days=365), s.index[-1] - pd.Timedelta(days=90),
                            freq="QE")[::4]
    worst = []
    for origin in origins:
        train = s[:origin]
        fit = fit_growth(train)
        mean90 = float(fit.forecast(90, n=1)["mean"].iloc[-1])
        ratio = abs(mean90 - train.iloc[-1]) / (90 * typical_daily_change(train))
        worst.append((ratio, origin.date()))
    assert max(worst)[0] <= 50, max(worst)
