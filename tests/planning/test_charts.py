"""Tests of capacity.planning.charts on the charts' specs: the utilisation fan covers the horizon, shades
and labels what lies above 100% and labels its rules; the crossing histogram fits its dates and its
ticks cannot collide; the replay tells equal lines apart; counts agree with their nouns; text from
the data never reaches the SVG renderer with a control character (which aborts the process)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from capacity.charts import label_text, to_svg
from capacity.load.strategies import Targeted
from capacity.pipeline import Replay
from capacity.planning import charts
from capacity.planning.limits import FixedLoad
from capacity.planning.montecarlo import plan
from capacity.planning.projects import Project, SwitchStrategy

AS_OF = pd.Timestamp("2020-01-01")
# one delivery per message, one core, no fixed cost: utilisation = b * apps exactly
LOAD = FixedLoad({"u0": 0.0, "a": 0.0, "b": 1e-4}, {"one": Targeted(k=1), "half": Targeted(k=0.5)},
                 cores_per_server=1)
BELL = "ab\u0007cd"  # a project name with a control character: the renderer panics on it


def paths(per_day: np.ndarray, horizon: int, *, start: float = 1000.0) -> pd.DataFrame:
    """One linear app-count path per rate in ``per_day`` [apps/day]."""
    dates = pd.date_range(AS_OF + pd.Timedelta(days=1), periods=horizon)
    return pd.DataFrame(start + np.outer(per_day, np.arange(1, horizon + 1)), columns=dates)


def a_plan(per_day: np.ndarray, horizon: int, *, start: float = 1000.0, servers: int = 1, limit: float = 0.5,
           projects: list[Project] | None = None):
    return plan(paths(per_day, horizon, start=start), LOAD, strategy="one", servers=servers, limit=limit,
                horizon_days=horizon, n_paths=len(per_day), seed=1, projects=projects or [])


def layers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    """Every single-view spec inside ``spec`` (layers and concatenations flattened)."""
    out = []
    for key in ("layer", "vconcat", "hconcat"):
        for part in spec.get(key, []):
            out += layers(part)
    return out or [spec]


def mark(view: dict[str, Any]) -> str:
    return view["mark"]["type"] if isinstance(view["mark"], dict) else view["mark"]


def rows(spec: dict[str, Any], view: dict[str, Any]) -> list[dict[str, Any]]:
    return spec["datasets"][view["data"]["name"]]


def texts(spec: dict[str, Any]) -> list[str]:
    """The text each text mark draws (its ``label`` or ``text`` field)."""
    out = []
    for view in layers(spec):
        if mark(view) == "text":
            field = view["encoding"]["text"]["field"]
            out += [r[field] for r in rows(spec, view)]
    return out


def title(spec: dict[str, Any]) -> str:
    t = spec["title"]
    return t if isinstance(t, str) else t["text"]


def x_domain(spec: dict[str, Any]) -> list[pd.Timestamp]:
    domains = [v["encoding"]["x"]["scale"]["domain"] for v in layers(spec)
               if "scale" in v.get("encoding", {}).get("x", {})]
    assert domains and all(d == domains[0] for d in domains)
    return [pd.Timestamp(d) for d in domains[0]]


def x_axis_labels(svg: str) -> list[tuple[str, float, str]]:
    """(anchor, x, text) of the visible labels of the x axis (the one whose labels are not percentages)."""
    groups = re.findall(r'<g class="mark-text role-axis-label"[^>]*>(.*?)</g>', svg, flags=re.S)
    found = []
    for group in groups:
        labels = [(a, float(x), t) for a, x, o, t in re.findall(
            r'<text text-anchor="(\w+)" transform="translate\(([-\d.e]+),[-\d.e]+\)"[^>]*?'
            r'opacity="([\d.]+)"[^>]*>([^<]*)</text>', group) if float(o) > 0]
        if labels and not any(t.endswith("%") for _, _, t in labels):
            found.append(labels)
    assert len(found) == 1
    return found[0]


def assert_labels_apart(labels: list[tuple[str, float, str]]) -> None:
    """No label repeats and no two overlap (DejaVu Sans 10 px: at most 6.5 px a character)."""
    assert len({t for _, _, t in labels}) == len(labels), labels
    spans = []
    for anchor, x, text in labels:
        width = 6.5 * len(text)
        left = {"start": x, "middle": x - width / 2, "end": x - width}[anchor]
        spans.append((left, left + width))
    spans.sort()
    assert all(a[1] + 2 <= b[0] for a, b in zip(spans, spans[1:], strict=False)), labels


def renders_in_subprocess(charts_: list[Any], tmp_path) -> list[str]:
    """Render each chart through capacity.charts.to_svg in one child process (a renderer panic aborts
    the process, which would take pytest with it); returns the SVGs."""
    specs = tmp_path / "specs.json"
    specs.write_text(json.dumps([c.to_dict() for c in charts_]), encoding="utf-8")
    code = ("import json, sys\n"
            "from capacity.charts import to_svg\n"
            "class Chart:\n"
            "    def __init__(self, spec):\n"
            "        self.spec = spec\n"
            "    def to_dict(self):\n"
            "        return self.spec\n"
            "specs = json.loads(open(sys.argv[1], encoding='utf-8').read())\n"
            "svgs = [to_svg(Chart(spec)) for spec in specs]\n"
            "open(sys.argv[2], 'w', encoding='utf-8').write(json.dumps(svgs))\n")
    out = tmp_path / "svgs.json"
    done = subprocess.run([sys.executable, "-c", code, str(specs), str(out)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(out.read_text(encoding="utf-8"))


CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


# ------------------------------------------------------------------------------------------------
# utilisation fan


def test_fan_x_domain_covers_the_whole_horizon():
    # utilisation 1e-4 * (1000 + 10 t) crosses 50% on day 400 of a 1000-day horizon
    result = a_plan(np.full(20, 10.0), 1000)
    assert result.crossing.p50 == AS_OF + pd.Timedelta(days=400)
    spec = charts.utilisation_fan(result).to_dict()
    assert x_domain(spec) == [AS_OF, result.crossing.horizon_end]
    history = pd.Series(50.0, index=pd.date_range(AS_OF - pd.Timedelta(days=200), AS_OF))
    spec = charts.utilisation_fan(result, history=history).to_dict()
    assert x_domain(spec) == [AS_OF - pd.Timedelta(days=120), result.crossing.horizon_end]


def test_fan_shades_and_labels_demand_beyond_saturation():
    # 1e-4 * (1000 + 10 t) passes 100% on day 900 of 1000
    spec = charts.utilisation_fan(a_plan(np.full(20, 10.0), 1000)).to_dict()
    top = next(v for v in layers(spec) if mark(v) == "area")["encoding"]["y"]["scale"]["domain"][1]
    assert top > 100
    shade = [v for v in layers(spec) if mark(v) == "rect"]
    assert len(shade) == 1 and rows(spec, shade[0]) == [{"lo": 100.0, "hi": top}]
    assert "demand beyond saturation: readings pin at 100%" in texts(spec)
    # a fan that stays under 100% with room to spare has no such band
    spec = charts.utilisation_fan(a_plan(np.full(20, 10.0), 500)).to_dict()
    assert not [v for v in layers(spec) if mark(v) == "rect"]
    assert "demand beyond saturation: readings pin at 100%" not in texts(spec)


def test_fan_rules_are_labelled():
    # every path alike: P10 = P50 = P90, one rule, one label naming all three
    spec = charts.utilisation_fan(a_plan(np.full(20, 10.0), 1000)).to_dict()
    assert [t for t in texts(spec) if "crossing" in t] == ["P10/P50/P90 crossing: 4 Feb 2021"]
    assert "limit 50%" in texts(spec)
    # spread paths: a labelled rule per quantile
    result = a_plan(np.linspace(8, 12, 50), 1000)
    c = result.crossing
    assert c.p10 < c.p50 < c.p90
    spec = charts.utilisation_fan(result).to_dict()
    labels = [t for t in texts(spec) if "crossing" in t]
    assert labels == [f"{q} crossing: {d.day} {d:%b %Y}" for q, d in (("P10", c.p10), ("P50", c.p50),
                                                                       ("P90", c.p90))]
    rules = [v for v in layers(spec)
             if mark(v) == "rule" and v["encoding"].get("x", {}).get("field") == "date"]
    ruled = {pd.Timestamp(r["date"]) for v in rules for r in rows(spec, v)}
    assert ruled == {c.p10, c.p50, c.p90}


def test_counts_agree_with_their_nouns():
    one = a_plan(np.full(20, 10.0), 1000, servers=1)
    assert "with 1 server under one" in title(charts.utilisation_fan(one).to_dict())
    two = plan(paths(np.full(20, 10.0), 1000), LOAD, strategy="one", servers=2, limit=0.5, horizon_days=1000,
               n_paths=20, seed=1)
    assert "with 2 servers under one" in title(charts.utilisation_fan(two).to_dict())
    assert "never within 1000 days" in title(charts.crossing_histogram(one).to_dict())


# ------------------------------------------------------------------------------------------------
# crossing histogram


def test_histogram_domain_fits_the_crossing_dates():
    # all crossings on days 398..402 of a 600-day horizon: the axis spans those days, not day 0 on
    result = a_plan(np.linspace(9.95, 10.05, 50), 600)
    days = result.crossing_days
    first, last = AS_OF + pd.Timedelta(days=days.min()), AS_OF + pd.Timedelta(days=days.max())
    lo, hi = x_domain(charts.crossing_histogram(result).to_dict())
    assert first - pd.Timedelta(days=3) <= lo < first.floor("D")
    assert last + pd.Timedelta(days=1) < hi <= last + pd.Timedelta(days=4)
    spec = charts.crossing_histogram(result).to_dict()
    bars = rows(spec, layers(spec)[0])
    assert sum(b["share"] for b in bars) == pytest.approx(1.0)
    assert all(lo <= pd.Timestamp(b["start"]) < pd.Timestamp(b["end"]) <= hi for b in bars)


@pytest.mark.parametrize(("rates", "horizon", "start"), [
    (np.linspace(9.95, 10.05, 50), 600, 1000.0),     # days apart: daily ticks
    (np.linspace(16, 200, 80), 400, 4000.0),       # crossings from day 5 to day 60: weekly bins
    (np.linspace(8.5, 11.5, 80), 900, 1000.0),     # months apart
    (np.linspace(3, 16, 80), 1500, 1000.0),        # years apart: monthly bins
])
def test_histogram_tick_labels_cannot_collide(rates, horizon, start):
    chart = charts.crossing_histogram(a_plan(rates, horizon, start=start))
    spec = chart.to_dict()
    assert layers(spec)[0]["encoding"]["x"]["axis"]["labelOverlap"] is True
    labels = x_axis_labels(to_svg(chart))
    assert len(labels) >= 2
    assert_labels_apart(labels)


def test_time_axis_ticks_fit_any_span():
    for days in (1, 3, 10, 40, 100, 400, 1000, 4000, 40000):
        start = pd.Timestamp("2010-10-20")
        end = start + pd.Timedelta(days=days)
        axis = charts.time_axis(start, end).to_dict()
        ticks = [pd.Timestamp(year=v["year"], month=v["month"], day=v["date"]) for v in axis["values"]]
        assert ticks == sorted(ticks) and all(start <= t <= end for t in ticks)
        assert len(ticks) <= charts.WIDTH // charts.TICK_SPACING + 1, days
        assert days < 2 or len(ticks) >= 1


# ------------------------------------------------------------------------------------------------
# replay


def a_replay(names: tuple[str, ...] = ("first", "second", "third")) -> Replay:
    dates = pd.date_range("2010-09-01", periods=4, freq="7D")
    table = []
    for i, as_of in enumerate(dates):
        day = as_of + pd.Timedelta(days=60 - 10 * i)
        table.append({"as_of": as_of, "item": "crossing", "p10": day, "p50": day + pd.Timedelta(days=5),
                      "p90": day + pd.Timedelta(days=10),
                      "p_none": 0.0, "must_land_by": pd.NaT, "must_start_by": pd.NaT, "p_late": np.nan,
                      "at_risk": False, "status": np.nan})
        for j, name in enumerate(names):  # the last two always equal: one would hide the other
            land = as_of + pd.Timedelta(days=60 - 10 * i + (5 if j == 0 else 0))
            table.append({"as_of": as_of, "item": name, "p10": pd.NaT, "p50": pd.NaT, "p90": pd.NaT,
                          "p_none": 1.0, "must_land_by": land, "must_start_by": land - pd.Timedelta(days=30),
                          "p_late": 0.5, "at_risk": i >= 2, "status": "planned"})
    first = pd.DataFrame({"project": list(names), "first_at_risk": [dates[2]] * len(names),
                          "must_land_by": [dates[2]] * len(names), "p_late": [0.5] * len(names),
                          "crossing_p50": [dates[2]] * len(names)})
    return Replay(table=pd.DataFrame(table), first_warning=first, limit=0.9, confidence=0.9)


def test_replay_tells_equal_lines_apart():
    replay = a_replay()
    spec = replay.chart().to_dict()
    lines = [v for v in layers(spec) if mark(v) == "line" and v["encoding"]["y"]["field"] == "must_land_by"]
    drawn = [{r["item"] for r in rows(spec, v)} for v in lines]
    assert drawn == [{"first"}, {"second"}, {"third"}]  # one line each, in roadmap order
    # each narrower than the one before, so an equal line drawn over another leaves it showing
    widths = [v["mark"]["strokeWidth"] for v in lines]
    assert widths == sorted(widths, reverse=True) and len(set(widths)) == 3
    # and each its own colour and dash (the legend says which is which)
    for channel in ("color", "strokeDash"):
        scale = lines[0]["encoding"][channel]["scale"]
        assert scale["domain"] == ["first", "second", "third"]
        assert len({json.dumps(r) for r in scale["range"]}) == 3
    assert "#e45756" not in lines[0]["encoding"]["color"]["scale"]["range"]  # red is the crossing's
    # the rule of the day they were first at risk says who
    assert texts(spec) == ["first at risk: first, second, third"]


# ------------------------------------------------------------------------------------------------
# control characters


@pytest.mark.slow
def test_control_characters_never_reach_the_renderer(tmp_path):
    lead = (10, 20, 40)
    result = a_plan(np.linspace(8, 12, 50), 700, projects=[
        Project("fix", effect=SwitchStrategy("half"), lead_time=lead, start=AS_OF + pd.Timedelta(days=300))])
    # set after planning: the planner (or the config) may refuse such names; the charts must not crash
    result.deadlines.loc[0, "project"] = BELL
    object.__setattr__(result, "strategy", "one\u001b[31m")
    replay = a_replay(names=(BELL, "x\u0000y", "z\ufffez"))
    for chart in (charts.plan_chart(result), charts.utilisation_fan(result), charts.project_windows(result),
                  replay.chart()):
        text = json.dumps(chart.to_dict(), ensure_ascii=False)
        assert not CONTROL.search(text)
    plan_svg, replay_svg = renders_in_subprocess([charts.plan_chart(result), replay.chart()], tmp_path)
    assert "ab\ufffdcd" in plan_svg and "one\ufffd[31m" in plan_svg
    assert "ab\ufffdcd" in replay_svg and "x\ufffdy" in replay_svg and "z\ufffdz" in replay_svg


def test_label_text():
    assert label_text("ab\u0007cd") == "ab\ufffdcd"
    assert label_text("tab\there\nnew\x7fline\x85") == "tab\ufffdhere\ufffdnew\ufffdline\ufffd"
    assert label_text("\ud800\ufffe\uffff") == "\ufffd" * 3
    assert label_text("Zürich – ok ✓") == "Zürich – ok ✓"
    assert label_text(3) == "3"
