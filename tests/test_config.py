"""Tests of capacity.config: the planning config is checked key by key."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from capacity.config import DEFAULT_CONFIG, load_config
from capacity.errors import ConfigError

MINIMAL = """
[data]
apps = "apps.csv"
messaging = "messaging.csv"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


def test_sample_config_reads():
    config = load_config()
    assert config.path == DEFAULT_CONFIG
    assert config.apps.name == "apps.csv" and config.apps.is_file()
    assert config.as_of == dt.date(2010, 10, 20)
    assert config.limit == {"cpu": 0.9, "metric": "busiest_hour", "metric_quantile": None,
                            "server": "average", "spare_servers": 0}
    assert [p.name for p in config.projects] == [
        "Targeted message routing", "Two more messaging servers", "Messaging system replacement"]
    assert config.projects[0].effect == "strategy" and config.projects[0].value == "targeted"
    assert config.projects[2].start == dt.date(2010, 6, 15)
    assert config.strategies["broadcast"]["apps_per_component"] == 100


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.apps == (tmp_path / "apps.csv").resolve()
    assert config.limit == {"cpu": 0.7, "metric": "daily_mean", "metric_quantile": None, "server": "average",
                            "spare_servers": 0}
    assert (config.confidence, config.horizon_days, config.n_paths, config.seed) == (0.9, 365, 2000, 0)
    assert config.as_of is None and config.projects == ()


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[data]\napps = 'a.csv'\n", r"key 'data\.messaging' is required"),
        ("colour = 'blue'\n" + MINIMAL, r"key 'colour' is not a known setting"),
        (MINIMAL + "[limit]\ncpu = 70\n", r"key 'limit\.cpu' must lie in 0\.01\.\.1\.0, not 70"),
        (MINIMAL + "[limit]\ncpu = 0.7\nlatency_ms = 100\n", r"key 'limit' needs exactly one of"),
        (MINIMAL + "[limit]\nlatency_ms = 100\n", r"key 'limit\.service_ms' is required"),
        (MINIMAL + "[forecast]\nhorizon_days = 'soon'\n", r"key 'forecast\.horizon_days' must be a whole"),
        (MINIMAL + "[messaging.strategies.broadcast]\nbase_components = 4\n",
         r"key 'messaging\.strategies\.broadcast\.kind' is required"),
        (MINIMAL + "[[project]]\neffect = {add_servers = 2}\nlead_time_days = [1, 2, 3]\n",
         r"key 'project\[0\]\.name' is required"),
        (MINIMAL + "[[project]]\nname = 'x'\neffect = {teleport = 1}\nlead_time_days = [1, 2, 3]\n",
         r"key 'project\[0\]\.effect\.teleport' is not a known project effect"),
        (MINIMAL + "[[project]]\nname = 'x'\neffect = {add_servers = 2}\nlead_time_days = [5, 2, 3]\n",
         r"key 'project\[0\]\.lead_time_days' must be \[optimistic, likely, pessimistic\]"),
        (MINIMAL + "[[project]]\nname = 'x'\neffect = {add_servers = 2}\nlead_time_days = [1, 2, 3]\n"
         "start = '2010-01-01'\nland = '2010-02-01'\n", r"key 'project\[0\]' may give at most one of"),
        (MINIMAL + "[[project]]\nname = 'x'\neffect = {add_servers = 2}\nlead_time_days = [1, 2, 3]\n"
         "land = 'next week'\n", r"key 'project\[0\]\.land' must be a date like 2010-10-27"),
        (MINIMAL + "[[project]]\nname = 'x'\neffect = {add_servers = 2}\nlead_time_days = [1,2,3]\n"
         "[[project]]\nname = 'x'\neffect = {add_servers = 1}\nlead_time_days = [1,2,3]\n",
         r"key 'project\[1\]\.name' repeats the project name 'x'"),
        ("[data\napps = 1", r"plan\.toml: malformed TOML"),
        (MINIMAL + "[limit]\ncpu = 0.7\nmetric = 'peak'\n",
         r"key 'limit\.metric' must be one of daily_mean, busiest_hour, quantile, not 'peak'"),
        (MINIMAL + "[limit]\ncpu = 0.7\nmetric = 'quantile'\n", r"key 'limit\.metric_quantile' is required"),
        (MINIMAL + "[limit]\ncpu = 0.7\nmetric_quantile = 0.9\n", r"key 'limit\.metric_quantile' is required "
         r"with limit\.metric = \"quantile\" .* and only with it"),
        (MINIMAL + "[limit]\ncpu = 0.7\nserver = 'coldest'\n", r"key 'limit\.server' must be one of average"),
        (MINIMAL + "[limit]\ncpu = 0.7\nspare_servers = -1\n",
         r"key 'limit\.spare_servers' must lie in 0\.\.1000"),
        (MINIMAL + "[limit]\ncpu = 0.7\nspare_servers = 1.5\n",
         r"key 'limit\.spare_servers' must be a whole"),
    ],
    ids=["missing-key", "unknown-key", "limit-range", "two-limits", "latency-needs-service",
         "type", "strategy-kind", "project-name", "unknown-effect", "lead-time-order", "two-dates",
         "bad-date", "duplicate-project", "malformed", "metric", "metric-quantile-missing",
         "metric-quantile-alone", "server", "spare-negative", "spare-fraction"],
)
def test_bad_config(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")



# --- issue 13: names, sizes, the plain CPU trace, implausible and stale data, paths ------------------

PROJECT = "[[project]]\nname = {name}\neffect = {{strategy = {strategy}}}\nlead_time_days = [1, 2, 3]\n"
PROMETHEUS = '[data]\napps = "a.csv"\n[data.messaging]\nprometheus = "http://h:9090"\n'


@pytest.mark.parametrize(
    ("text", "match"),
    [
        (MINIMAL + PROJECT.format(name='"ab\\u0007cd"', strategy="'b'"),
         r"key 'project\[0\]\.name' must not contain control characters \('\\x07'\), not 'ab\\x07cd'"),
        (MINIMAL + '[messaging.strategies."ab\\u0007cd"]\nkind = "broadcast"\n',
         r"key 'messaging\.strategies\.ab\\x07cd' names a strategy with a control character"),
        (MINIMAL + '[messaging.strategies.b]\nkind = "broad\\u0007cast"\n',
         r"key 'messaging\.strategies\.b\.kind' must not contain control characters"),
        (MINIMAL + '[messaging]\nstrategy = "ab\\u0007cd"\n', r"key 'messaging\.strategy' must not contain"),
        (MINIMAL + PROJECT.format(name="'x'", strategy='"t\\u001b[31m"'),
         r"key 'project\[0\]\.effect\.strategy' must not contain control characters \('\\x1b'\)"),
        ('[data]\napps = "a\\nb.csv"\nmessaging = "m.csv"\n', r"key 'data\.apps' must not contain control"),
        (MINIMAL + '[data.apps_columns]\ndate = "d\\u0000"\n', r"key 'data\.apps_columns\.date' must not"),
        (MINIMAL + '[report]\nout = "r\\u0085"\n', r"key 'report\.out' must not contain control"),
        ('"a\\u0007" = 1\n' + MINIMAL, r"key 'a\\x07' is not a known setting"),
        (PROMETHEUS + 'query = "q"\nstrategy = "b\\u0007"\n',
         r"key 'data\.messaging\.strategy' must not contain control characters"),
    ],
    ids=["project-name", "strategy-table-name", "strategy-kind", "strategy-in-force", "effect-strategy",
         "path", "column", "report-out", "unknown-key", "prometheus-constant"],
)
def test_control_characters_in_names_are_refused_naming_the_key(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match) as caught:
        load_config(write(tmp_path, text))
    assert not any(ord(c) < 32 or 127 <= ord(c) < 160 for c in str(caught.value))  # one printable line


def test_a_multi_line_promql_query_is_allowed(tmp_path):
    text = PROMETHEUS + 'query = """\nsum by (instance) (\n\trate(cpu[5m]))"""\n'
    assert "\t" in load_config(write(tmp_path, text)).messaging.query


@pytest.mark.parametrize(
    ("forecast", "match"),
    [
        ("horizon_days = 1000000000", r"key 'forecast\.horizon_days' must lie in 7\.\.3650"),
        ("n_paths = 99999999999999", r"key 'forecast\.n_paths' must lie in 100\.\.100000"),
        ("n_paths = 100000\nhorizon_days = 3650",
         r"plan\.toml: keys 'forecast\.n_paths' = 100,000 x 'forecast\.horizon_days' = 3,650 would need "
         r"about 43\.5 GiB \(128 bytes per path and day\), more than the 4 GiB budget; at this horizon use "
         r"at most 9,192 paths"),
    ],
    ids=["horizon", "paths", "memory"],
)
def test_sizes_are_bounded_one_by_one_and_together(tmp_path, forecast, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, MINIMAL + f"[forecast]\n{forecast}\n"))


def test_the_largest_sizes_within_the_budget_load(tmp_path):
    config = load_config(write(tmp_path, MINIMAL + "[forecast]\nn_paths = 9192\nhorizon_days = 3650\n"))
    assert (config.n_paths, config.horizon_days) == (9192, 3650)


def test_check_memory_names_both_values_and_the_workers():
    from capacity.config import MEMORY_BUDGET, check_memory

    check_memory(1000, 365)  # the defaults fit easily
    check_memory(MEMORY_BUDGET // (128 * 10), 10)  # exactly the budget
    with pytest.raises(ConfigError, match=r"'--paths' = 1,000 x '--horizon-days' = 3,650 x --workers = 64 "
                                          r"would need about 10\.4 GiB \(48 bytes per path and day\)"):
        check_memory(1000, 3650, paths="--paths", days="--horizon-days", bytes_per_path_day=48, copies=64,
                     copies_name="--workers")


def test_trace_settings_read(tmp_path):
    extra = ('cpu_scale = "fraction"\ntier_changes = "sub/changes.csv"\nkeep_implausible = true\n'
             'max_age_days = 3\nallow_stale = true\n[data.messaging_defaults]\nserver = "db-1"\n')
    config = load_config(write(tmp_path, MINIMAL + extra))
    assert config.messaging_defaults == {"server": "db-1"} and config.cpu_scale == "fraction"
    assert config.tier_changes == (tmp_path / "sub" / "changes.csv").resolve()
    assert (config.keep_implausible, config.max_age_days, config.allow_stale) == (True, 3, True)
    constants = '[data.messaging_defaults]\nserver = "db-1"\nstrategy = "broadcast"\nservers = 2\n'
    defaults = load_config(write(tmp_path, MINIMAL + constants))
    assert defaults.messaging_defaults == {"server": "db-1", "strategy": "broadcast", "servers": 2}
    assert (defaults.cpu_scale, defaults.tier_changes, defaults.keep_implausible) == ("percent", None, False)
    assert (defaults.max_age_days, defaults.allow_stale) == (21, False)


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        ('cpu_scale = "permille"', r"key 'data\.cpu_scale' must be one of 'percent', 'fraction', not "),
        ("[data.messaging_defaults]\nhost = 'x'", r"key 'data\.messaging_defaults\.host' is not a known"),
        ("[data.messaging_defaults]\nservers = 0", r"key 'data\.messaging_defaults\.servers' must lie in 1"),
        ('[data.messaging_defaults]\nserver = "db\\u0007"', r"key 'data\.messaging_defaults\.server' must"),
        ("tier_changes = 'c.csv'\n[data.messaging_defaults]\nstrategy = 'broadcast'",
         r"key 'data\.messaging_defaults\.strategy' cannot be given with data\.tier_changes"),
        ("keep_implausible = 'yes'", r"key 'data\.keep_implausible' must be true or false, not 'yes'"),
        ("allow_stale = 1", r"key 'data\.allow_stale' must be true or false, not 1"),
        ("max_age_days = -1", r"key 'data\.max_age_days' must lie in 0\.\.36500, not -1"),
    ],
    ids=["cpu-scale", "defaults-key", "defaults-servers", "defaults-control", "defaults-and-changes",
         "keep-implausible", "allow-stale", "max-age"],
)
def test_bad_trace_settings(tmp_path, extra, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, MINIMAL + extra + "\n"))


def test_trace_settings_do_not_apply_to_a_prometheus_table(tmp_path):
    text = PROMETHEUS.replace('apps = "a.csv"\n', 'apps = "a.csv"\ncpu_scale = "fraction"\n')
    text += 'query = "q"\n'
    with pytest.raises(ConfigError, match=r"key 'data\.cpu_scale' applies to a messaging file"):
        load_config(write(tmp_path, text))


def test_config_paths_are_relative_to_the_config_not_the_working_directory(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    write(tmp_path / "conf", MINIMAL + "tier_changes = 'c.csv'\n[report]\nout = '../out'\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf") / "plan.toml")  # a path on the command line: from the cwd
    assert config.apps == tmp_path / "conf" / "apps.csv"
    assert config.tier_changes == tmp_path / "conf" / "c.csv"
    assert config.out == tmp_path / "out"
    assert load_config(write(tmp_path, MINIMAL)).out is None  # no report.out: the CLI's reports/ in the cwd
