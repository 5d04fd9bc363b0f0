"""capacity.load.profile: the intraday profile and the server shares behind the busy-hour plans."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from capacity.errors import ArgumentError, InputDataError
from capacity.load.profile import LoadProfile, fit_profile

SHARES = (1.10, 0.95, 0.95)
AMPLITUDE = 0.15


@pytest.fixture(scope="module")
def hourly(platform):
    samples, truth = platform(11, days=120, switch_day=None, shares=SHARES, amplitude=AMPLITUDE)
    return samples, truth


def test_the_profile_and_the_shares_are_recovered(hourly):
    samples, _ = hourly
    profile = fit_profile(samples, u0=2.0, cores_per_server=8)
    assert isinstance(profile, LoadProfile)
    truth = 1 + AMPLITUDE * np.sin(2 * np.pi * (np.arange(24) - 15) / 24)
    # each hour is a mean over 91 days of 4 % noise: standard error ~0.004, so 0.015 is ~3.5 of them
    np.testing.assert_allclose(profile.hourly.to_numpy(), truth, atol=0.015)
    assert profile.hourly.mean() == pytest.approx(1.0)
    assert profile.peak_hour in (20, 21, 22)
    assert profile.factor("busiest_hour") == pytest.approx(1 + AMPLITUDE, abs=0.015)
    assert profile.factor("daily_mean") == 1.0
    # a quantile of the 24 hourly values, between the median hour and the peak
    assert 1.0 < profile.factor("quantile", 0.9) < profile.factor("busiest_hour")
    np.testing.assert_allclose(profile.shares.to_numpy(), SHARES, atol=0.005)
    assert profile.hottest == "msg-1" and profile.share("hottest") == pytest.approx(1.10, abs=0.005)
    assert profile.share("average") == 1.0
    assert profile.days == 91  # the latest PROFILE_DAYS whole days
    assert "busiest_hour=1.1" in repr(profile) and "hottest=msg-1" in repr(profile)
    frame = profile.summary_frame()
    assert list(frame["kind"].value_counts().sort_index()) == [24, 3]


def test_the_background_load_does_not_swing(hourly):
    """The profile is that of the load above u0: given a larger u0 the swing of what is left is larger."""
    samples, _ = hourly
    right = fit_profile(samples, u0=2.0, cores_per_server=8)
    ignoring = fit_profile(samples, u0=0.0, cores_per_server=8)
    assert ignoring.factor("busiest_hour") < right.factor("busiest_hour")


def test_days_with_a_pinned_reading_are_left_out(hourly):
    samples, _ = hourly
    pinned = samples.copy()
    busy = pinned["timestamp"].dt.hour == 21
    last_days = pinned["timestamp"] >= pinned["timestamp"].max() - pd.Timedelta(days=30)
    pinned.loc[busy & last_days & (pinned["server"] == "msg-1"), "cpu_percent"] = 100.0
    profile = fit_profile(pinned, u0=2.0, cores_per_server=8)
    assert profile.last < pinned["timestamp"].max() - pd.Timedelta(days=29)
    assert profile.factor("busiest_hour") == pytest.approx(1 + AMPLITUDE, abs=0.015)


def test_only_the_servers_in_service_at_the_end_count(hourly):
    samples, _ = hourly
    earlier = samples.assign(timestamp=samples["timestamp"] - pd.Timedelta(days=200), servers=2,
                             server=samples["server"].replace({"msg-3": "msg-2"}))
    profile = fit_profile(pd.concat([earlier, samples]), u0=2.0, cores_per_server=8)
    assert list(profile.shares.index) == ["msg-1", "msg-2", "msg-3"]


def test_a_replaced_server_leaves_the_profile_to_the_servers_in_service(hourly):
    """msg-3 swapped for msg-4 with the count unchanged: the shares are those of the servers now."""
    samples, _ = hourly
    late = samples["timestamp"] >= samples["timestamp"].max() - pd.Timedelta(days=30)
    swapped = samples.assign(server=samples["server"].where(~late | (samples["server"] != "msg-3"), "msg-4"))
    profile = fit_profile(swapped, u0=2.0, cores_per_server=8)
    assert isinstance(profile, LoadProfile), profile
    assert list(profile.shares.index) == ["msg-1", "msg-2", "msg-4"] and profile.days == 30
    assert profile.factor("busiest_hour") == pytest.approx(1 + AMPLITUDE, abs=0.02)
    assert fit_profile(samples.iloc[:0], u0=2.0, cores_per_server=8) == "there are no messaging samples"


def test_no_profile_from_daily_readings_or_too_few_days(hourly):
    samples, _ = hourly
    daily = samples[samples["timestamp"].dt.hour == 12]
    assert "fewer than 12 readings a day" in fit_profile(daily, u0=2.0, cores_per_server=8)
    short = samples[samples["timestamp"] < samples["timestamp"].min() + pd.Timedelta(days=5)]
    assert fit_profile(short, u0=2.0, cores_per_server=8).startswith("only 5 whole days")


def test_bad_arguments_are_named(hourly):
    samples, _ = hourly
    with pytest.raises(InputDataError, match="lack the column"):
        fit_profile(samples.drop(columns="server"), u0=2.0, cores_per_server=8)
    with pytest.raises(ArgumentError, match="fit_profile: u0"):
        fit_profile(samples, u0=-1.0, cores_per_server=8)
    profile = fit_profile(samples, u0=2.0, cores_per_server=8)
    with pytest.raises(ArgumentError, match="needs quantile"):
        profile.factor("quantile")
    with pytest.raises(ArgumentError, match="metric"):
        profile.factor("peak")


def test_the_fitted_messaging_model_carries_the_profile(hourly):
    from capacity.load.messaging import fit_messaging

    samples, _ = hourly
    model = fit_messaging(samples, strategies={"broadcast": {"kind": "broadcast", "base_components": 40,
                                                             "apps_per_component": 100}}, n_boot=50)
    assert isinstance(model.profile, LoadProfile)
    assert model.profile.factor("busiest_hour") == pytest.approx(1 + AMPLITUDE, abs=0.015)
    assert "no server column" in fit_messaging(
        samples.drop(columns="server"), strategies=model.strategies, n_boot=50).profile


def test_the_chart_is_a_chart(hourly):
    import altair as alt

    profile = fit_profile(hourly[0], u0=2.0, cores_per_server=8)
    assert isinstance(profile.chart(), alt.LayerChart)
