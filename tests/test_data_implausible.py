"""Issue 13 item 5: implausible app counts are found by a robust test on the daily changes, and only they."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capacity.data
from capacity.data import drop_implausible, implausible_apps, load_apps
from capacity.errors import ArgumentError, InputDataError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_APPS = ROOT / "capacity" / "sample" / "apps.csv"
REAL_SERIES = sorted(p for p in (ROOT / "data" / "real" / "growth").glob("*.csv")
                     if not p.stem.endswith("_daily"))


@pytest.fixture(scope="module")
def sample() -> pd.DataFrame:
    return load_apps(SAMPLE_APPS)


def with_value(apps: pd.DataFrame, day: str, value: int) -> pd.DataFrame:
    apps = apps.copy()
    apps.loc[day, "apps"] = value
    return apps


def test_the_untouched_sample_has_nothing_implausible(sample):
    flagged = implausible_apps(sample)
    assert list(flagged.columns) == ["date", "value", "reason"]
    assert flagged.empty


@pytest.mark.parametrize("path", REAL_SERIES, ids=lambda p: p.stem)
def test_real_registries_with_batch_imports_are_not_flagged(path):
    apps = load_apps(path, apps_col="value")
    flagged = implausible_apps(apps)
    assert flagged.empty, flagged.to_string()


@pytest.mark.parametrize("day", ["2010-03-15", "2010-10-19", "2009-06-01", "2010-12-31", "2009-06-02"])
def test_one_day_at_999999999_is_flagged_and_only_that_day(sample, day):
    bad = with_value(sample, day, 999_999_999)
    flagged = implausible_apps(bad)
    assert flagged["date"].tolist() == [pd.Timestamp(day)]
    assert flagged["value"].tolist() == [999_999_999]
    assert "999,999,999" in flagged["reason"].iloc[0] and "\n" not in flagged["reason"].iloc[0]


def test_a_series_works_as_well_as_a_frame(sample):
    bad = with_value(sample, "2010-03-15", 999_999_999)
    assert implausible_apps(bad["apps"]).equals(implausible_apps(bad))
    assert implausible_apps(bad["apps"].astype(float))["date"].tolist() == [pd.Timestamp("2010-03-15")]


def test_a_day_that_drops_to_zero_and_comes_back_is_a_spike(sample):
    flagged = implausible_apps(with_value(sample, "2010-05-05", 0))
    assert flagged["date"].tolist() == [pd.Timestamp("2010-05-05")]
    assert flagged["reason"].iloc[0].startswith("spike")


def test_a_short_run_that_jumps_and_comes_back_is_flagged_whole(sample):
    bad = sample.copy()
    bad.loc["2010-04-01":"2010-04-03", "apps"] *= 10
    flagged = implausible_apps(bad)
    assert flagged["date"].tolist() == list(pd.date_range("2010-04-01", "2010-04-03"))


def test_a_moderate_spike_far_beyond_the_series_own_changes_is_flagged(sample):
    # daily changes are about 140 +- 20 apps; +5,000 for one day and back is not a real change
    day = "2010-08-10"
    flagged = implausible_apps(with_value(sample, day, int(sample.loc[day, "apps"]) + 5_000))
    assert flagged["date"].tolist() == [pd.Timestamp(day)]


def test_threshold_is_the_number_of_robust_deviations(sample):
    day = "2010-08-10"
    bad = with_value(sample, day, int(sample.loc[day, "apps"]) + 5_000)
    assert implausible_apps(bad, threshold=500).empty


def test_a_legit_step_that_stays_is_not_flagged():
    days = pd.date_range("2020-01-01", periods=200, name="date")
    flat = pd.Series(100, index=days, name="apps")
    flat.iloc[120:] = 105  # a flat series (MAD of changes 0) with one small step
    assert implausible_apps(flat).empty
    growing = pd.Series(1000 + 10 * np.arange(200), index=days, name="apps")
    growing.iloc[90:] += 5_000  # a batch import: a big step, but it stays
    assert implausible_apps(growing).empty


def test_a_launch_from_zero_is_not_flagged():
    days = pd.date_range("2020-01-01", periods=100, name="date")
    counts = pd.Series(np.r_[[0] * 5, 2_000 + 20 * np.arange(95)], index=days, name="apps")
    assert implausible_apps(counts).empty


def test_a_first_value_far_too_high_is_flagged(sample):
    bad = with_value(sample, "2009-06-01", 50_000_000)
    assert implausible_apps(bad)["date"].tolist() == [pd.Timestamp("2009-06-01")]


def test_gaps_are_measured_per_day():
    # weekly counts growing 70 a week; the changes per day are what is compared
    days = pd.date_range("2020-01-05", periods=60, freq="W", name="date")
    weekly = pd.Series(1000 + 70 * np.arange(60), index=days, name="apps")
    assert implausible_apps(weekly).empty
    weekly.iloc[30] = 999_999_999
    assert implausible_apps(weekly)["date"].tolist() == [days[30]]


def test_too_short_series_flag_nothing():
    days = pd.date_range("2020-01-01", periods=2, name="date")
    assert implausible_apps(pd.Series([5, 999_999_999], index=days)).empty


def test_drop_implausible_returns_the_cleaned_frame(sample):
    bad = with_value(sample, "2010-03-15", 999_999_999)
    flagged = implausible_apps(bad)
    clean = drop_implausible(bad, flagged)
    assert len(clean) == len(sample) - 1
    assert pd.Timestamp("2010-03-15") not in clean.index
    assert clean.equals(sample.drop(index=pd.Timestamp("2010-03-15")))
    assert bad.loc["2010-03-15", "apps"] == 999_999_999  # the input is left alone
    series = drop_implausible(bad["apps"], flagged)
    assert isinstance(series, pd.Series) and len(series) == len(sample) - 1
    assert drop_implausible(sample, implausible_apps(sample)).equals(sample)


def test_bad_arguments():
    days = pd.date_range("2020-01-01", periods=20, name="date")
    counts = pd.Series(range(20), index=days)
    with pytest.raises(ArgumentError, match=r"implausible_apps: apps must be a DataFrame or Series"):
        implausible_apps([1, 2, 3])
    with pytest.raises(ArgumentError, match=r"implausible_apps: threshold must be a finite number > 0"):
        implausible_apps(counts, threshold=0)
    with pytest.raises(ArgumentError, match=r"implausible_apps: len\(apps\) must be"):
        implausible_apps(counts.iloc[:0])
    with pytest.raises(InputDataError, match=r"implausible_apps: apps must be indexed by date"):
        implausible_apps(pd.Series(range(20)))
    with pytest.raises(InputDataError, match=r"implausible_apps: column 'apps' is missing from apps"):
        implausible_apps(pd.DataFrame({"n": range(20)}, index=days))
    with pytest.raises(InputDataError, match=r"drop_implausible: column 'date' is missing from flagged"):
        drop_implausible(counts, pd.DataFrame({"day": []}))


def test_exported():
    assert "implausible_apps" in capacity.data.__all__ and "drop_implausible" in capacity.data.__all__
    assert "load_tier_changes" in capacity.data.__all__ and "apply_tier_changes" in capacity.data.__all__
