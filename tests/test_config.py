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
    assert config.limit == {"cpu": 0.9}
    assert [p.name for p in config.projects] == [
        "Targeted message routing", "Two more messaging servers", "Messaging system replacement"]
    assert config.projects[0].effect == "strategy" and config.projects[0].value == "targeted"
    assert config.projects[2].start == dt.date(2010, 6, 15)
    assert config.strategies["broadcast"]["apps_per_component"] == 100


def test_defaults(tmp_path):
    config = load_config(write(tmp_path, MINIMAL))
    assert config.apps == (tmp_path / "apps.csv").resolve()
    assert config.limit == {"cpu": 0.7}
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
    ],
    ids=["missing-key", "unknown-key", "limit-range", "two-limits", "latency-needs-service",
         "type", "strategy-kind", "project-name", "unknown-effect", "lead-time-order", "two-dates",
         "bad-date", "duplicate-project", "malformed"],
)
def test_bad_config(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_config(write(tmp_path, text))


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match=r"nope\.toml: config file not found"):
        load_config(tmp_path / "nope.toml")
