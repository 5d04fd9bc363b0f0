"""Tests of the `capacity` command line, run as a real subprocess where it matters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from capacity import __version__
from capacity.cli import main

ROOT = Path(__file__).resolve().parents[1]


CONFIG = "[data]\napps='a.csv'\nmessaging='m.csv'\n[messaging.strategies.broadcast]\nkind='broadcast'\n"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "capacity.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=300)


def test_version():
    done = run("--version")
    assert done.returncode == 0
    assert done.stdout.strip() == f"capacity {__version__}"


@pytest.mark.slow
def test_forecast_on_sample_prints_summary(capsys, tmp_path):
    assert main(["forecast", "--as-of", "2010-10-20", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.strip().splitlines()
    assert lines[0].startswith("Messaging CPU (the busiest hour of the average server) crosses 90%")
    assert any(line.startswith("  Targeted message routing: must land by 2010-10-2") for line in lines)
    assert lines[-1] == f"report: {tmp_path / '2010-10-20' / 'index.html'}"
    assert "capacity: fitting messaging load on 40,817 samples" in captured.err


@pytest.mark.slow
def test_quiet_prints_nothing(capsys, tmp_path):
    assert main(["forecast", "--quiet", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
    assert (tmp_path / "latest" / "index.html").is_file()


@pytest.mark.parametrize(
    ("files", "args", "match"),
    [
        ({}, ["--config", "missing.toml"], r"missing\.toml: config file not found"),
        ({"plan.toml": "[data\n"}, ["--config", "plan.toml"], r"plan\.toml: malformed TOML"),
        ({"plan.toml": CONFIG}, ["--config", "plan.toml"], r"a\.csv: file not found"),
        ({"plan.toml": CONFIG,
          "a.csv": "date,apps\n" + "".join(f"2010-01-{d:02d},{d}\n" for d in range(1, 12))
          + "2010-01-12,-1\n"},
         ["--config", "plan.toml"], r"a\.csv, column 'apps', row 12: negative count '-1'"),
    ],
    ids=["no-config", "malformed", "no-data", "bad-data"],
)
def test_bad_input_exits_2_with_one_line(tmp_path, files, args, match):
    import re

    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [str(tmp_path / a) if a.endswith(".toml") else a for a in args]
    done = run("forecast", *args, "--quiet", "--out", str(tmp_path / "reports"))
    assert done.returncode == 2
    assert done.stdout == ""
    message = done.stderr.strip()
    assert "\n" not in message and "Traceback" not in message
    assert re.search(match, message)
    assert not (tmp_path / "reports").exists()


def test_bad_option_exits_2():
    done = run("forecast", "--as-of", "yesterday")
    assert done.returncode == 2
    assert "not a date like 2010-10-20" in done.stderr


def test_import_is_light():
    # `import capacity` must stay fast: no modelling library is imported until it is used
    code = ("import sys, capacity; heavy = [m for m in ('pandas', 'scipy', 'statsmodels', 'altair') "
            "if m in sys.modules]; print(heavy)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_sigint_after_publishing_says_the_report_was_published(monkeypatch, capsys):
    import signal

    import capacity.cli
    from capacity.report.publish import PublishInterrupted

    def interrupted(args):
        raise PublishInterrupted(signal.SIGINT, Path("out/2010-10-20"))

    monkeypatch.setattr(capacity.cli, "_forecast", interrupted)
    assert main(["forecast"]) == 130
    err = capsys.readouterr().err.strip()
    assert err == "capacity: interrupted; the report was published: out/2010-10-20"


def test_a_foreign_link_in_the_way_is_refused_before_the_work(tmp_path, monkeypatch, capsys):
    import capacity.pipeline

    archive = tmp_path / "archive"
    archive.mkdir()
    (archive / "keep.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "2010-10-20").symlink_to(archive)

    def no_work(*args, **kwargs):
        raise AssertionError("the pipeline ran before the destination was checked")

    monkeypatch.setattr(capacity.pipeline, "run", no_work)
    assert main(["forecast", "--quiet", "--out", str(out)]) == 2
    assert "capacity did not make" in capsys.readouterr().err
    assert (archive / "keep.txt").read_text() == "mine"


def test_a_fanout_formula_the_broker_contradicts_is_one_warning_line_naming_the_key(tmp_path):
    sample = ROOT / "capacity" / "sample"
    text = (sample / "plan.toml").read_text()
    text = text.replace("apps_per_component = 100", "apps_per_component = 150", 1)
    text = text.replace('apps = "apps.csv"', f'apps = "{sample / "apps.csv"}"', 1)
    text = text.replace('messaging = "messaging.csv"', f'messaging = "{sample / "messaging.csv"}"', 1)
    (tmp_path / "plan.toml").write_text(text)
    done = subprocess.run([sys.executable, "-m", "capacity.cli", "forecast", "--config", "plan.toml", "--out",
                           "out", "--quiet"], capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("capacity: warning: plan.toml: key 'messaging.strategies.broadcast': "
                               "configured base_components, apps_per_component outside the measured interval")
    assert "(the measured formula is used)" in lines[0]
