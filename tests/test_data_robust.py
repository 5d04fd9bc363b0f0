"""Issue 13 (robustness) for capacity.data: out-of-range dates, absurd numbers, odd files, missing columns
that name the setting to fix them, empty frames, and the tier change log (strategy and server count)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from capacity.data import (
    apply_tier_changes,
    apps_from_changes,
    daily_percentiles,
    load_apps,
    load_changes,
    load_messaging,
    load_tier_changes,
)
from capacity.errors import ArgumentError, InputDataError

ROOT = Path(__file__).resolve().parents[1]
REAL_CPU = ROOT / "data" / "real" / "cpu"

APPS = [f"2010-01-{d:02d},{1000 + 10 * d}" for d in range(1, 13)]
MSG_HEADER = "timestamp,server,cpu_percent,strategy,servers"
MSG = [f"2010-01-01T{h:02d}:00:00Z,m,{20 + h},broadcast,2" for h in range(12)]
TRACE = {"server": "s1", "strategy": "broadcast", "servers": 1}


def write(tmp_path: Path, rows: list[str], header: str = "date,apps", name: str = "apps.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def replace(rows: list[str], i: int, row: str) -> list[str]:
    return [*rows[:i], row, *rows[i + 1:]]


def one_line(info: pytest.ExceptionInfo) -> str:
    message = str(info.value)
    assert "\n" not in message
    return message


# --- item 7: dates outside the supported range -------------------------------------------------------

@pytest.mark.parametrize("day", ["1677-01-01", "1700-01-01", "9999-12-31", "0001-01-01", "2262-05-01",
                                 "1969-12-31"])
def test_app_dates_outside_the_supported_range_name_file_column_row_and_range(tmp_path, day):
    path = write(tmp_path, replace(APPS, 3, f"{day},1040"))
    with pytest.raises(InputDataError) as info:
        load_apps(path)
    message = one_line(info)
    assert message.startswith(f"{path}, column 'date', row 4: ")
    assert day in message and "1970-01-01" in message and "2199-12-31" in message


def test_a_date_shifted_out_of_range_by_its_offset_is_refused(tmp_path):
    rows = [r.replace(",", "T12:00:00Z,") for r in APPS]
    path = write(tmp_path, replace(rows, 0, "2199-12-31T23:00:00-05:00,1010"))
    with pytest.raises(InputDataError, match=r"column 'date', row 1: .*outside the supported range"):
        load_apps(path)


def test_the_edges_of_the_supported_range_load(tmp_path):
    rows = ["1970-01-01,1", *APPS[1:-1], "2199-12-31,5000"]
    frame = load_apps(write(tmp_path, rows))
    assert frame.index[0] == pd.Timestamp("1970-01-01")
    assert frame.index[-1] == pd.Timestamp("2199-12-31")


def test_out_of_range_datetimes_in_parquet_are_refused(tmp_path):
    path = tmp_path / "apps.parquet"
    dates = [pd.Timestamp(f"2010-01-{d:02d}").to_pydatetime() for d in range(1, 13)]
    dates[5] = dates[5].replace(year=9999)
    frame = pd.DataFrame({"date": pd.Series(dates, dtype="datetime64[us]"), "apps": range(12)})
    frame.to_parquet(path)
    with pytest.raises(InputDataError, match=r"column 'date', row 6: .*outside the supported range"):
        load_apps(path)


def test_messaging_timestamps_outside_the_range_are_refused(tmp_path):
    path = write(tmp_path, replace(MSG, 2, "2300-01-01T00:00:00Z,m,30,broadcast,2"), MSG_HEADER, "m.csv")
    with pytest.raises(InputDataError, match=r"m\.csv, column 'timestamp', row 3: .*outside the supported"):
        load_messaging(path)


# --- item 7: absurd numbers ------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["1e300", "1e13", "99999999999999999999", "9223372036854775807"])
def test_implausibly_large_app_counts_are_refused(tmp_path, value):
    path = write(tmp_path, replace(APPS, 3, f"2010-01-04,{value}"))
    with pytest.raises(InputDataError) as info:
        load_apps(path)
    message = one_line(info)
    assert message.startswith(f"{path}, column 'apps', row 4: ")
    assert "implausibly large" in message and "negative" not in message


def test_the_largest_plausible_app_count_loads(tmp_path):
    frame = load_apps(write(tmp_path, replace(APPS, 3, "2010-01-04,1000000000000")))
    assert frame["apps"].iloc[3] == 10**12


def test_implausibly_large_new_apps_and_changes_are_refused(tmp_path):
    rows = [f"{r},5" for r in APPS]
    path = write(tmp_path, replace(rows, 6, "2010-01-07,1070,1e300"), "date,apps,new_apps")
    with pytest.raises(InputDataError, match=r"column 'new_apps', row 7: .*implausibly large"):
        load_apps(path)
    log = write(tmp_path, ["2020-01-01,5,0", "2020-01-02,1e300,0"], "date,added,removed", "log.csv")
    with pytest.raises(InputDataError, match=r"log\.csv, column 'added', row 2: .*implausibly large"):
        load_changes(log)


@pytest.mark.parametrize("value", ["1e300", "1000001"])
def test_implausibly_large_server_counts_are_refused(tmp_path, value):
    path = write(tmp_path, replace(MSG, 4, f"2010-01-01T04:00:00Z,m,24,broadcast,{value}"), MSG_HEADER,
                 "m.csv")
    with pytest.raises(InputDataError) as info:
        load_messaging(path)
    message = one_line(info)
    assert message.startswith(f"{path}, column 'servers', row 5: ")
    assert "implausibly large" in message


@pytest.mark.parametrize(("value", "problem"), [
    ("inf", "is not a finite number"), ("-inf", "is not a finite number"),
    ("1e400", "is not a finite number"),
    ("nan", "missing value"), ("1e300", "outside 0..100"), ("-1e300", "outside 0..100"),
    ("-0.5", "outside 0..100"), ("x", "is not a number"),
])
def test_every_absurd_cpu_value_is_refused_by_row(tmp_path, value, problem):
    for row in (0, 7):
        rows = replace(MSG, row, f"2010-01-01T{row:02d}:00:00Z,m,{value},broadcast,2")
        path = write(tmp_path, rows, MSG_HEADER, "m.csv")
        with pytest.raises(InputDataError) as info:
            load_messaging(path)
        message = one_line(info)
        assert message.startswith(f"{path}, column 'cpu_percent', row {row + 1}: ")
        assert problem in message


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-1"])
def test_absurd_cpu_fractions_are_refused(tmp_path, value):
    rows = [f"2010-01-01T{h:02d}:00:00Z,m,{0.2 if h != 3 else value},broadcast,2" for h in range(12)]
    with pytest.raises(InputDataError, match=r"column 'cpu_percent', row 4: "):
        load_messaging(write(tmp_path, rows, MSG_HEADER, "m.csv"), cpu_scale="fraction")


def test_control_characters_in_names_are_refused(tmp_path):
    path = write(tmp_path, replace(MSG, 2, "2010-01-01T02:00:00Z,m,22,broad\acast,2"), MSG_HEADER, "m.csv")
    with pytest.raises(InputDataError, match=r"m\.csv, column 'strategy', row 3: .*control character"):
        load_messaging(path)


# --- item 7: files that are not regular files -----------------------------------------------------------

def test_a_directory_as_a_data_file(tmp_path):
    folder = tmp_path / "apps.csv"
    folder.mkdir()
    with pytest.raises(InputDataError, match=r"apps\.csv: is a directory, not a data file$"):
        load_apps(folder)


def test_dev_null_as_a_data_file():
    if not os.path.exists("/dev/null"):
        pytest.skip("no /dev/null")
    with pytest.raises(InputDataError, match=r"^/dev/null: is not a regular file \(a device"):
        load_apps("/dev/null")


def test_a_fifo_as_a_data_file(tmp_path):
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs here")
    fifo = tmp_path / "apps.csv"
    os.mkfifo(fifo)
    with pytest.raises(InputDataError, match=r"apps\.csv: is not a regular file"):
        load_apps(fifo)  # must not block reading the pipe


def test_a_symlink_loop_as_a_data_file(tmp_path):
    loop = tmp_path / "apps.csv"
    os.symlink(loop, loop)
    with pytest.raises(InputDataError, match=r"apps\.csv: is a symlink loop"):
        load_apps(loop)
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    os.symlink(b, a)
    os.symlink(a, b)
    with pytest.raises(InputDataError, match=r"a\.csv: is a symlink loop"):
        load_apps(a)


def test_a_broken_symlink_names_its_target(tmp_path):
    link = tmp_path / "apps.csv"
    os.symlink(tmp_path / "gone.csv", link)
    with pytest.raises(InputDataError, match=r"apps\.csv: is a broken symlink \(to .*gone\.csv\)"):
        load_apps(link)


def test_a_symlink_to_a_good_file_loads(tmp_path):
    target = write(tmp_path, APPS, name="real.csv")
    link = tmp_path / "apps.csv"
    os.symlink(target, link)
    assert len(load_apps(link)) == 12


def test_a_missing_file_still_says_not_found(tmp_path):
    with pytest.raises(InputDataError, match=r"nowhere\.csv: file not found$"):
        load_apps(tmp_path / "nowhere.csv")


# --- item 7: missing columns name the setting that fixes them ----------------------------------------

@pytest.mark.parametrize(("kwargs", "header", "key", "keyword"), [
    ({}, "day,apps", "data.apps_columns.date", "date_col="),
    ({}, "date,value", "data.apps_columns.apps", "apps_col="),
    ({"new_apps_col": "created"}, "date,apps", "data.apps_columns.new_apps", "new_apps_col="),
])
def test_missing_app_columns_name_the_config_key_and_keyword(tmp_path, kwargs, header, key, keyword):
    path = write(tmp_path, APPS, header)
    with pytest.raises(InputDataError) as info:
        load_apps(path, **kwargs)
    message = one_line(info)
    assert "is missing from the app counts" in message
    assert key in message and keyword in message


@pytest.mark.parametrize(("drop", "key", "keyword", "default"), [
    ("timestamp", "data.messaging_columns.timestamp", "timestamp_col=", None),
    ("cpu_percent", "data.messaging_columns.cpu_percent", "cpu_col=", None),
    ("server", "data.messaging_columns.server", "server_col=", "defaults={'server': ...}"),
    ("strategy", "data.messaging_columns.strategy", "strategy_col=", "defaults={'strategy': ...}"),
    ("servers", "data.messaging_columns.servers", "servers_col=", "defaults={'servers': ...}"),
])
def test_missing_messaging_columns_name_the_config_key_and_options(tmp_path, drop, key, keyword, default):
    names = MSG_HEADER.split(",")
    keep = [i for i, n in enumerate(names) if n != drop]
    rows = [",".join(r.split(",")[i] for i in keep) for r in MSG]
    path = write(tmp_path, rows, ",".join(names[i] for i in keep), "m.csv")
    with pytest.raises(InputDataError) as info:
        load_messaging(path)
    message = one_line(info)
    assert f"column {drop!r} is missing from the messaging samples" in message
    assert key in message and keyword in message
    assert default is None or default in message


def test_missing_change_log_columns_name_the_keywords(tmp_path):
    path = write(tmp_path, ["2020-01-01,5"], "date,new", "log.csv")
    with pytest.raises(InputDataError, match=r"column 'added' is missing from the change log .*added_col="):
        load_changes(path)


# --- item 10: a plain CPU trace, and a change log of strategy and server count ------------------------

def test_a_plain_timestamp_value_trace_loads_with_defaults(tmp_path):
    rows = [f"2014-04-02 {h:02d}:00:00,{30 + h / 3}" for h in range(24)]
    frame = load_messaging(write(tmp_path, rows, "timestamp,value", "cpu.csv"), cpu_col="value",
                           defaults=TRACE)
    assert list(frame.columns) == ["timestamp", "server", "cpu_percent", "strategy", "servers"]
    assert frame["server"].eq("s1").all() and frame["strategy"].eq("broadcast").all()
    assert frame["servers"].eq(1).all() and frame["servers"].dtype == np.int64
    assert frame["cpu_percent"].iloc[-1] == pytest.approx(30 + 23 / 3)


def test_a_plain_trace_without_cpu_col_says_which_option_to_pass(tmp_path):
    rows = [f"2014-04-02 {h:02d}:00:00,{30 + h}" for h in range(12)]
    path = write(tmp_path, rows, "timestamp,value", "cpu.csv")
    with pytest.raises(InputDataError,
                       match=r"column 'cpu_percent' is missing .*'timestamp', 'value'.*cpu_col="):
        load_messaging(path, defaults=TRACE)


def test_a_plain_fraction_trace_loads_with_cpu_scale(tmp_path):
    rows = [f"2014-04-02 {h:02d}:00:00,{h / 40}" for h in range(24)]
    path = write(tmp_path, rows, "timestamp,value", "cpu.csv")
    with pytest.raises(InputDataError, match=r"cpu_scale='fraction'"):
        load_messaging(path, cpu_col="value", defaults=TRACE)
    frame = load_messaging(path, cpu_col="value", defaults=TRACE, cpu_scale="fraction")
    assert frame["cpu_percent"].max() == pytest.approx(57.5)


def test_every_real_cpu_trace_loads_as_a_plain_trace():
    for path in sorted(REAL_CPU.glob("*.csv")):
        frame = load_messaging(path, cpu_col="value", defaults=TRACE)
        assert frame["server"].eq("s1").all(), path


TIER_HEADER = "timestamp,strategy,servers"


def test_load_tier_changes_sorts_and_carries_blanks_forward(tmp_path):
    path = write(tmp_path, ["2010-10-27T02:00:00Z,targeted,", "2010-06-01T00:00:00Z,broadcast,3",
                            "2010-09-01T00:00:00Z,,4"], TIER_HEADER, "tier.csv")
    changes = load_tier_changes(path)
    assert list(changes.columns) == ["timestamp", "strategy", "servers"]
    assert changes["timestamp"].tolist() == [pd.Timestamp("2010-06-01"), pd.Timestamp("2010-09-01"),
                                             pd.Timestamp("2010-10-27 02:00")]
    assert changes["strategy"].tolist() == ["broadcast", "broadcast", "targeted"]
    assert changes["servers"].tolist() == [3, 4, 4] and changes["servers"].dtype == np.int64


@pytest.mark.parametrize(("rows", "match"), [
    (["2010-06-01,broadcast,"], r"tier\.csv, column 'servers', row 1: missing value \(the first change"),
    (["2010-09-01,targeted,4", "2010-06-01,,3"],
     r"tier\.csv, column 'strategy', row 2: missing value \(the first change"),
    (["2010-06-01,broadcast,0"], r"tier\.csv, column 'servers', row 1: '0' is not a whole number >= 1"),
    (["2010-06-01,broadcast,1e300"], r"tier\.csv, column 'servers', row 1: .*implausibly large"),
    (["2010-06-01,broadcast,2", "2010-06-01,targeted,2"],
     r"tier\.csv, column 'timestamp', row 2: duplicate 2010-06-01 00:00:00 \(already given in row 1\)"),
    (["junk,broadcast,2"], r"tier\.csv, column 'timestamp', row 1: cannot parse 'junk'"),
    (["2010-06-01,broad\tcast,2"], r"tier\.csv, column 'strategy', row 1: .*control character"),
])
def test_load_tier_changes_bad_input(tmp_path, rows, match):
    with pytest.raises(InputDataError, match=match):
        load_tier_changes(write(tmp_path, rows, TIER_HEADER, "tier.csv"))


def test_load_tier_changes_missing_column_names_the_keyword(tmp_path):
    path = write(tmp_path, ["2010-06-01,broadcast"], "when,strategy", "tier.csv")
    with pytest.raises(InputDataError, match=r"column 'timestamp' is missing from the tier changes .*"
                                             r"timestamp_col="):
        load_tier_changes(path)
    changes = load_tier_changes(write(tmp_path, ["2010-06-01,broadcast,2"], "when,mode,n", "t2.csv"),
                                timestamp_col="when", strategy_col="mode", servers_col="n")
    assert changes["strategy"].tolist() == ["broadcast"]


def _trace(tmp_path: Path) -> pd.DataFrame:
    rows = [f"2010-01-{d:02d} {h:02d}:00:00,{20 + h}" for d in range(1, 6) for h in (0, 12)]
    return load_messaging(write(tmp_path, rows, "timestamp,value", "cpu.csv"), cpu_col="value",
                          defaults=TRACE)


def test_apply_tier_changes_fills_each_sample_from_the_change_in_force(tmp_path):
    samples = _trace(tmp_path)
    changes = load_tier_changes(write(tmp_path, ["2010-01-03T12:00:00,targeted,", "2010-01-02,broadcast,3"],
                                      TIER_HEADER, "tier.csv"))
    out = apply_tier_changes(samples, changes)
    assert list(out.columns) == list(samples.columns) and out.index.equals(samples.index)
    by_time = out.set_index("timestamp")
    # before the first change the samples keep their own values (the defaults)
    assert by_time.loc["2010-01-01 12:00", "servers"] == 1
    assert by_time.loc["2010-01-01 12:00", "strategy"] == "broadcast"
    # a change is in force from its own timestamp on
    assert by_time.loc["2010-01-02 00:00", "servers"] == 3
    assert by_time.loc["2010-01-03 00:00", "strategy"] == "broadcast"
    assert by_time.loc["2010-01-03 12:00", "strategy"] == "targeted"
    assert by_time.loc["2010-01-05 12:00", "servers"] == 3
    assert out["servers"].dtype == np.int64
    assert samples["servers"].eq(1).all()  # the input is not modified


def test_apply_tier_changes_needs_the_log_to_cover_samples_without_the_columns(tmp_path):
    samples = _trace(tmp_path).drop(columns=["strategy", "servers"])
    changes = pd.DataFrame({"timestamp": pd.to_datetime(["2010-01-02"]), "strategy": ["targeted"],
                            "servers": [2]})
    with pytest.raises(InputDataError, match=r"apply_tier_changes: the sample at 2010-01-01 00:00:00 "
                                             r"precedes the first change \(2010-01-02 00:00:00\)"):
        apply_tier_changes(samples, changes)
    out = apply_tier_changes(samples, changes.assign(timestamp=pd.to_datetime(["2009-12-31"])))
    assert out["strategy"].eq("targeted").all() and out["servers"].eq(2).all()


def test_apply_tier_changes_bad_arguments(tmp_path):
    samples = _trace(tmp_path)
    with pytest.raises(ArgumentError, match=r"apply_tier_changes: changes must be a DataFrame"):
        apply_tier_changes(samples, "tier.csv")
    with pytest.raises(ArgumentError, match=r"apply_tier_changes: len\(changes\) must be"):
        apply_tier_changes(samples, pd.DataFrame(columns=["timestamp", "strategy", "servers"]))
    with pytest.raises(InputDataError, match=r"apply_tier_changes: column 'servers' is missing from changes"):
        apply_tier_changes(samples, pd.DataFrame({"timestamp": [pd.Timestamp("2010-01-01")],
                                                  "strategy": ["x"]}))
    with pytest.raises(ArgumentError, match=r"load_tier_changes: path must be"):
        load_tier_changes("")


# --- item 15: empty input gives a clear error, not a raw pandas one -------------------------------------

def test_daily_percentiles_on_empty_samples_is_an_argument_error():
    empty = pd.DataFrame({"timestamp": pd.Series([], dtype="datetime64[ns]"), "cpu_percent": []})
    with pytest.raises(ArgumentError,
                       match=r"daily_percentiles: len\(samples\) must be an integer >= 1, not 0"):
        daily_percentiles(empty)


def test_apps_from_changes_on_empty_changes_is_an_argument_error():
    empty = pd.DataFrame({"added": [], "removed": []}, index=pd.DatetimeIndex([]))
    with pytest.raises(ArgumentError,
                       match=r"apps_from_changes: len\(changes\) must be an integer >= 1, not 0"):
        apps_from_changes(empty)
