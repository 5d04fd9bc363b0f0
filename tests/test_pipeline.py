"""Tests of capacity.pipeline on the sample platform: the whole story, replayed."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.pipeline import replay, run
from capacity.planning.result import drift

REPLACEMENT, TARGETED, SERVERS = ("Messaging system replacement", "Targeted message routing",
                                  "Two more messaging servers")
OUTAGE = pd.Timestamp("2010-10-26")


@pytest.fixture(scope="module")
def weekly():
    """The outage replayed weekly from 2010-06-01 to 2010-10-26, with only the data known each day."""
    return replay(as_of=pd.date_range("2010-06-01", "2010-10-26", freq="7D"), n_paths=500)


@pytest.fixture(scope="module")
def on_oct_20():
    return run(as_of=dt.date(2010, 10, 20), n_paths=1000)


def test_replay_table_is_tidy(weekly):
    table = weekly.table
    assert list(table.columns) == ["as_of", "item", "p10", "p50", "p90", "p_none", "must_land_by",
                                   "must_start_by", "p_late", "at_risk", "status"]
    assert table["as_of"].nunique() == 22
    assert set(table["item"]) == {"crossing", REPLACEMENT, TARGETED, SERVERS}
    assert table.groupby("as_of").size().eq(4).all()


def test_crossing_moves_earlier_as_the_acceleration_shows(weekly):
    crossing = weekly.table[weekly.table["item"] == "crossing"].set_index("as_of")["p50"]
    june = crossing.loc["2010-06-01"]
    assert june > pd.Timestamp("2010-12-01")  # the old growth rate: months of runway
    late = crossing.loc["2010-10-05":]
    assert (late < pd.Timestamp("2010-11-01")).all()  # the new rate: days
    assert june - crossing.loc["2010-10-19"] > pd.Timedelta(days=45)


def test_replacement_turns_at_risk_weeks_before_the_outage(weekly):
    first = weekly.first_warning.set_index("project")["first_at_risk"]
    fired = first.loc[REPLACEMENT]
    assert pd.notna(fired)
    assert OUTAGE - fired >= pd.Timedelta(weeks=3)
    # and it was not at risk while growth followed the old rate
    replacement = weekly.table[weekly.table["item"] == REPLACEMENT].set_index("as_of")
    assert not replacement.loc[:"2010-08-31", "at_risk"].any()
    assert replacement.loc["2010-10-05":, "at_risk"].all()
    assert weekly.warning_date == fired


def test_targeted_routing_must_land_within_days_on_oct_20(on_oct_20):
    rows = on_oct_20.plan.deadlines.set_index("project")
    must_land = rows.loc[TARGETED, "must_land_by"]
    assert pd.Timestamp("2010-10-20") < must_land <= pd.Timestamp("2010-10-30")
    assert rows.loc[TARGETED, "at_risk"]


def test_targeted_routing_buys_months_of_runway(on_oct_20):
    row = on_oct_20.plan.deadlines.set_index("project").loc[TARGETED]
    # once targeted routing lands, the next crossing is beyond the horizon on nearly every path
    assert pd.isna(row["runway_p10"]) or row["runway_p10"] - row["must_land_by"] > pd.Timedelta(days=90)
    assert row["runway_p_none"] > 0.9


def test_plan_drift_says_how_far_the_deadline_moved():
    before = run(as_of=dt.date(2010, 8, 31), n_paths=500).plan
    after = run(as_of=dt.date(2010, 10, 20), n_paths=500).plan
    moved = drift(before, after).set_index(["item", "what"])["days_moved"]
    assert moved.loc[("crossing", "p50")] < -45
    assert moved.loc[(REPLACEMENT, "must_land_by")] < -45


def test_same_inputs_and_seed_give_identical_results():
    first = run(as_of=dt.date(2010, 9, 21), n_paths=300)
    second = run(as_of=dt.date(2010, 9, 21), n_paths=300)
    pd.testing.assert_frame_equal(first.plan.deadlines, second.plan.deadlines)
    pd.testing.assert_frame_equal(first.plan.utilisation, second.plan.utilisation)
    assert first.plan.crossing == second.plan.crossing
    np.testing.assert_array_equal(first.plan.crossing_days, second.plan.crossing_days)


def test_replay_chart_and_public_names(weekly):
    spec = weekly.chart().to_dict()
    assert "layer" in spec
    assert capacity.replay is replay and capacity.run is run
    assert "first warning 2010-09" in repr(weekly)


def test_replay_needs_dates():
    with pytest.raises(ValueError, match="at least one as_of date"):
        replay(as_of=[])
