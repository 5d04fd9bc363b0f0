"""Tests of capacity.load.charts on the messaging chart's spec: the legend shows the lines as drawn, the
axis title counts servers in the right number, and a strategy label with a control character (which
aborts the SVG renderer) is drawn as U+FFFD instead."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest

from capacity.load.charts import messaging_chart

CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def frames(strategies: tuple[str, ...] = ("broadcast", "targeted")) -> tuple[pd.DataFrame, pd.DataFrame]:
    apps = np.linspace(0, 1000, 11)
    curves = pd.concat([pd.DataFrame({"apps": apps, "mean": k * apps / 100, "mean_lower": k * apps / 110,
                                      "mean_upper": k * apps / 90, "strategy": name})
                        for k, name in enumerate(strategies, start=1)], ignore_index=True)
    observed = pd.DataFrame({"date": pd.date_range("2010-10-01", periods=len(strategies)),
                             "strategy": list(strategies), "apps": 500.0, "cpu_percent": 5.0,
                             "censored": False, "censored_share": 0.0})
    return curves, observed


def chart(*, strategies: tuple[str, ...] = ("broadcast", "targeted"), servers: int = 4):
    curves, observed = frames(strategies)
    return messaging_chart(curves, observed, limit=0.7, servers=servers, level=0.8)


def colour_legends(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [layer["encoding"]["color"].get("legend") for layer in spec["layer"]
            if "color" in layer["encoding"]]


def test_legend_symbols_are_solid_strokes_like_the_lines():
    spec = chart().to_dict()
    # the band layer (opacity 0.2) comes first and would lend the legend its pale swatch
    assert spec["layer"][0]["mark"]["opacity"] == 0.2
    legends = [legend for legend in colour_legends(spec) if legend]
    assert legends, "no legend settings"
    for legend in legends:
        assert legend["symbolType"] == "stroke"
        assert legend["symbolOpacity"] == 1
        assert legend["symbolStrokeWidth"] >= 2


def test_axis_title_counts_servers_in_the_right_number():
    def y_title(spec: dict[str, Any]) -> str:
        return spec["layer"][0]["encoding"]["y"]["title"]

    assert y_title(chart(servers=1).to_dict()) == "CPU per server, 1 server [%]"
    assert y_title(chart(servers=4).to_dict()) == "CPU per server, 4 servers [%]"


@pytest.mark.slow
def test_control_characters_in_strategy_labels_render(tmp_path):
    drawn = chart(strategies=("ab\u0007cd", "e\u0000f"))
    spec = drawn.to_dict()
    assert not CONTROL.search(json.dumps(spec, ensure_ascii=False))
    # render in a child process: a renderer panic aborts the process, which would take pytest with it
    spec_file, svg_file = tmp_path / "spec.json", tmp_path / "chart.svg"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    code = ("import json, sys\n"
            "from capacity.charts import to_svg\n"
            "class Chart:\n"
            "    def to_dict(self):\n"
            "        return json.loads(open(sys.argv[1], encoding='utf-8').read())\n"
            "open(sys.argv[2], 'w', encoding='utf-8').write(to_svg(Chart()))\n")
    done = subprocess.run([sys.executable, "-c", code, str(spec_file), str(svg_file)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    svg = svg_file.read_text(encoding="utf-8")
    assert "ab\ufffdcd" in svg and "e\ufffdf" in svg
