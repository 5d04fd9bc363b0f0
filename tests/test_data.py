"""Tests of capacity.data: every input the package reads passes through here."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import capacity
from capacity.data import (
    apps_from_changes,
    attach_apps,
    daily_percentiles,
    load_apps,
    load_changes,
    load_messaging,
)
from capacity.errors import CapacityError, InputDataError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "capacity" / "sample"
REAL = ROOT / "data" / "real"


def write(tmp_path: Path, text: str, name: str = "apps.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def apps_csv(rows: list[str], header: str = "date,apps") -> str:
    return "\n".join([header, *rows]) + "\n"


GOOD_APPS = [f"2010-01-{d:02d},{1000 + 10 * d}" for d in range(1, 13)]


# --- app counts: the happy path -------------------------------------------------------------

def test_load_apps_types_and_index(tmp_path):
    frame = load_apps(write(tmp_path, apps_csv(GOOD_APPS)))
    assert isinstance(frame.index, pd.DatetimeIndex)
    assert frame.index.name == "date"
    assert frame.index.tz is None
    assert frame["apps"].dtype == np.int64
    assert frame["apps"].iloc[-1] == 1120


def test_load_apps_sorts_unsorted_rows(tmp_path):
    frame = load_apps(write(tmp_path, apps_csv(list(reversed(GOOD_APPS)))))
    assert frame.index.is_monotonic_increasing
    assert frame["apps"].iloc[0] == 1010


def test_load_apps_converts_offsets_to_utc_days(tmp_path):
    rows = [f"2010-01-{d:02d}T23:30:00-02:00,{1000 + d}" for d in range(1, 13)]
    frame = load_apps(write(tmp_path, apps_csv(rows)))
    # 23:30 at UTC-2 is 01:30 UTC the next day
    assert frame.index[0] == pd.Timestamp("2010-01-02")


def test_load_apps_configurable_columns(tmp_path):
    rows = [f"2010-01-{d:02d},{d}" for d in range(1, 13)]
    frame = load_apps(write(tmp_path, apps_csv(rows, "day,value")), date_col="day", apps_col="value")
    assert frame["apps"].sum() == sum(range(1, 13))


def test_load_apps_parquet(tmp_path):
    path = tmp_path / "apps.parquet"
    pd.DataFrame({"date": pd.date_range("2010-01-01", periods=12), "apps": range(12)}).to_parquet(path)
    assert load_apps(path)["apps"].iloc[-1] == 11


# --- app counts: every bad input names file, column and row -----------------------------------

@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", r"apps\.csv: file is empty"),
        ("date,apps\n", r"apps\.csv: has a header but no data rows"),
        (apps_csv([r.replace(",", ";") for r in GOOD_APPS], "date;apps"),
         r"column 'date' is missing from the app counts \(columns found: 'date;apps'\)"),
        (apps_csv(GOOD_APPS[:3] + ["2010-13-04,1040"] + GOOD_APPS[4:]),
         r"apps\.csv, column 'date', row 4: cannot parse '2010-13-04'"),
        (apps_csv(GOOD_APPS[:5] + ["2010-01-05,1050"] + GOOD_APPS[6:]),
         r"apps\.csv, column 'date', row 6: duplicate 2010-01-05 00:00:00 \(already given in row 5\)"),
        (apps_csv(GOOD_APPS[:2] + ["2010-01-03,-5"] + GOOD_APPS[3:]),
         r"apps\.csv, column 'apps', row 3: negative count '-5'"),
        (apps_csv(GOOD_APPS[:6] + ["2010-01-07,1070.5"] + GOOD_APPS[7:]),
         r"apps\.csv, column 'apps', row 7: '1070.5' is not a whole number of apps"),
        (apps_csv(GOOD_APPS[:8] + ["2010-01-09,"] + GOOD_APPS[9:]),
         r"apps\.csv, column 'apps', row 9: missing value"),
        (apps_csv(GOOD_APPS[:8] + ["2010-01-09,NaN"] + GOOD_APPS[9:]),
         r"apps\.csv, column 'apps', row 9: missing value"),
        (apps_csv(GOOD_APPS[:8] + ["2010-01-09,lots"] + GOOD_APPS[9:]),
         r"apps\.csv, column 'apps', row 9: 'lots' is not a number"),
        (apps_csv(GOOD_APPS[:1] + ["2010-01-02T00:00:00Z,1020"] + GOOD_APPS[2:]),
         r"apps\.csv, column 'date', row 2: mixed timezones"),
        (apps_csv(GOOD_APPS[:4]),
         r"apps\.csv, column 'apps': 4 observations are too few to fit growth; at least 10 are needed"),
    ],
    ids=["empty", "header-only", "missing-column", "bad-date", "duplicate", "negative",
         "non-integer", "blank", "nan", "text", "mixed-tz", "too-short"],
)
def test_load_apps_bad_input(tmp_path, text, match):
    with pytest.raises(InputDataError, match=match):
        load_apps(write(tmp_path, text))


def test_missing_file_is_input_error_and_value_error(tmp_path):
    with pytest.raises(InputDataError, match=r"nowhere\.csv: file not found") as info:
        load_apps(tmp_path / "nowhere.csv")
    assert isinstance(info.value, CapacityError)
    assert isinstance(info.value, ValueError)


def test_unsupported_file_type(tmp_path):
    with pytest.raises(InputDataError, match=r"apps\.xlsx: unsupported file type '\.xlsx'"):
        load_apps(write(tmp_path, "x", "apps.xlsx"))


def test_error_message_is_one_line(tmp_path):
    path = write(tmp_path, apps_csv(GOOD_APPS[:3] + ["2010-13-04,1040"] + GOOD_APPS[4:]))
    with pytest.raises(InputDataError) as info:
        load_apps(path)
    assert "\n" not in str(info.value)


# --- messaging samples ------------------------------------------------------------------------

def messaging_csv(rows: list[str]) -> str:
    return apps_csv(rows, "timestamp,server,cpu_percent,strategy,servers")


GOOD_MSG = [f"2010-01-01T{h:02d}:00:00Z,msg-{s},{20 + h + s},broadcast,2"
            for h in range(12) for s in (1, 2)]


def test_load_messaging_types(tmp_path):
    frame = load_messaging(write(tmp_path, messaging_csv(GOOD_MSG), "m.csv"))
    assert list(frame.columns) == ["timestamp", "server", "cpu_percent", "strategy", "servers"]
    assert frame["timestamp"].dt.tz is None
    assert frame["servers"].dtype == np.int64
    assert frame["cpu_percent"].iloc[-1] == 20 + 11 + 2


def test_load_messaging_defaults_fill_missing_columns(tmp_path):
    rows = [f"2014-04-02 {h:02d}:00:00,{30 + h}" for h in range(12)]
    path = write(tmp_path, apps_csv(rows, "timestamp,value"), "cpu.csv")
    frame = load_messaging(path, cpu_col="value",
                           defaults={"server": "db-1", "strategy": "broadcast", "servers": 1})
    assert set(frame["server"]) == {"db-1"}
    assert frame["servers"].eq(1).all()


@pytest.mark.parametrize(
    ("rows", "kwargs", "match"),
    [
        (GOOD_MSG[:3] + [GOOD_MSG[3].replace(",23,", ",123,")] + GOOD_MSG[4:], {},
         r"m\.csv, column 'cpu_percent', row 4: '123' is outside 0\.\.100 percent"),
        ([r.replace(f",{20 + h + s},", f",{(20 + h + s) / 100},")
          for r, (h, s) in zip(GOOD_MSG, [(h, s) for h in range(12) for s in (1, 2)], strict=True)],
         {}, r"m\.csv, column 'cpu_percent', row \d+: every value is between 0 and 1: these look like "
             r"fractions, not percent"),
        (GOOD_MSG[:1] + [GOOD_MSG[0]] + GOOD_MSG[2:], {},
         r"m\.csv, column 'timestamp', row 2: duplicate 2010-01-01 00:00:00 / msg-1 "
         r"\(already given in row 1\)"),
        (GOOD_MSG[:5] + [GOOD_MSG[5].replace("Z,", ",")] + GOOD_MSG[6:], {},
         r"m\.csv, column 'timestamp', row 6: mixed timezones"),
        (GOOD_MSG[:5] + [GOOD_MSG[5].replace(",2", ",0")] + GOOD_MSG[6:], {},
         r"m\.csv, column 'servers', row 6: '0' is not a whole number >= 1"),
        (GOOD_MSG[:7] + [GOOD_MSG[7].replace("broadcast", "")] + GOOD_MSG[8:], {},
         r"m\.csv, column 'strategy', row 8: missing value"),
        (GOOD_MSG, {"cpu_col": "cpu"},
         r"m\.csv: column 'cpu' is missing from the messaging samples"),
        (GOOD_MSG[:3], {}, r"m\.csv, column 'cpu_percent': 3 samples are too few; at least 10"),
    ],
    ids=["cpu>100", "fraction", "duplicate", "mixed-tz", "servers", "blank-strategy",
         "missing-column", "too-short"],
)
def test_load_messaging_bad_input(tmp_path, rows, kwargs, match):
    with pytest.raises(InputDataError, match=match):
        load_messaging(write(tmp_path, messaging_csv(rows), "m.csv"), **kwargs)


def test_load_messaging_keeps_the_brokers_delivery_counts(tmp_path):
    header = "timestamp,server,cpu_percent,strategy,servers,deliveries\n"
    rows = [f"2010-01-01T{h:02d}:00:00Z,m,{20 + h},broadcast,1,{'' if h == 3 else 40 + h}" for h in range(12)]
    frame = load_messaging(write(tmp_path, header + "\n".join(rows) + "\n", "m.csv"))
    assert list(frame.columns) == ["timestamp", "server", "cpu_percent", "strategy", "servers", "deliveries"]
    assert np.isnan(frame["deliveries"].iloc[3]) and frame["deliveries"].iloc[11] == 51
    renamed = write(tmp_path, header.replace("deliveries", "receivers") + "\n".join(rows) + "\n", "r.csv")
    assert "deliveries" not in load_messaging(renamed).columns
    assert load_messaging(renamed, deliveries_col="receivers")["deliveries"].iloc[0] == 40
    for bad, shown in (("lots", "'lots'"), ("-1", "'-1'"), ("inf", "'inf'")):
        broken = [r if i != 4 else r.rsplit(",", 1)[0] + f",{bad}" for i, r in enumerate(rows)]
        with pytest.raises(InputDataError, match=rf"m\.csv, column 'deliveries', row 5: {shown} is not a "
                                                 r"number of deliveries per message"):
            load_messaging(write(tmp_path, header + "\n".join(broken) + "\n", "m.csv"))


def test_load_messaging_fraction_scale(tmp_path):
    rows = [f"2010-01-01T{h:02d}:00:00Z,m,{h / 100},broadcast,1" for h in range(12)]
    frame = load_messaging(write(tmp_path, messaging_csv(rows), "m.csv"), cpu_scale="fraction")
    assert frame["cpu_percent"].iloc[-1] == pytest.approx(11.0)


# --- helpers ------------------------------------------------------------------------------------

def test_attach_apps_interpolates_within_the_day():
    apps = pd.Series([100, 200], index=pd.to_datetime(["2010-01-01", "2010-01-02"]), name="apps")
    samples = pd.DataFrame({"timestamp": pd.to_datetime(["2010-01-02 00:00", "2010-01-02 12:00",
                                                         "2010-01-03 00:00", "2010-01-05 00:00"])})
    out = attach_apps(samples, apps)
    # end of Jan 1 = 100, end of Jan 2 = 200; the sample after the last count is dropped
    assert out["apps"].tolist() == [100.0, 150.0, 200.0]


def test_daily_percentiles_keeps_gaps():
    times = pd.date_range("2010-01-01", periods=24 * 4, freq="h")
    samples = pd.DataFrame({"timestamp": times, "server": "a", "cpu_percent": np.arange(96.0)})
    samples = samples[samples["timestamp"].dt.day != 3]
    table = daily_percentiles(samples, q=(0.5, 1.0))
    assert table.index.tolist() == list(pd.date_range("2010-01-01", "2010-01-04"))
    assert table.loc["2010-01-03", "count"] == 0
    assert np.isnan(table.loc["2010-01-03", "p50"])
    assert table.loc["2010-01-01", "p100"] == 23.0
    assert table.loc["2010-01-02", "p50"] == pytest.approx(35.5)


def test_apps_from_changes_fills_days():
    changes = pd.DataFrame({"added": [3, 2], "removed": [0, 1]},
                           index=pd.to_datetime(["2020-01-01", "2020-01-04"]))
    live = apps_from_changes(changes, start=10)
    assert live.tolist() == [13, 13, 13, 14]


def test_apps_from_changes_rejects_negative_totals():
    changes = pd.DataFrame({"added": [1, 0], "removed": [0, 5]},
                           index=pd.to_datetime(["2020-01-01", "2020-01-02"]))
    with pytest.raises(InputDataError, match="falls below zero on 2020-01-02"):
        apps_from_changes(changes)


# --- the embedded sample and the real data ------------------------------------------------------

@pytest.fixture(scope="module")
def sample():
    apps = load_apps(SAMPLE / "apps.csv")
    samples = load_messaging(SAMPLE / "messaging.csv")
    truth = json.loads((SAMPLE / "truth.json").read_text())
    return apps, samples, truth


def test_sample_honours_public_milestones(sample):
    apps, _, truth = sample
    assert apps.index[0] <= pd.Timestamp("2009-06-01")
    assert apps.index[-1] >= pd.Timestamp("2010-12-31")
    assert apps.loc["2010-12-08", "apps"] == 106_538
    nov = apps.loc["2009-11-19", "apps"]
    assert 38_000 <= nov <= 42_000
    weekly = (apps.loc["2010-03-01", "apps"] - apps.loc["2009-11-01", "apps"]) / (120 / 7)
    assert 800 <= weekly <= 1000
    # the sharp acceleration in the weeks before the outage
    before = apps["apps"].diff().loc["2010-06-01":"2010-08-31"].mean()
    after = apps["apps"].diff().loc["2010-09-13":"2010-10-25"].mean()
    assert after / before > 2.0
    assert pd.Timestamp(truth["growth"]["break_date"]) < pd.Timestamp("2010-10-26")


def test_sample_messaging_saturates_then_drops_fivefold(sample):
    _, samples, truth = sample
    assert set(samples["servers"]) <= set(range(3, 7))
    switch = pd.Timestamp(truth["messaging"]["switch"]).tz_localize(None)
    assert switch == pd.Timestamp("2010-10-27 02:00")
    strategy_after = samples.loc[samples["timestamp"] >= switch, "strategy"].unique()
    assert strategy_after.tolist() == ["targeted"]
    before = samples[(samples["timestamp"] >= switch - pd.Timedelta("1D")) & (samples["timestamp"] < switch)]
    after = samples[(samples["timestamp"] >= switch) & (samples["timestamp"] < switch + pd.Timedelta("1D"))]
    # the hottest server (msg-1 carries 15 % more than the average) is pinned at 100 % in its busy hours
    hottest = before[before["server"] == "msg-1"]
    assert (hottest["cpu_percent"] >= 100).mean() > 0.3
    ratio = before["cpu_percent"].mean() / after["cpu_percent"].mean()
    assert 4.5 <= ratio <= 5.5
    assert len(samples) > 24 * 500 * 3


def test_sample_range_and_gaps(sample):
    _, samples, _ = sample
    daily = daily_percentiles(samples)
    assert daily.index[0] == pd.Timestamp("2009-06-01")
    assert daily.index[-1] == pd.Timestamp("2010-12-31")
    assert (daily["count"] == 0).sum() == 3  # the monitoring outage stays a gap


@pytest.mark.parametrize("path", sorted((REAL / "growth").glob("*.csv")), ids=lambda p: p.stem)
def test_every_real_growth_file_loads(path):
    if path.stem.endswith("_daily"):
        log = load_changes(path)
        counts_path = path.with_name(path.stem.removesuffix("_daily") + ".csv")
        counts = load_apps(counts_path, apps_col="value")["apps"]
        # the count before the log's first day: 0 for a whole history, the count at the cut for a series that
        # starts after a bulk import (data/real/SOURCES.md says which)
        first = log.index[0]
        before = counts.loc[:first - pd.Timedelta(days=1)]
        net = int(log.loc[first, "added"] - log.loc[first, "removed"])
        start = int(before.iloc[-1]) if len(before) else int(counts.loc[first]) - net
        live = apps_from_changes(log, start=start)
        # the change log and the daily counts are two views of the same history, on every day
        assert live.iloc[-1] == counts.iloc[-1]
        on_days = live.reindex(counts.index).ffill().fillna(start)
        assert (on_days == counts).all()
    else:
        frame = load_apps(path, apps_col="value")
        assert frame["apps"].ge(0).all()
        assert len(frame) >= 200


@pytest.mark.parametrize("path", sorted((REAL / "cpu").glob("*.csv")), ids=lambda p: p.stem)
def test_every_real_cpu_file_loads(path):
    frame = load_messaging(path, cpu_col="value",
                           defaults={"server": path.stem, "strategy": "broadcast", "servers": 1})
    assert frame["cpu_percent"].between(0, 100).all()
    assert frame["timestamp"].is_monotonic_increasing
    assert len(frame) >= 4000


def test_public_names_resolve_lazily():
    assert capacity.load_apps is load_apps
    assert capacity.data.load_messaging is load_messaging
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        capacity.nope  # noqa: B018
