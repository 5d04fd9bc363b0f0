"""capacity.sources.prometheus against a real Prometheus, and the alerting export against promtool.

The session fixture backfills the sample platform into a fresh TSDB and starts Debian's
``prometheus`` on a free loopback port (tests/sources/prometheus_server.py); nothing is mocked at the
HTTP level. Without ``prometheus``/``promtool`` the tests are skipped, except in CI (``CI=true``),
where they fail.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from pandas.testing import assert_frame_equal

import capacity
from capacity.errors import ArgumentError, CapacityError, ConfigError, InputDataError
from capacity.report.prom import prometheus_textfile, write_textfile
from capacity.sources import prometheus as prom
from capacity.sources.prometheus import SourceDataError, SourceUnavailableError

_spec = importlib.util.spec_from_file_location("capacity_tests_prometheus_server",
                                               Path(__file__).with_name("prometheus_server.py"))
ps = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = ps
_spec.loader.exec_module(ps)

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "contrib" / "prometheus" / "capacity-alerts.yml"
RANGE = {"start": ps.START, "end": ps.END}
DELIVERED = {"deliveries_query": ps.DELIVERIES_QUERY}  # the broker's delivery counts, as in the sample
FAST = {"retries": 0}  # failures that are not transient need no retries; keeps the tests quick
USER, PASSWORD = "capacity", "not-a-real-secret"
# bcrypt (cost 4) of PASSWORD, for Prometheus's --web.config.file
PASSWORD_HASH = "$2b$04$mGbGABSX.9Yh8x7l7LHdPewYNKAPQgVMlGn0/al/D3nAHv1q2iG6K"


def _need_prometheus() -> None:
    reason = ps.missing()
    if reason is None:
        return
    if ps.in_ci():
        pytest.fail(f"CI must run the Prometheus tests: {reason}")
    pytest.skip(f"needs Debian's prometheus and promtool: {reason}")


@pytest.fixture(scope="session")
def blocks(tmp_path_factory) -> Path:
    _need_prometheus()
    return ps.sample_blocks(tmp_path_factory.mktemp("prometheus"))


@pytest.fixture(scope="session")
def server(blocks, tmp_path_factory):
    with ps.started(blocks, tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="session")
def sample():
    return ps.sample_frames()


def _one_line(exc: pytest.ExceptionInfo, *parts: str) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message
    return message


# ----------------------------------------------------------------------------- the frames


def test_apps_from_prometheus_equal_the_csv(server, sample):
    apps = prom.fetch_apps(server.url, ps.APPS_QUERY, new_apps_query=ps.NEW_APPS_QUERY, **RANGE)
    assert_frame_equal(apps, sample[0])
    only = prom.fetch_apps(server.url, ps.APPS_QUERY, **RANGE)
    assert_frame_equal(only, sample[0][["apps"]])


def test_an_hourly_step_gives_the_same_days(server, sample):
    # 24 evaluations a day, the latest of each day (its midnight) wins; 13,897 points need 2 requests
    assert len(prom.split_range(ps.START, ps.END, "1h")) == 2
    apps = prom.fetch_apps(server.url, ps.APPS_QUERY, step="1h", **RANGE)
    assert_frame_equal(apps, sample[0][["apps"]])


def test_messaging_from_prometheus_equals_the_csv(server, sample):
    samples = prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, strategy_label="strategy", **DELIVERED,
                                   servers_label="servers", **RANGE)
    assert_frame_equal(samples, sample[1])
    # the labels are the default ones; the changes of strategy and server count are all there
    assert_frame_equal(prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **DELIVERED, **RANGE), sample[1])
    assert samples.groupby(["strategy", "servers"]).size().to_dict() == {
        ("broadcast", 3): 22416, ("broadcast", 4): 18984, ("targeted", 4): 6312}


def test_without_a_deliveries_query_there_is_no_deliveries_column(server, sample):
    samples = prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **RANGE)
    assert_frame_equal(samples, sample[1].drop(columns="deliveries"))
    with pytest.raises(SourceDataError, match=r"query 'broker_deliveries_per_message - 1000'.*is not a "
                                              r"number of deliveries per message >= 0"):
        prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **RANGE, **FAST,
                             deliveries_query=f"{ps.DELIVERIES_QUERY} - 1000")


def test_an_unknown_delivery_count_is_nan_not_an_error(server, sample):
    """0/0 in an idle hour is NaN in PromQL: the count is unknown there (an infinite one is an error)."""
    samples = prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **RANGE,
                                   deliveries_query=f"({ps.DELIVERIES_QUERY} / 0) * 0")
    assert samples["deliveries"].isna().all()
    with pytest.raises(SourceDataError, match=r"\+?inf, is not a number of deliveries per message"):
        prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **RANGE, **FAST,
                             deliveries_query=f"{ps.DELIVERIES_QUERY} / 0")


def test_constants_stand_in_for_missing_labels(server, sample):
    query = "max by (instance) (broker_cpu_percent)"  # the strategy and servers labels are gone
    samples = prom.fetch_messaging(server.url, query, strategy="broadcast", servers=4, **DELIVERED, **RANGE)
    expected = sample[1].assign(strategy="broadcast", servers=4)
    expected["servers"] = expected["servers"].astype("int64")
    assert_frame_equal(samples, expected)


def test_a_long_range_is_fetched_in_pieces_without_gap_or_duplicate(server, sample):
    pieces = prom.split_range(ps.START, ps.END, "1h", max_points=500)
    assert len(pieces) == 28
    assert pieces[0][0] == pd.Timestamp(ps.START) and pieces[-1][1] == pd.Timestamp(ps.END)
    for (_, last), (first, _) in zip(pieces, pieces[1:], strict=False):
        assert first - last == pd.Timedelta(hours=1)  # the next piece starts one step later
    sizes = [(b - a) // pd.Timedelta(hours=1) + 1 for a, b in pieces]
    assert max(sizes) == 500 and sum(sizes) == len(pd.date_range(ps.START, ps.END, freq="h"))
    samples = prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, max_points=500, **DELIVERED, **RANGE)
    assert_frame_equal(samples, sample[1])
    # pieces of 7 days across the daily series too
    apps = prom.fetch_apps(server.url, ps.APPS_QUERY, new_apps_query=ps.NEW_APPS_QUERY, max_points=7, **RANGE)
    assert_frame_equal(apps, sample[0])


def test_the_server_really_refuses_more_than_11000_points(server):
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, max_points=20_000, **RANGE, **FAST)
    _one_line(info, server.url, "PromQL error", "11,000 points per timeseries")


def test_ranges_align_on_multiples_of_the_step():
    assert prom.split_range("2010-01-01T10:30:00", "2010-01-03T05:00:00", "1d") == [
        (pd.Timestamp("2010-01-02"), pd.Timestamp("2010-01-03"))]
    assert prom.split_range("2010-01-01T00:00:00+02:00", "2010-01-01T01:00:00Z", "1h") == [
        (pd.Timestamp("2009-12-31T22:00"), pd.Timestamp("2010-01-01T01:00"))]
    assert prom.split_range("2010-01-01", "2010-01-01", "1d", max_points=1) == [
        (pd.Timestamp("2010-01-01"), pd.Timestamp("2010-01-01"))]
    assert prom.parse_duration("1h30m") == pd.Timedelta(minutes=90)
    assert prom.parse_duration("2y") == pd.Timedelta(days=730)
    assert prom.parse_duration(0.5) == pd.Timedelta(milliseconds=500)


def test_the_day_of_a_daily_sample():
    times = pd.to_datetime(["2010-10-21 00:00", "2010-10-21 00:00:01", "2010-10-21 23:59", "2010-10-22"],
                           format="ISO8601")
    assert list(prom.sample_day(times).strftime("%F")) == ["2010-10-20", "2010-10-21", "2010-10-21",
                                                           "2010-10-21"]
    assert list(prom.sample_day(times, midnight="same").strftime("%F")) == ["2010-10-21", "2010-10-21",
                                                                            "2010-10-21", "2010-10-22"]
    aware = pd.DatetimeIndex(["2010-10-21 02:00"]).tz_localize("Europe/Berlin")  # 00:00 UTC
    assert prom.sample_day(aware)[0] == pd.Timestamp("2010-10-20")


def test_default_range_ends_at_the_midnight_after_as_of():
    start, end = prom.default_range("2010-10-20")
    assert end == pd.Timestamp("2010-10-21") and start == end - pd.Timedelta(days=3 * 365)
    assert prom.default_range(now="2010-10-20T13:00Z", lookback="1d") == (
        pd.Timestamp("2010-10-19T13:00"), pd.Timestamp("2010-10-20T13:00"))


# ----------------------------------------------------------------------------- failures, one line each


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again on leaving: nothing listens there


def test_an_unreachable_server_is_exit_1_after_retries():
    url = f"http://127.0.0.1:{_closed_port()}"
    began = time.monotonic()
    with pytest.raises(SourceUnavailableError) as info:
        prom.fetch_apps(url, ps.APPS_QUERY, retries=2, backoff=0.1, **RANGE)
    assert time.monotonic() - began >= 0.3  # backoff 0.1 s, then 0.2 s
    _one_line(info, url, repr(ps.APPS_QUERY), "connection refused", "tried 3 times")
    assert info.value.exit_status == 1
    assert isinstance(info.value, CapacityError) and not isinstance(info.value, InputDataError)


def test_a_server_that_never_answers_times_out():
    with socket.socket() as hole:  # accepts connections (the kernel's backlog) and never answers
        hole.bind(("127.0.0.1", 0))
        hole.listen(8)
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        with pytest.raises(SourceUnavailableError) as info:
            prom.fetch_messaging(url, ps.MESSAGING_QUERY, timeout=0.3, retries=1, backoff=0.0, **RANGE)
    _one_line(info, url, "no answer within 0.3 s", "tried 2 times")


def test_a_server_that_hangs_up_is_retried_then_exit_1():
    with socket.socket() as rude:
        rude.bind(("127.0.0.1", 0))
        rude.listen(8)

        def hang_up() -> None:
            for _ in range(2):  # the first attempt and its one retry
                conn, _ = rude.accept()
                conn.recv(65536)
                conn.close()

        thread = threading.Thread(target=hang_up, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{rude.getsockname()[1]}"
        with pytest.raises(SourceUnavailableError) as info:
            prom.fetch_apps(url, ps.APPS_QUERY, retries=1, backoff=0.0, **RANGE)
        thread.join(timeout=5)
    _one_line(info, url, "the server closed the connection without an answer", "tried 2 times")


def test_a_server_that_starts_late_is_reached_by_retrying(blocks, tmp_path, sample):
    late = ps.PrometheusServer(blocks, tmp_path / "late")
    starter = threading.Timer(1.0, late.start)  # nothing listens for the first second
    starter.start()
    try:
        apps = prom.fetch_apps(late.url, ps.APPS_QUERY, retries=8, backoff=0.2, **RANGE)
    finally:
        starter.join()
        late.stop()
    assert_frame_equal(apps, sample[0][["apps"]])


def test_a_promql_syntax_error_gives_the_servers_message(server):
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, "broker_cpu_percent{", **RANGE, **FAST)
    _one_line(info, server.url, "'broker_cpu_percent{'",
              "PromQL error: 1:20: parse error: unexpected end of input inside braces")
    assert info.value.exit_status == 2 and isinstance(info.value, InputDataError)


def test_an_empty_result_is_refused(server):
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, 'broker_cpu_percent{instance="msg-9"}', **RANGE, **FAST)
    _one_line(info, server.url, "empty result", "2009-06-01T00:00:00Z and 2011-01-01T00:00:00Z")
    # a daily gauge queried without last_over_time: stale at every midnight, and the message says why
    with pytest.raises(SourceDataError) as info:
        prom.fetch_apps(server.url, "platform_live_apps", **RANGE, **FAST)
    _one_line(info, "empty result", "last_over_time(x[1d])")


def test_a_missing_label_is_named(server):
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, server_label="host", **RANGE, **FAST)
    _one_line(info, server.url, "lacks the label 'host' (the server)",
              'broker_cpu_percent{instance="msg-1",servers="3",strategy="broadcast"}')
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, "max by (instance) (broker_cpu_percent)", **RANGE, **FAST)
    _one_line(info, "lacks the label 'strategy' (the strategy)", "set a constant strategy")


def test_values_the_loaders_would_refuse_are_refused(server):
    cases = [
        (prom.fetch_apps, ps.MESSAGING_QUERY, "11 series", "aggregate it"),
        (prom.fetch_apps, "sum(broker_cpu_percent)", "is not a whole number of apps", "2009-06-01T00:00:00Z"),
        (prom.fetch_apps, "-" + ps.APPS_QUERY,
         "the value at 2009-06-02T00:00:00Z (day 2009-06-01), -17688.0, is a negative count"),
        (prom.fetch_apps, ps.APPS_QUERY + " * 0 / 0", "nan, is not a finite number"),
        (prom.fetch_messaging, "broker_cpu_percent * 2", "is outside 0..100 percent", "'msg-"),
        (prom.fetch_messaging, "broker_cpu_percent / 100", "look like fractions", "cpu_scale"),
        (prom.fetch_messaging, 'label_replace(broker_cpu_percent, "servers", "many", "", "")',
         "gives servers 'many', not a whole number >= 1", "instance="),
    ]
    for fetch, query, *parts in cases:
        with pytest.raises(SourceDataError) as info:
            fetch(server.url, query, **RANGE, **FAST)
        _one_line(info, *parts)
    # servers as the server label: three series per hour name the same "server"
    with pytest.raises(SourceDataError) as info:
        prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, server_label="servers", **RANGE, **FAST)
    _one_line(info, "two series give servers='3' at 2009-06-01T00:00:00Z", "aggregate them")
    with pytest.raises(SourceDataError) as info:
        prom.fetch_apps(server.url, ps.APPS_QUERY, start="2010-12-25", end=ps.END, **FAST)
    _one_line(info, "8 days are too few", "at least 10")
    fractions = prom.fetch_messaging(server.url, "broker_cpu_percent / 100", cpu_scale="fraction", **RANGE)
    assert fractions["cpu_percent"].between(0, 100).all()


def test_a_wrong_base_url_is_an_http_error(server):
    with pytest.raises(SourceDataError) as info:
        prom.fetch_apps(f"{server.url}/not/here", ps.APPS_QUERY, **RANGE, **FAST)
    _one_line(info, "HTTP 404", "base URL")


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"step": "1x"}, "step"),
        ({"step": 0}, "step"),
        ({"start": "2011-01-02"}, "start must be on or before end"),
        ({"start": "yesterday"}, "start"),
        ({"timeout": 0}, "timeout"),
        ({"retries": "3"}, "retries"),
        ({"max_points": 0}, "max_points"),
        ({"username_env": "PROM_USER"}, "username_env and password_env go together"),
        ({"token_env": "T", "username_env": "U", "password_env": "P"}, "not both"),
        ({"url": "127.0.0.1:9090"}, "url"),
        ({"url": "http://127.0.0.1:9090/?x=1"}, "url"),
        ({"strategy": "broadcast", "strategy_label": "strategy"}, "strategy_label or strategy"),
        ({"servers": 0}, "servers"),
        ({"cpu_scale": "permille"}, "cpu_scale"),
    ],
)
def test_bad_arguments_are_argument_errors(kwargs, name):
    args = {"url": "http://127.0.0.1:9", **RANGE, **kwargs}
    with pytest.raises(ArgumentError, match=name) as info:
        prom.fetch_messaging(args.pop("url"), ps.MESSAGING_QUERY, **args)
    assert str(info.value).startswith("fetch_messaging: ")


def test_credentials_in_the_url_are_refused_without_showing_them():
    with pytest.raises(ArgumentError) as info:
        prom.fetch_apps(f"http://{USER}:{PASSWORD}@127.0.0.1:9", ps.APPS_QUERY, **RANGE)
    _one_line(info, "must not hold credentials", "http://127.0.0.1:9", "password_env")
    assert PASSWORD not in str(info.value)
    assert prom.redact_url(f"https://{USER}:{PASSWORD}@example.org:8443/prometheus/") == \
        "https://example.org:8443/prometheus"


def test_basic_auth_comes_from_the_environment(blocks, tmp_path, sample, monkeypatch):
    web = f"basic_auth_users:\n  {USER}: {PASSWORD_HASH}\n"
    with ps.started(blocks, tmp_path, web_config=web, ready_auth=(USER, PASSWORD)) as guarded:
        monkeypatch.setenv("CAPACITY_TEST_USER", USER)
        monkeypatch.setenv("CAPACITY_TEST_PASSWORD", PASSWORD)
        auth = {"username_env": "CAPACITY_TEST_USER", "password_env": "CAPACITY_TEST_PASSWORD"}
        apps = prom.fetch_apps(guarded.url, ps.APPS_QUERY, **RANGE, **auth)
        assert_frame_equal(apps, sample[0][["apps"]])

        with pytest.raises(SourceDataError) as info:
            prom.fetch_apps(guarded.url, ps.APPS_QUERY, **RANGE, **FAST)
        _one_line(info, "HTTP 401 Unauthorized", "username_env/password_env or token_env")
        monkeypatch.setenv("CAPACITY_TEST_TOKEN", "token-that-must-not-leak")
        with pytest.raises(SourceDataError) as info:
            prom.fetch_apps(guarded.url, ps.APPS_QUERY, token_env="CAPACITY_TEST_TOKEN", **RANGE, **FAST)
        assert "token-that-must-not-leak" not in _one_line(info, "HTTP 401")
        monkeypatch.setenv("CAPACITY_TEST_PASSWORD", "wrong")
        with pytest.raises(SourceDataError) as info:
            prom.fetch_apps(guarded.url, ps.APPS_QUERY, **RANGE, **auth, **FAST)
        assert "wrong" not in _one_line(info, "HTTP 401")
        monkeypatch.delenv("CAPACITY_TEST_PASSWORD")
        with pytest.raises(ConfigError) as info:
            prom.fetch_apps(guarded.url, ps.APPS_QUERY, **RANGE, **auth, **FAST)
        _one_line(info, "'CAPACITY_TEST_PASSWORD' named by password_env is not set")


def test_the_sample_plan_for_prometheus_has_the_issues_tables():
    import tomllib

    plan = tomllib.loads(ps.sample_plan("http://127.0.0.1:9090"))
    assert plan["data"] == {
        "apps": {"prometheus": "http://127.0.0.1:9090", "query": ps.APPS_QUERY, "step": "1d"},
        "messaging": {"prometheus": "http://127.0.0.1:9090", "query": ps.MESSAGING_QUERY, "step": "1h",
                      "server_label": "instance", "strategy_label": "strategy", "servers_label": "servers",
                      "deliveries_query": ps.DELIVERIES_QUERY}}
    assert plan["as_of"] == "2010-10-20" and len(plan["project"]) == 3


# ----------------------------------------------------------------------------- storing and recording


def test_stored_parquet_reads_back_with_the_file_loaders(server, sample, tmp_path):
    apps = prom.fetch_apps(server.url, ps.APPS_QUERY, new_apps_query=ps.NEW_APPS_QUERY, **RANGE)
    samples = prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **DELIVERED, **RANGE)
    apps_file = prom.write_parquet(apps, tmp_path / "apps.parquet")
    samples_file = prom.write_parquet(samples, tmp_path / "messaging.parquet")
    assert_frame_equal(capacity.load_apps(apps_file), sample[0])
    assert_frame_equal(capacity.load_messaging(samples_file), sample[1])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["apps.parquet", "messaging.parquet"]

    record = prom.fetched_inputs_record(samples_file, url=server.url + "/", query=ps.MESSAGING_QUERY,
                                        step="60m", **RANGE, settings={"server_label": "instance"})
    assert record == {
        "file": "messaging.parquet", "sha256": hashlib.sha256(samples_file.read_bytes()).hexdigest(),
        "source": "prometheus", "server": server.url, "query": ps.MESSAGING_QUERY, "step": "1h",
        "start": "2009-06-01T00:00:00Z", "end": "2011-01-01T00:00:00Z", "server_label": "instance"}
    json.dumps(record)


@pytest.mark.slow
def test_the_report_from_prometheus_equals_the_report_from_the_csv_files(server):
    from capacity.report.html import summary_dict

    data = (prom.fetch_apps(server.url, ps.APPS_QUERY, new_apps_query=ps.NEW_APPS_QUERY, **RANGE),
            prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, **DELIVERED, **RANGE))
    from_files = summary_dict(capacity.run(n_paths=300))
    from_prometheus = summary_dict(capacity.run(n_paths=300, data=data))
    assert from_prometheus == from_files
    # the default range of a report as of the sample's 2010-10-20: three years up to that day
    start, end = prom.default_range("2010-10-20")
    known = (prom.fetch_apps(server.url, ps.APPS_QUERY, new_apps_query=ps.NEW_APPS_QUERY, start=start,
                             end=end),
             prom.fetch_messaging(server.url, ps.MESSAGING_QUERY, start=start, end=end,
                                  **DELIVERED))
    assert known[0].index[-1] == pd.Timestamp("2010-10-20")
    assert summary_dict(capacity.run(n_paths=300, data=known)) == from_files


# ----------------------------------------------------------------------------- the alerting export


def _summary() -> dict:
    """A summary as summary.json holds it, with every kind of missing value and awkward name."""
    return {
        "schema": 1, "version": "0.1.0", "as_of": "2010-10-20", "headline": "...", "limit": 0.9,
        "confidence": 0.9, "horizon_days": 365, "strategy": "broadcast", "servers": 4,
        "crossing": {"p10": "2010-10-23", "p50": "2010-10-24", "p90": None, "p_none": 0.12, "p_now": 0.0,
                     "horizon_end": "2011-10-20"},
        "deadlines": [
            {"project": 'Targeted "smart" routing', "effect": "strategy -> targeted", "status": "planned",
             "planned_landing": "2010-12-01", "must_land_by": "2010-10-23", "must_start_by": "2010-09-25",
             "p_late": 0.98, "at_risk": True,
             "runway": {"p10": "2011-03-01", "p50": None, "p90": None, "p_none": 0.6}},
            {"project": "Back\\slash\nnewline", "effect": "+2 servers", "status": "unscheduled",
             "planned_landing": None, "must_land_by": None, "must_start_by": None, "p_late": None,
             "at_risk": False, "runway": {"p10": None, "p50": None, "p90": None, "p_none": None}},
            {"project": "Old upgrade", "effect": "cost x0.9", "status": "landed", "planned_landing": None,
             "must_land_by": None, "must_start_by": None, "p_late": None, "at_risk": False,
             "runway": {"p10": None, "p50": None, "p90": None, "p_none": None}},
        ],
    }


def _promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    _need_prometheus()
    return subprocess.run([ps.PROMTOOL, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_the_textfile_passes_promtool_check_metrics():
    text = prometheus_textfile(_summary(), now=1287900000, labels={"plan": "sample"})
    checked = _promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    lines = text.splitlines()
    assert 'capacity_last_success_timestamp_seconds{plan="sample"} 1287900000' in lines
    assert 'capacity_as_of_timestamp_seconds{plan="sample"} 1287532800' in lines
    assert 'capacity_crossing_timestamp_seconds{plan="sample",percentile="50"} 1287878400' in lines
    assert not any('percentile="90"' in line and line.startswith("capacity_crossing") for line in lines)
    assert ('capacity_project_late_probability{plan="sample",project="Targeted \\"smart\\" routing"} 0.98'
            in lines)
    assert 'capacity_project_at_risk{plan="sample",project="Back\\\\slash\\nnewline"} 0' in lines
    assert 'capacity_projects_at_risk{plan="sample"} 1' in lines
    assert "NaN" not in text and "None" not in text
    for name in {line.split("{")[0].split(" ")[0] for line in lines if not line.startswith("#")}:
        assert f"# HELP {name} " in text and f"# TYPE {name} gauge" in text
    assert not any(line.startswith("capacity_project_must_start_by") and "Old upgrade" in line
                   for line in lines)


def test_the_textfile_is_written_atomically_and_refuses_bad_labels(tmp_path):
    path = write_textfile(_summary(), tmp_path / "capacity.prom", now=0.0)
    assert path.read_text() == prometheus_textfile(_summary(), now=0.0)
    assert [p.name for p in tmp_path.iterdir()] == ["capacity.prom"]
    for labels in ({"project": "x"}, {"bad-name": "x"}, {"plan": ""}, {"server": "capacity-01"},
                   {"metric": "x"}):
        with pytest.raises(ArgumentError, match="labels"):
            prometheus_textfile(_summary(), labels=labels)
    with pytest.raises(ArgumentError, match=r"\.prom"):
        write_textfile(_summary(), tmp_path / "capacity.txt")
    twice = _summary()
    twice["deadlines"][1]["project"] = twice["deadlines"][0]["project"]
    with pytest.raises(ArgumentError, match="twice"):
        prometheus_textfile(twice)


@pytest.mark.slow
def test_the_textfile_of_a_real_run_passes_promtool():
    from capacity.report.html import summary_dict

    summary = summary_dict(capacity.run(n_paths=300))
    text = prometheus_textfile(summary)
    checked = _promtool("check", "metrics", stdin=text)
    assert checked.returncode == 0 and not checked.stdout.strip(), checked.stdout + checked.stderr
    projects = [line for line in text.splitlines() if line.startswith("capacity_project_info{")]
    assert len(projects) == len(summary["deadlines"]) == 3


def test_the_example_rules_pass_promtool_check_rules():
    checked = _promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 6 rules found" in checked.stdout


def _alerts(name: str, eval_time: str, *labels: dict) -> dict:
    return {"eval_time": eval_time, "alertname": name,
            "exp_alerts": [{"exp_labels": {"instance": "host:9100", "job": "node", **extra}}
                           for extra in labels]}


def test_the_example_rules_fire_when_they_should(tmp_path):
    """``promtool test rules`` on the rules (annotations left out: their wording is not under test)."""
    yaml = pytest.importorskip("yaml")
    rules = yaml.safe_load(RULES.read_text())
    for rule in rules["groups"][0]["rules"]:
        rule.pop("annotations", None)
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules))
    at = 'instance="host:9100",job="node"'
    series = [(f'capacity_project_must_start_by_timestamp_seconds{{{at},project="{p}"}}', f"{v}x200")
              for p, v in (("Soon", 864000), ("Later", 3024000), ("Passed", 0), ("Started", 864000))]
    series += [(f'capacity_project_info{{{at},project="{p}",effect="e",status="{s}"}}', "1x200")
               for p, s in (("Soon", "planned"), ("Later", "planned"), ("Passed", "unscheduled"),
                            ("Started", "in progress"))]
    series += [(f'capacity_project_late_probability{{{at},project="{p}"}}', f"{v}x200")
               for p, v in (("Soon", 0.05), ("Started", 0.6))]
    series += [(f"capacity_confidence_ratio{{{at}}}", "0.9x200")]
    tests = {"rule_files": ["rules.yml"], "evaluation_interval": "5m", "tests": [
        {"interval": "1m", "input_series": [{"series": s, "values": v} for s, v in series],
         "alert_rule_test": [
             _alerts("CapacityProjectMustStartSoon", "2h", {"project": "Soon", "severity": "warning"}),
             _alerts("CapacityProjectMustStartPassed", "2h", {"project": "Passed", "severity": "critical"}),
             _alerts("CapacityProjectLikelyLate", "2h", {"project": "Started", "severity": "critical"}),
             _alerts("CapacityProjectMustStartSoon", "30m"),  # not for an hour yet
         ]},
        # samples closer than the 5-minute lookback, as a scrape gives them, or every alert stays pending
        {"interval": "2m",
         "input_series": [{"series": f"capacity_last_success_timestamp_seconds{{{at}}}", "values": "0x1500"},
                          {"series": f"capacity_as_of_timestamp_seconds{{{at}}}", "values": "0x2500"}],
         "alert_rule_test": [
             _alerts("CapacityReportStale", "30h"),
             _alerts("CapacityReportStale", "40h", {"severity": "warning"}),
             _alerts("CapacityReportDataBehind", "70h"),
             _alerts("CapacityReportDataBehind", "80h", {"severity": "warning"}),
             _alerts("CapacityReportMissing", "40h"),
         ]},
        {"interval": "1m", "input_series": [{"series": f"up{{{at}}}", "values": "1x200"}],
         "alert_rule_test": [{"eval_time": "2h", "alertname": "CapacityReportMissing",
                              "exp_alerts": [{"exp_labels": {"severity": "warning"}}]}]},
    ]}
    (tmp_path / "test.yml").write_text(yaml.safe_dump(tests))
    tested = _promtool("test", "rules", str(tmp_path / "test.yml"))
    assert tested.returncode == 0, tested.stdout + tested.stderr


# ----------------------------------------------------------------------------- the command line


def _plan_file(tmp_path: Path, url: str) -> Path:
    config = tmp_path / "prom.toml"
    config.write_text(ps.sample_plan(url))
    return config


def _cli(capsys, *args: str) -> tuple[int, str, str]:
    from capacity.cli import main

    status = main(list(args))
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def _numbers(folder: Path) -> dict:
    summary = json.loads((folder / "summary.json").read_text())
    summary.pop("inputs")
    summary.pop("generated", None)
    return summary


@pytest.mark.slow
def test_forecast_from_prometheus_prints_the_same_headline_as_the_csv_files(server, tmp_path, capsys):
    status, from_files, _ = _cli(capsys, "forecast", "--out", str(tmp_path / "files"))
    assert status == 0
    config = _plan_file(tmp_path, server.url)
    status, from_server, err = _cli(capsys, "forecast", "--config", str(config), "--out",
                                    str(tmp_path / "prom"))
    assert status == 0, err
    headline = [line for line in from_files.splitlines() if not line.startswith("report:")]
    assert [line for line in from_server.splitlines() if not line.startswith("report:")] == headline
    assert _numbers(tmp_path / "prom" / "latest") == _numbers(tmp_path / "files" / "latest")
    # what was fetched is stored beside the report, and recorded with its query, server and hash
    report = tmp_path / "prom" / "latest"
    inputs = json.loads((report / "summary.json").read_text())["inputs"]
    assert inputs["apps"]["server"] == server.url and inputs["apps"]["query"] == ps.APPS_QUERY
    stored = (report / "messaging.parquet").read_bytes()
    assert inputs["messaging"]["sha256"] == hashlib.sha256(stored).hexdigest()
    # and the report reruns offline from its own folder
    status, offline, err = _cli(capsys, "forecast", "--config", str(config), "--inputs", str(report), "--out",
                                str(tmp_path / "again"))
    assert status == 0, err
    assert [line for line in offline.splitlines() if not line.startswith("report:")] == headline


@pytest.mark.slow
def test_fetch_once_then_forecast_offline(server, tmp_path, capsys):
    config = _plan_file(tmp_path, server.url)
    status, out, err = _cli(capsys, "fetch", "--config", str(config), "--out", str(tmp_path / "fetched"))
    assert status == 0, err
    assert "fetched" in out
    record = json.loads((tmp_path / "fetched" / "inputs.json").read_text())
    assert record["apps"]["query"] == ps.APPS_QUERY and record["messaging"]["source"] == "prometheus"
    # offline: the same config pointed at a closed port still runs from the stored inputs
    offline = tmp_path / "offline.toml"
    offline.write_text(ps.sample_plan(f"http://127.0.0.1:{ps.free_port()}"))
    status, out_offline, err = _cli(capsys, "forecast", "--config", str(offline), "--inputs",
                                    str(tmp_path / "fetched"), "--out", str(tmp_path / "r1"))
    assert status == 0, err
    status, out_live, err = _cli(capsys, "forecast", "--config", str(config), "--out", str(tmp_path / "r2"))
    assert out_offline.splitlines()[:-1] == out_live.splitlines()[:-1]


def test_cli_exit_status_says_unreachable_1_and_bad_query_2(server, tmp_path, capsys):
    closed = tmp_path / "closed.toml"
    text = ps.sample_plan(f"http://127.0.0.1:{ps.free_port()}")
    closed.write_text(text.replace('step = "1d"', 'step = "1d"\nretries = 0'))
    status, _, err = _cli(capsys, "forecast", "--quiet", "--config", str(closed), "--out",
                          str(tmp_path / "r"))
    assert status == 1
    assert len(err.strip().splitlines()) == 1 and "query 'last_over_time(platform_live_apps[1d])'" in err
    bad = tmp_path / "bad.toml"
    bad.write_text(ps.sample_plan(server.url).replace(ps.APPS_QUERY, "last_over_time(platform_live_apps[1d]"))
    status, _, err = _cli(capsys, "forecast", "--quiet", "--config", str(bad), "--out", str(tmp_path / "r"))
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and server.url in err
    assert not (tmp_path / "r").exists()


def test_config_refuses_credentials_in_the_url_and_unknown_keys(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text(ps.sample_plan("http://user:secret@127.0.0.1:9090"))
    with pytest.raises(ConfigError, match=r"data.apps.prometheus' must not hold credentials") as info:
        capacity.load_config(config)
    assert "secret" not in str(info.value)
    config.write_text(ps.sample_plan("http://127.0.0.1:9090").replace('step = "1h"', 'stepp = "1h"'))
    with pytest.raises(ConfigError, match=r"data.messaging.stepp' is not a known setting"):
        capacity.load_config(config)
