"""Tests of capacity.pipeline on the sample platform: the whole story, replayed."""

from __future__ import annotations

import dataclasses
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


@pytest.mark.slow
def test_replay_table_is_tidy(weekly):
    table = weekly.table
    assert list(table.columns) == ["as_of", "item", "p10", "p50", "p90", "p_none", "must_land_by",
                                   "must_start_by", "p_late", "at_risk", "status"]
    assert table["as_of"].nunique() == 22
    assert set(table["item"]) == {"crossing", REPLACEMENT, TARGETED, SERVERS}
    assert table.groupby("as_of").size().eq(4).all()


@pytest.mark.slow
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


def test_the_busiest_hour_crossing_is_the_generators(on_oct_20):
    """Fitted on the data before 2010-10-20, the sample's plan on the busiest hour of the average
    server (its config's limit.metric) meets the generator's own first busiest-hour crossing of 90 %."""
    import json

    truth = json.loads((SAMPLE / "truth.json").read_text())["messaging"]["crossings"]
    result = run(as_of=dt.date(2010, 10, 19), n_paths=1000)
    assert result.plan.watch.metric == "busiest_hour" and result.plan.limit == truth["limit"] == 0.9
    assert abs((result.plan.crossing.p50 - pd.Timestamp(truth["busiest_hour"])).days) <= 3
    # the daily mean would have promised weeks more; the hottest server crossed before the data end
    assert pd.Timestamp(truth["daily_mean"]) - pd.Timestamp(truth["busiest_hour"]) > pd.Timedelta(days=14)
    assert pd.Timestamp(truth["busiest_hour_hottest"]) < pd.Timestamp("2010-10-19")
    assert "the busiest hour of the average server" in result.plan.headline


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


@pytest.mark.slow
def test_replay_chart_and_public_names(weekly):
    spec = weekly.chart().to_dict()
    assert "layer" in spec
    assert capacity.replay is replay and capacity.run is run
    assert "first warning 2010-09" in repr(weekly)


def test_replay_needs_dates():
    with pytest.raises(ValueError, match="at least one as_of date"):
        replay(as_of=[])


# --- issue 13: implausible counts, stale data, a plain CPU trace from a config ------------------------

SAMPLE = capacity.config.DEFAULT_CONFIG.parent


def _config(tmp_path, *, apps=SAMPLE / "apps.csv", messaging=SAMPLE / "messaging.csv", data_extra=""):
    """The sample's plan with other data files (and more [data] settings) in ``tmp_path``."""
    text = (SAMPLE / "plan.toml").read_text()
    text = text.replace('apps = "apps.csv"', f'apps = "{apps}"', 1)
    text = text.replace('messaging = "messaging.csv"', f'messaging = "{messaging}"\n{data_extra}', 1)
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return capacity.load_config(path)


def _at_risk(headline: str) -> str:
    return headline.rsplit(";", 1)[-1].strip()  # "3 of 3 projects at risk."


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    """The sample's app counts with one absurd day, 2010-10-01 = 999,999,999."""
    folder = tmp_path_factory.mktemp("spiked")
    apps = pd.read_csv(SAMPLE / "apps.csv", dtype=str)
    apps.loc[apps["date"] == "2010-10-01", "apps"] = "999999999"
    apps.to_csv(folder / "apps.csv", index=False)
    return folder / "apps.csv"


def test_an_absurd_app_count_is_excluded_named_and_the_verdict_stands(tmp_path, spiked):
    said = []
    clean = run(as_of=dt.date(2010, 10, 20), n_paths=500)
    result = run(_config(tmp_path, apps=spiked), as_of=dt.date(2010, 10, 20), n_paths=500,
                 progress=said.append)
    assert _at_risk(result.plan.headline) == _at_risk(clean.plan.headline) == "3 of 3 projects at risk."
    assert abs(result.plan.crossing.p50 - clean.plan.crossing.p50) <= pd.Timedelta(days=3)
    excluded = result.inputs.excluded
    assert list(excluded.columns) == ["date", "value", "reason"]
    assert excluded[["date", "value"]].values.tolist() == [[pd.Timestamp("2010-10-01"), 999_999_999]]
    assert excluded["reason"].iloc[0].startswith("spike: jumps from")
    assert pd.Timestamp("2010-10-01") not in result.inputs.apps.index
    assert result.inputs.apps["apps"].max() < 1_000_000 and result.inputs.samples["apps"].max() < 1_000_000
    notes = [line for line in said if "implausible" in line]
    assert len(notes) == 1 and "2010-10-01 999,999,999" in notes[0] and "data.keep_implausible" in notes[0]
    assert clean.inputs.excluded.empty


def test_keep_implausible_keeps_them(tmp_path, spiked):
    config = _config(tmp_path, apps=spiked, data_extra="keep_implausible = true")
    inputs = capacity.pipeline.load_inputs(config)
    assert inputs.apps.loc["2010-10-01", "apps"] == 999_999_999
    assert inputs.excluded.empty and inputs.notes() == []


def test_stale_data_is_refused_beyond_max_age_unless_allowed(tmp_path):
    from capacity.pipeline import load_inputs

    config = capacity.load_config()
    assert load_inputs(config).data_age_days == 0
    with pytest.raises(capacity.InputDataError,
                       match=r"apps\.csv: stale data: the newest app count \(2010-12-31\) is 518 days older "
                             r"than the as-of date 2012-06-01, more than data\.max_age_days = 21; "
                             r".*--allow-stale \(data\.allow_stale = true\)"):
        load_inputs(config, as_of=dt.date(2012, 6, 1))
    old = load_inputs(dataclasses.replace(config, allow_stale=True), as_of=dt.date(2012, 6, 1))
    assert old.data_age_days == 518
    assert old.data_ends == {"apps": pd.Timestamp("2010-12-31"), "messaging": pd.Timestamp("2010-12-31")}
    assert old.notes() == ["the newest data is 518 days old on 2012-06-01 (app counts end 2010-12-31, "
                           "messaging samples end 2010-12-31)"]


def test_the_older_input_decides_the_age(tmp_path):
    from capacity.pipeline import load_inputs, read_data

    config = capacity.load_config()
    apps, samples = read_data(config)
    data = (apps, samples[samples["timestamp"] < "2010-10-01"])  # messaging stops on 2010-09-30
    assert load_inputs(config, as_of=dt.date(2010, 10, 21), data=data).data_age_days == 21  # the limit
    with pytest.raises(capacity.InputDataError, match=r"messaging\.csv: stale data: the newest messaging "
                                                      r"sample \(2010-09-30\) is 22 days older"):
        load_inputs(config, as_of=dt.date(2010, 10, 22), data=data)
    strict = dataclasses.replace(config, max_age_days=0)
    with pytest.raises(capacity.InputDataError, match="data.max_age_days = 0"):
        load_inputs(strict, as_of=dt.date(2010, 10, 1), data=data)


@pytest.fixture(scope="module")
def trace(tmp_path_factory):
    """One server's CPU of the sample as a plain ``timestamp,value`` trace (0..1), and its change log."""
    folder = tmp_path_factory.mktemp("trace")
    samples = pd.read_csv(SAMPLE / "messaging.csv")
    one = samples[samples["server"] == "msg-1"]
    pd.DataFrame({"timestamp": one["timestamp"], "value": one["cpu_percent"] / 100}).to_csv(
        folder / "trace.csv", index=False)
    changed = (one["strategy"] != one["strategy"].shift()) | (one["servers"] != one["servers"].shift())
    log = one.loc[changed, ["timestamp", "strategy", "servers"]].astype(str)
    log.loc[log.index[1:], "strategy"] = log["strategy"].where(log["strategy"] != log["strategy"].shift(), "")
    assert len(log) >= 3 and (log["strategy"] == "").any()  # the log has changes of each kind, and blanks
    log.to_csv(folder / "changes.csv", index=False)
    return folder, one.reset_index(drop=True)


TRACE = ('cpu_scale = "fraction"\ntier_changes = "changes.csv"\n[data.messaging_columns]\n'
         'cpu_percent = "value"\n[data.messaging_defaults]\nserver = "msg-1"\n')


def test_a_plain_cpu_trace_runs_from_a_config(trace):
    folder, one = trace
    config = _config(folder, messaging="trace.csv", data_extra=TRACE)
    apps, samples = capacity.pipeline.read_data(config)
    assert list(samples.columns) == ["timestamp", "server", "cpu_percent", "strategy", "servers"]
    assert (samples["server"] == "msg-1").all()
    np.testing.assert_allclose(samples["cpu_percent"], one["cpu_percent"], rtol=1e-12)
    assert samples["strategy"].tolist() == one["strategy"].tolist()
    assert samples["servers"].tolist() == one["servers"].tolist()
    result = run(config, n_paths=300)
    assert result.inputs.servers == 4 and result.inputs.strategy == "broadcast"
    assert _at_risk(result.plan.headline) == "3 of 3 projects at risk."  # msg-1 alone runs hotter


def test_constant_columns_without_a_change_log(trace):
    folder, _ = trace
    extra = ('cpu_scale = "fraction"\n[data.messaging_columns]\ncpu_percent = "value"\n'
             '[data.messaging_defaults]\nserver = "db-1"\nstrategy = "broadcast"\nservers = 4\n')
    _, samples = capacity.pipeline.read_data(_config(folder, messaging="trace.csv", data_extra=extra))
    assert set(samples["strategy"]) == {"broadcast"} and set(samples["servers"]) == {4}


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ("timestamp,strategy,servers\n2010-01-01,broadcast,3\n",
         r"changes\.csv: the first change \(2010-01-01 00:00:00\) comes after the first messaging sample "
         r"\(2009-06-01 00:00:00\); start the change log \(data\.tier_changes\) on or before it"),
        ("timestamp,strategy\n2009-06-01,broadcast\n",
         r"changes\.csv: column 'servers' is missing from the tier changes \(columns found: 'timestamp', "
         r"'strategy'\); data\.tier_changes needs the columns timestamp, strategy and servers"),
        ("timestamp,strategy,servers\n2009-06-01,broad\x07cast,3\n",
         r"changes\.csv, column 'strategy', row 1: .* contains a control character"),
    ],
    ids=["starts-late", "missing-column", "control-character"],
)
def test_a_bad_change_log_names_the_file(tmp_path, trace, changes, match):
    folder, _ = trace
    (tmp_path / "changes.csv").write_text(changes)
    config = _config(tmp_path, messaging=folder / "trace.csv", data_extra=TRACE)
    with pytest.raises(capacity.InputDataError, match=match):
        capacity.pipeline.read_data(config)


@pytest.mark.slow
def test_excluded_counts_and_data_age_reach_the_report(tmp_path, spiked):
    import json

    from capacity.report.html import write_report

    result = run(_config(tmp_path, apps=spiked), as_of=dt.date(2010, 10, 20), n_paths=300)
    folder = write_report(result, tmp_path / "out")
    data = json.loads((folder / "summary.json").read_text())["data"]
    assert data["excluded"][0]["date"] == "2010-10-01" and data["excluded"][0]["value"] == 999_999_999
    assert data["age_days"] == 0 and data["newest"]["apps"] == "2010-10-20"
    page = (folder / "index.html").read_text()
    assert "Left out of the growth fit as implausible" in page and "999,999,999" in page
    assert "Newest data:" in page


def test_watch_settings_a_tier_cannot_meet_name_their_key(tmp_path):
    _config(tmp_path)
    text = (tmp_path / "plan.toml").read_text()
    assert 'metric = "busiest_hour"' in text
    (tmp_path / "spare.toml").write_text(text.replace("[limit]\n", "[limit]\nspare_servers = 4\n"))
    spare = capacity.load_config(tmp_path / "spare.toml")
    with pytest.raises(capacity.ConfigError, match=r"key 'limit\.spare_servers' must be less than the 4 "
                                                   r"messaging servers in service, not 4"):
        run(spare, n_paths=100)
    daily = pd.read_csv(SAMPLE / "messaging.csv")
    daily = daily[daily["timestamp"].str.contains("T12:00")]
    daily.to_csv(tmp_path / "daily.csv", index=False)
    config = _config(tmp_path, messaging=tmp_path / "daily.csv")
    with pytest.raises(capacity.ConfigError,
                       match=r"key 'limit\.metric': planning on the busiest hour of the average server needs "
                             r"the load's intraday profile and server shares: the messaging samples have"):
        run(config, n_paths=100)
