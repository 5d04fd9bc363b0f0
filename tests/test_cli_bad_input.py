"""The command line refuses bad names, sizes and stale data up front, in one line (issue 13)."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import capacity.pipeline
from capacity.cli import main
from capacity.config import DEFAULT_CONFIG

SAMPLE = DEFAULT_CONFIG.parent


def _config(folder: Path, *, apps: Path = SAMPLE / "apps.csv", extra: str = "", name: str = "plan.toml",
            replace: tuple[str, str] = ("", "")) -> Path:
    """The sample's plan with 200 paths, absolute data paths and ``extra`` at the end, in ``folder``."""
    text = (SAMPLE / "plan.toml").read_text().replace("n_paths = 2000", "n_paths = 200")
    text = text.replace('apps = "apps.csv"', f'apps = "{apps}"')
    text = text.replace('messaging = "messaging.csv"', f'messaging = "{SAMPLE / "messaging.csv"}"')
    if replace[0]:
        assert replace[0] in text
        text = text.replace(*replace)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text + extra)
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capacity.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _one_line(done: subprocess.CompletedProcess, status: int = 2) -> str:
    assert done.returncode == status, done.stderr
    assert done.stdout == ""
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    return message


@pytest.fixture
def no_data(monkeypatch):
    """Reading the data fails the test: the command must refuse before any work."""
    def refuse(*args, **kwargs):
        raise AssertionError("the data were read before the options were checked")

    monkeypatch.setattr(capacity.pipeline, "read_data", refuse)


def test_a_control_character_in_a_project_name_is_exit_2_naming_the_key(tmp_path):
    config = _config(tmp_path, replace=('name = "Targeted message routing"', 'name = "ab\\u0007cd"'))
    message = _one_line(_cli("forecast", "--config", str(config), "--out", "out", cwd=tmp_path))
    assert message == (f"capacity: error: {config}: key 'project[0].name' must not contain control "
                       "characters ('\\x07'), not 'ab\\x07cd'")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--paths", "99999999999999999999"], "--paths must be a whole number in 1..100,000, not 9999999999"),
        (["--paths", "0"], "--paths must be a whole number in 1..100,000, not 0"),
        (["--every", "0"], "--every must be a whole number in 1..3,650, not 0"),
        (["--every", "99999"], "--every must be a whole number in 1..3,650, not 99999"),
        (["--paths", "100000"], "replay: '--paths' = 100,000 x 'forecast.horizon_days' = 365 would need "
                                "about 4.4 GiB (128 bytes per path and day), more than the 4 GiB budget; at "
                                "this horizon use at most 91,929 paths"),
        (["--from", "1990-01-01", "--to", "2010-10-20", "--every", "1"],
         "replay: --from 1990-01-01 to --to 2010-10-20 every 1 day is 7,598 dates, more than 520; choose a "
         "later --from or a larger --every"),
    ],
    ids=["paths-huge", "paths-zero", "every-zero", "every-huge", "memory", "dates"],
)
def test_replay_sizes_are_bounded_before_any_work(tmp_path, capsys, no_data, options, message):
    assert main(["replay", "--out", str(tmp_path / "out"), "--quiet", *options]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith(f"capacity: error: {message}")
    assert "\n" not in captured.err.strip()
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_stale_data_is_exit_2_unless_allowed(tmp_path):
    config = _config(tmp_path)
    args = ["forecast", "--config", str(config), "--as-of", "2012-06-01", "--out", "out"]
    message = _one_line(_cli(*args, "--quiet", cwd=tmp_path))
    assert message == (f"capacity: error: {SAMPLE / 'apps.csv'}: stale data: the newest app count "
                       "(2010-12-31) is 518 days older than the as-of date 2012-06-01, more than "
                       "data.max_age_days = 21; update the data, or plan on it anyway with --allow-stale "
                       "(data.allow_stale = true)")
    assert not (tmp_path / "out").exists()
    done = _cli(*args, "--allow-stale", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert ("capacity: the newest data is 518 days old on 2012-06-01 (app counts end 2010-12-31, messaging "
            "samples end 2010-12-31)") in done.stderr.splitlines()
    assert (tmp_path / "out" / "2012-06-01" / "index.html").is_file()
    assert "newest data" not in _cli("forecast", "--config", str(config), "--out", "out", cwd=tmp_path).stderr


@pytest.mark.slow
def test_allow_stale_from_the_config(tmp_path):
    config = _config(tmp_path, replace=('messaging = "', 'allow_stale = true\nmessaging = "'))
    assert main(["forecast", "--config", str(config), "--as-of", "2011-02-01", "--out", str(tmp_path / "o"),
                 "--quiet"]) == 0


def test_replay_refuses_stale_dates_and_has_allow_stale(tmp_path, capsys):
    assert main(["replay", "--from", "2011-03-01", "--to", "2011-03-01", "--paths", "100", "--quiet",
                 "--out", str(tmp_path / "out")]) == 2
    assert "stale data" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_implausible_counts_are_named_on_stderr(tmp_path):
    apps = pd.read_csv(SAMPLE / "apps.csv", dtype=str)
    apps.loc[apps["date"] == "2010-10-01", "apps"] = "999999999"
    apps.to_csv(tmp_path / "apps.csv", index=False)
    done = _cli("forecast", "--config", str(_config(tmp_path, apps=tmp_path / "apps.csv")), "--out", "out",
                cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "implausible" in line]
    assert len(notes) == 1
    assert notes[0].startswith("capacity: excluded 1 app count from the fit as implausible "
                               "(data.keep_implausible = true keeps them): 2010-10-01 999,999,999 (spike: ")
    assert done.stdout.splitlines()[0].endswith("3 of 3 projects at risk.")


@pytest.mark.parametrize("command", ["forecast", "replay", "fetch", "forecast-many"])
def test_every_subcommand_has_a_description(capsys, command):
    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    description = text.split("\n\n")[1]  # usage, then the description, then the options
    assert not description.startswith(("options:", "optional arguments:"))
    assert len(description.split()) >= 15


def test_allow_stale_is_documented_in_the_help(capsys):
    for command in ("forecast", "replay"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        assert "--allow-stale" in capsys.readouterr().out


def test_out_dir_rule(tmp_path, monkeypatch):
    """--out: from the working directory; else report.out: from the config; else reports/ in the cwd."""
    from capacity.cli import _out_dir
    from capacity.config import load_config

    monkeypatch.chdir(tmp_path)
    plain = load_config(_config(tmp_path / "conf"))
    report = '\n[report]\nout = "../from-config"\n'
    placed = load_config(_config(tmp_path / "conf", extra=report, name="o.toml"))
    assert _out_dir(argparse.Namespace(out=None), plain) == Path("reports")
    assert _out_dir(argparse.Namespace(out=None), placed) == tmp_path / "from-config"
    assert _out_dir(argparse.Namespace(out="mine"), placed) == Path("mine")


@pytest.mark.slow
def test_report_out_is_relative_to_the_config_not_the_working_directory(tmp_path):
    config = _config(tmp_path / "conf", extra='\n[report]\nout = "reports-here"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = _cli("forecast", "--config", "../conf/plan.toml", "--quiet", cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert (config.parent / "reports-here" / "2010-10-20" / "index.html").is_file()
    assert list(elsewhere.iterdir()) == []


def _edited_csv(folder: Path, name: str, edit) -> Path:
    frame = edit(pd.read_csv(SAMPLE / name, dtype=str))
    folder.mkdir(parents=True, exist_ok=True)
    frame.to_csv(folder / name, index=False)
    return folder / name


@pytest.mark.slow
def test_a_saturated_tier_is_exit_2_naming_the_file_and_column(tmp_path):
    messaging = _edited_csv(tmp_path / "data", "messaging.csv", lambda m: m.assign(cpu_percent="100"))
    config = _config(tmp_path, replace=(f'messaging = "{SAMPLE / "messaging.csv"}"',
                                        f'messaging = "{messaging}"'))
    message = _one_line(_cli("forecast", "--quiet", "--config", str(config), "--out", "out", cwd=tmp_path))
    assert message.startswith(f"capacity: error: {messaging}, column 'cpu_percent': every reading is pinned")


@pytest.mark.slow
def test_too_short_a_growth_history_names_the_apps_file(tmp_path):
    apps = _edited_csv(tmp_path / "data", "apps.csv",
                       lambda a: a[(a["date"] >= "2010-09-25") & (a["date"] <= "2010-10-20")])
    config = _config(tmp_path, apps=apps)
    message = _one_line(_cli("forecast", "--quiet", "--config", str(config), "--out", "out", cwd=tmp_path))
    assert message.startswith(f"capacity: error: {apps}")


@pytest.mark.parametrize(("setting", "value", "key"), [
    ("lead_time_days = [14, 28, 56]", "lead_time_days = [inf, inf, inf]", "project[0].lead_time_days"),
    ("lead_time_days = [14, 28, 56]", "lead_time_days = [1e300, 1e300, 1e300]", "project[0].lead_time_days"),
    ("cpu = 0.9", "cpu = nan", "limit.cpu"),
])
def test_non_finite_and_absurd_numbers_in_the_config_name_the_key(tmp_path, no_data, setting, value, key):
    config = _config(tmp_path, replace=(setting, value))
    message = _one_line(_cli("forecast", "--quiet", "--config", str(config), "--out", "out", cwd=tmp_path))
    assert f"key '{key}'" in message


def test_a_strategy_in_the_data_but_not_the_config_names_the_table_to_add(tmp_path):
    messaging = _edited_csv(tmp_path / "data", "messaging.csv",
                            lambda m: m.assign(strategy=m["strategy"].replace("broadcast", "fanout")))
    config = _config(tmp_path, replace=(f'messaging = "{SAMPLE / "messaging.csv"}"',
                                        f'messaging = "{messaging}"'))
    message = _one_line(_cli("forecast", "--quiet", "--config", str(config), "--out", "out", cwd=tmp_path))
    assert message.startswith(f"capacity: error: {config}: key 'messaging.strategies'")
    assert message.endswith("add a [messaging.strategies.fanout] table")
