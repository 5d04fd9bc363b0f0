"""Tests of the scheduled report: the CLI end to end, the files, the schema, atomicity, escaping."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from capacity import __version__
from capacity.cli import main

# end-to-end runs of the command line: part of `make test`, not of the quick loop
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "capacity" / "sample"
# the sample's config plans on the busiest hour (limit.metric)
HEADLINE = "Messaging CPU (the busiest hour of the average server) crosses 90%"
FILES = {"index.html", "summary.json", "deadlines.csv", "forecast.csv", "growth.svg", "messaging.svg",
         "utilisation.svg", "crossing.svg", "projects.svg", "capacity.prom"}


def sample_config(tmp_path: Path, *, edit=None, n_paths: int = 300) -> Path:
    """A copy of the sample config pointing at the sample data, with fewer paths (and an edit)."""
    text = (SAMPLE / "plan.toml").read_text()
    text = text.replace('apps = "apps.csv"', f'apps = "{SAMPLE / "apps.csv"}"')
    text = text.replace('messaging = "messaging.csv"', f'messaging = "{SAMPLE / "messaging.csv"}"')
    text = text.replace("n_paths = 2000", f"n_paths = {n_paths}")
    if edit:
        text = edit(text)
    path = tmp_path / "plan.toml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """One run of the CLI on the sample as a user runs it: a subprocess, default config."""
    out = tmp_path_factory.mktemp("reports")
    done = subprocess.run([sys.executable, "-m", "capacity.cli", "forecast", "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT, timeout=600)
    return out, done


def test_the_report_exports_its_answer_for_the_textfile_collector(report):
    out, done = report
    assert done.returncode == 0, done.stderr
    text = (out / "latest" / "capacity.prom").read_text()
    summary = json.loads((out / "latest" / "summary.json").read_text())
    for project in summary["deadlines"]:
        assert f'capacity_project_late_probability{{project="{project["project"]}"}}' in text or \
            project["p_late"] is None
    assert "capacity_crossing_timestamp_seconds{percentile=\"50\"}" in text
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (.ci/run installs the prometheus package)")
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_forecast_writes_every_file(report):
    out, done = report
    assert done.returncode == 0, done.stderr
    folder = out / "2010-10-20"
    assert folder.is_dir()
    assert {p.name for p in folder.iterdir()} == FILES
    assert (out / "latest").resolve() == folder.resolve()
    assert not [p for p in (out / ".builds").iterdir() if p.name.endswith(".partial")]


def test_stdout_summary_and_progress(report):
    _, done = report
    lines = done.stdout.strip().splitlines()
    assert lines[0].startswith(HEADLINE + " between 2010-10-2")
    assert any("Targeted message routing: must land by 2010-10-2" in line for line in lines)
    assert lines[-1].endswith("2010-10-20/index.html")
    assert "capacity: fitting growth" in done.stderr  # progress goes to stderr


def test_summary_json_schema(report):
    out, _ = report
    summary = json.loads((out / "latest" / "summary.json").read_text())
    for key in ("as_of", "headline", "crossing", "deadlines", "regimes", "models", "backtest", "inputs",
                "version"):
        assert key in summary
    assert summary["as_of"] == "2010-10-20"
    assert summary["version"] == __version__
    crossing = summary["crossing"]
    assert set(crossing) >= {"p10", "p50", "p90", "p_none"}
    assert crossing["p10"] <= crossing["p50"] <= crossing["p90"]
    assert "2010-10-20" < crossing["p50"] < "2010-11-15"  # days away as of 2010-10-20
    names = [d["project"] for d in summary["deadlines"]]
    assert sorted(names) == ["Messaging system replacement", "Targeted message routing",
                             "Two more messaging servers"]
    for d in summary["deadlines"]:
        assert set(d) >= {"project", "must_land_by", "must_start_by", "p_late", "at_risk"}
        assert isinstance(d["at_risk"], bool)
    assert summary["regimes"][0]["date"].startswith("2010-09")
    assert summary["inputs"]["apps"]["file"] == "apps.csv"
    assert re.fullmatch(r"[0-9a-f]{64}", summary["inputs"]["messaging"]["sha256"])
    assert summary["headline"].startswith(HEADLINE)
    assert summary["schema"] == 2
    assert summary["limit"] == {"cpu": 0.9, "metric": "busiest_hour", "metric_quantile": None,
                                "server": "average", "spare_servers": 0,
                                "watched": "the busiest hour of the average server"}
    # the sample's broker counts measure the fan-out; the readings, the busy hour and the hot server
    messaging = summary["models"]["messaging"]
    fanout = {(r["strategy"], r["param"]): r for r in messaging["fanout"]}
    assert fanout[("broadcast", "base_components")]["configured"] == 40
    assert 40 < fanout[("broadcast", "base_components")]["estimate"] < 41
    assert messaging["profile"]["hottest"] == "msg-1" and messaging["profile"]["peak_hour_utc"] == 21
    assert 1.12 < messaging["profile"]["busiest_hour_factor"] < 1.18
    assert messaging["cost_form"] == "u0 + a*N + b*N*F(N)"
    assert any(note.startswith("broadcast fan-out measured from") for note in messaging["notes"])


def test_csv_tables(report):
    out, _ = report
    deadlines = pd.read_csv(out / "latest" / "deadlines.csv")
    assert {"project", "must_land_by", "must_start_by", "p_late", "at_risk"} <= set(deadlines.columns)
    forecast = pd.read_csv(out / "latest" / "forecast.csv", parse_dates=["date"])
    assert forecast["date"].iloc[0] == pd.Timestamp("2010-10-21")
    assert len(forecast) == 365
    assert (forecast["apps_p10"] <= forecast["apps_p90"]).all()
    assert (forecast["cpu_percent_p50"].iloc[-1] > 100)  # broadcast demand a year on: far past saturation


def test_html_is_self_contained(report):
    out, _ = report
    page = (out / "latest" / "index.html").read_text()
    assert page.count("<svg") == 5
    assert "<script" not in page
    # nothing to fetch: no external src/href, no @import, no url(http...)
    assert not re.search(r"""(src|href)\s*=\s*["']?https?:""", page)
    assert "@import" not in page and "url(http" not in page
    head = page.split("<h2>")[0]
    assert HEADLINE in head  # the headline comes first
    assert "Limit: 90% CPU, for the busiest hour of the average server" in head


def test_fanout_table_says_what_a_disagreement_costs(report):
    out, _ = report
    page = (out / "latest" / "index.html").read_text()
    # the sample's configured broadcast formula is off by a hair: the page says by how much
    assert "configured inside interval" in page
    assert re.search(r"no \(deliveries differ by up to 0\.\d%\)", page)


def test_fail_on_risk_exits_3(tmp_path, capsys):
    config = sample_config(tmp_path)
    assert main(["forecast", "--config", str(config), "--out", str(tmp_path / "r"), "--fail-on-risk",
                 "--as-of", "2010-10-20", "--quiet"]) == 3
    assert capsys.readouterr().out == ""


def test_no_risk_exits_0_with_fail_on_risk(tmp_path):
    # at the end of 2010 targeted routing is in force and the runway is long
    config = sample_config(tmp_path, edit=lambda t: t.replace('as_of = "2010-10-20"', 'as_of = "2010-12-31"'))
    assert main(["forecast", "--config", str(config), "--out", str(tmp_path / "r"), "--fail-on-risk",
                 "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "2010-12-31" / "summary.json").read_text())
    assert summary["strategy"] == "targeted"


def test_rerun_same_day_replaces_atomically(tmp_path):
    config = sample_config(tmp_path, n_paths=100)
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    first = os.readlink(out / "2010-10-20")
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    second = os.readlink(out / "2010-10-20")
    assert first != second
    assert not (out / first).exists()  # the old build is gone
    builds = sorted(p.name for p in (out / ".builds").iterdir())
    assert builds == [Path(second).name, Path(second).name + ".capacity"]  # the build and its marker
    assert json.loads((out / "2010-10-20" / "summary.json").read_text())["as_of"] == "2010-10-20"


def test_failed_run_leaves_previous_report_intact(tmp_path):
    config = sample_config(tmp_path, n_paths=100)
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    before = (out / "2010-10-20" / "index.html").read_text()
    broken = sample_config(tmp_path, edit=lambda t: t.replace('kind = "targeted"', 'kind = "telepathy"'))
    assert main(["forecast", "--config", str(broken), "--out", str(out), "--quiet"]) == 2
    assert (out / "2010-10-20" / "index.html").read_text() == before


def swap(old: str, new: str):
    return lambda text: text.replace(old, new)


@pytest.mark.parametrize(
    ("edit", "match"),
    [
        (lambda t: t.replace(f'messaging = "{SAMPLE / "messaging.csv"}"', ""),
         r"key 'data\.messaging' is required"),
        (swap('messaging = "', 'messagez = "'), r"key 'data\.messagez' is not a known setting"),
        (swap('effect = { strategy = "targeted" }', 'effect = { strategy = "carrier-pigeon" }'),
         r"key 'project\[0\]\.effect\.strategy' names the unknown strategy 'carrier-pigeon'"),
        (swap('kind = "targeted"', 'kind = "telepathy"'),
         r"plan\.toml: key 'messaging\.strategies': strategy 'targeted': unknown kind 'telepathy'"),
        (swap("effect = { add_servers = 2 }", "effect = { prayer = 2 }"),
         r"key 'project\[1\]\.effect\.prayer' is not a known project effect"),
        (swap("[limit]", "[limit"), r"malformed TOML"),
        (swap(str(SAMPLE / "apps.csv"), str(SAMPLE / "no-such-apps.csv")),
         r"no-such-apps\.csv: file not found"),
    ],
    ids=["missing-key", "unknown-key", "unknown-strategy", "unknown-kind", "unknown-effect", "malformed",
         "missing-file"],
)
def test_bad_config_exits_2_and_writes_nothing(tmp_path, capsys, edit, match):
    config = sample_config(tmp_path, edit=edit)
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert re.search(match, err[-1]), err
    assert not out.exists() or not any(out.iterdir())


def test_unreadable_data_file_exits_2_and_writes_nothing(tmp_path, capsys):
    garbage = tmp_path / "apps.csv"
    garbage.write_bytes(b"\xff\xfe\x00\x81binary\x00\xc3(\n" * 20)
    config = sample_config(tmp_path, edit=swap(str(SAMPLE / "apps.csv"), str(garbage)))
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    assert re.search(r"apps\.csv: cannot be read as a table", capsys.readouterr().err)
    assert not out.exists() or not any(out.iterdir())


def test_replay_command_writes_table_and_chart(tmp_path, capsys):
    config = sample_config(tmp_path)
    out = tmp_path / "r"
    assert main(["replay", "--config", str(config), "--from", "2010-09-01", "--to", "2010-10-20",
                 "--every", "14", "--paths", "100", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "first warning: 2010-09-" in printed
    folder = out / "replay-2010-10-20"  # counted back from --to, so the last date is --to itself
    assert {p.name for p in folder.iterdir()} == {"replay.csv", "first_warning.csv", "replay.svg"}
    table = pd.read_csv(folder / "replay.csv", parse_dates=["as_of"])
    assert table["as_of"].max() == pd.Timestamp("2010-10-20")
    assert table["as_of"].nunique() == 4  # 10-20, 10-06, 09-22, 09-08
    assert (folder / "replay.svg").read_text().startswith("<svg")


def test_out_that_is_a_file_fails_before_any_work(tmp_path, capsys):
    out = tmp_path / "taken"
    out.write_text("not a folder")
    assert main(["forecast", "--config", str(sample_config(tmp_path)), "--out", str(out), "--quiet"]) == 2
    assert "the reports folder is a file" in capsys.readouterr().err


def test_bad_data_exits_2_and_writes_nothing(tmp_path, capsys):
    bad = tmp_path / "apps.csv"
    text = (SAMPLE / "apps.csv").read_text().splitlines()
    text[100] = text[100].split(",")[0] + ",-3,0"
    bad.write_text("\n".join(text) + "\n")
    config = sample_config(tmp_path, edit=swap(str(SAMPLE / "apps.csv"), str(bad)))
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 2
    assert re.search(r"apps\.csv, column 'apps', row 100: negative count '-3'", capsys.readouterr().err)
    assert not out.exists() or not any(out.iterdir())


def test_hostile_project_name_is_escaped_in_html_and_intact_in_json(tmp_path):
    name = "<script>alert(1)</script>"
    config = sample_config(tmp_path, n_paths=100,
                           edit=swap('name = "Two more messaging servers"', f'name = "{name}"'))
    out = tmp_path / "r"
    assert main(["forecast", "--config", str(config), "--out", str(out), "--quiet"]) == 0
    page = (out / "2010-10-20" / "index.html").read_text()
    assert "<script" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    summary = json.loads((out / "2010-10-20" / "summary.json").read_text())
    assert name in [d["project"] for d in summary["deadlines"]]


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_report_renders_offline_in_headless_chromium(report, tmp_path):
    out, _ = report
    page = (out / "latest" / "index.html").resolve()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-quic", f"--user-data-dir={tmp_path / 'u'}",
             # the network is off: every host resolves to nothing and every proxy connection fails
             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
             "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    charts = dom.stdout.split("<svg")[1:]
    assert len(charts) == 5
    for chart in charts:  # each chart drew marks, not an empty frame
        assert chart.count('class="mark-') >= 3
    console = [line for line in dom.stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]
    assert console == []
    shot = tmp_path / "report.png"
    done = subprocess.run([CHROMIUM, *flags, "--window-size=900,3000", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0
    assert shot.stat().st_size > 50_000  # a page with charts, not a blank one


class _Structure(HTMLParser):
    """Each table's and chart's enclosing elements, and the ISO dates in text outside ``<time>``."""

    VOID = {"meta", "br", "img", "hr", "input", "link"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, str]] = []
        self.tables: list[list[tuple[str, str]]] = []
        self.svgs: list[tuple[list[tuple[str, str]], dict]] = []
        self.meta: list[dict] = []
        self.loose_dates: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self.tables.append(list(self.stack))
        elif tag == "svg":
            self.svgs.append((list(self.stack), attrs))
        elif tag == "meta":
            self.meta.append(attrs)
        if tag not in self.VOID:
            self.stack.append((tag, attrs.get("class") or ""))

    def handle_endtag(self, tag):
        while self.stack and self.stack.pop()[0] != tag:
            pass

    def handle_data(self, data):
        tags = {t for t, _ in self.stack}
        if not tags & {"time", "svg", "title", "style"}:
            self.loose_dates += re.findall(r"\d{4}-\d{2}-\d{2}", data)


def test_page_reads_on_a_phone(report):
    """Tables and charts scroll inside their own box; charts keep their drawn size; dates never wrap."""
    out, _ = report
    page = (out / "latest" / "index.html").read_text()
    parsed = _Structure()
    parsed.feed(page)
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in parsed.meta
    assert len(parsed.tables) == 6  # with the measured fan-out beside the configured one
    for parents in parsed.tables:
        assert parents[-1] == ("div", "scroll")
    assert len(parsed.svgs) == 5
    for parents, attrs in parsed.svgs:
        assert parents[-2:] == [("figure", ""), ("div", "scroll")]
        assert float(attrs["width"]) > 390  # drawn wider than a phone: so it must not be shrunk to fit
    css = page.split("<style>")[1].split("</style>")[0].replace(" ", "")
    rules = dict(r.split("{", 1) for r in css.replace("\n", "").split("}") if "{" in r)
    assert ".scroll" in rules and "overflow-x:auto" in rules[".scroll"]
    for selector, body in rules.items():  # no rule scales an SVG down to the screen
        if "svg" in selector:
            assert "max-width:100%" not in body and not re.search(r"(^|;)width:100%", body), selector
    assert "max-width:none" in rules["figuresvg"]
    assert "white-space:nowrap" in rules["td.num,td.nowrap,time"]
    assert parsed.loose_dates == []  # every date is a <time>, which never breaks across lines


def test_runway_is_said_in_words(report):
    out, _ = report
    page = (out / "latest" / "index.html").read_text()
    assert "none)" not in page
    # the wording variants (none, few, most, all futures) are unit-tested in test_html.py
    assert re.search(r"the limit is reached again in (under 1%|\d+%) of futures(, in 10% by <time[^>]*>"
                     r"2011-\d\d-\d\d</time>)?; (over 99%|\d+%) of futures stay under it through "
                     r"<time[^>]*>2011-10-20</time>", page)
