"""The planners' notebooks run top to bottom on the sample, and their HTML copies work offline.

Each notebook is executed with papermill exactly as ``make notebooks`` does (scripts/run_notebooks.py),
with the small parameters of its ``QUICK`` table, warnings turned into errors inside the kernel.
Select these tests with ``-m notebook`` (or leave them out with ``-m "not notebook"``).
"""

from __future__ import annotations

import base64
import importlib.util
import re
from pathlib import Path

import pytest

pytest.importorskip("papermill", reason="the notebook tests need the lab extra: pip install -e '.[lab]'")
from papermill.exceptions import PapermillExecutionError

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "scripts" / "run_notebooks.py")
runner = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(runner)

pytestmark = pytest.mark.notebook

#: the fewest charts each page must show (a chart that fails to render as SVG does not count)
MIN_CHARTS = {"01_app_growth": 7, "02_messaging_load": 5, "03_deadlines": 3, "04_replay_2010": 3}
#: a sentence of computed prose each page must carry (the numbers in it come from the run)
PROSE = {
    "01_app_growth": r"The latest change: from \*\*2010-09-\d\d\*\* new apps arrive at",
    "02_messaging_load": r"targeted routing would cut the messaging CPU <strong>\d+\.\d-fold</strong>",
    "03_deadlines": r"Messaging CPU \(the busiest hour of the average server\) crosses 90% between 2010-",
    "04_replay_2010": r"<strong>\d+\.\d weeks before the outage</strong> of 26 Oct 2010",
}


def _outputs(nb, key):
    return [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs if key(o)]


@pytest.mark.parametrize("name", runner.NAMES)
def test_notebook_runs_and_its_html_copy_is_self_contained(name, tmp_path, capfd):
    nb, page = runner.run_one(name, tmp_path, runner.QUICK[name])
    # the kernel's own log is quiet too: it runs over Unix sockets, not unencrypted TCP
    assert "without encryption" not in capfd.readouterr().err
    assert nb.metadata.papermill.parameters == runner.QUICK[name]
    assert nb.metadata.papermill.exception is None
    # nothing on stderr: no warning (they are errors here), no log noise
    assert _outputs(nb, lambda o: o.output_type == "stream" and o.name == "stderr") == []
    # every chart rendered as a static SVG, none fell back to its text repr
    svgs = _outputs(nb, lambda o: "image/svg+xml" in o.get("data", {}))
    charts = _outputs(nb, lambda o: re.match(r"alt\.\w*Chart\(", o.get("data", {}).get("text/plain", "")))
    fallbacks = [o for o in charts if "image/svg+xml" not in o.data]
    assert len(svgs) >= MIN_CHARTS[name]
    assert fallbacks == []

    html = page.read_text(encoding="utf-8")
    assert page.name == f"{name}.html"
    assert f"<title>{name}</title>" in html
    assert runner.external_references(html) == []
    assert runner.chart_count(html) == len(svgs)
    assert "alt.renderers.enable(renderer)" not in html  # the code cells are left out
    # the markdown the notebook computes is rendered, not shown as code
    markdown = _outputs(nb, lambda o: "text/markdown" in o.get("data", {}))
    assert markdown and "display(Markdown" not in html
    assert re.search(PROSE[name], html if name != "01_app_growth" else
                     "\n".join(o.data["text/markdown"] for o in markdown))


def test_external_references_are_found():
    page = ('<script src="https://cdn.example/require.js"></script><link href="//fonts.example/a.css">'
            '<img src="data:image/png;base64,AAAA"><script>var x = 1;</script>')
    assert runner.external_references(page) == ['<script src="https://', '<link href="//']


def test_chart_count_counts_vega_svgs_only():
    svg = '<svg xmlns="http://www.w3.org/2000/svg"{} width="1"></svg>'
    chart = base64.b64encode(svg.format(' class="marks"').encode()).decode()
    icon = base64.b64encode(svg.format("").encode()).decode()
    page = f'<img src="data:image/svg+xml;base64,{chart}"><img src="data:image/svg+xml;base64,{icon}">'
    assert runner.chart_count(page) == 1


def test_parameters_cells_are_typed_and_quick_names_exist():
    import jupytext
    from papermill.translators import PythonTranslator

    for name in runner.NAMES:
        nb = jupytext.read(runner.notebook_path(name))
        cells = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(cells) == 1, f"{name} needs exactly one parameters cell"
        params = {p.name: p for p in PythonTranslator.inspect(cells[0])}
        assigned = re.findall(r"^(\w+)\s*[:=]", cells[0].source, flags=re.MULTILINE)
        assert params and set(params) == set(assigned), f"papermill cannot read {set(assigned) - set(params)}"
        untyped = [p.name for p in params.values() if p.inferred_type_name == "None"]
        assert untyped == [], f"{name}: parameters without a type: {untyped}"
        assert set(runner.QUICK[name]) <= set(params), f"{name}: QUICK names unknown parameters"


def test_a_warning_fails_the_notebook(tmp_path):
    source = tmp_path / "warns.py"
    source.write_text(
        "# %% tags=[\"parameters\"]\nn: int = 1\n\n"
        "# %%\nimport warnings\n\nwarnings.warn(\"stale input\", UserWarning)\nprint('went on')\n",
        encoding="utf-8")
    with pytest.raises(PapermillExecutionError, match="UserWarning: stale input"):
        runner.execute(str(source))
    relaxed = runner.execute(str(source), strict=False)
    printed = [o.text for o in _outputs(relaxed, lambda o: o.output_type == "stream" and o.name == "stdout")]
    assert printed == ["went on\n"]


def test_an_unknown_notebook_is_named():
    with pytest.raises(FileNotFoundError, match=r"no notebook '05_capacity': .*known: 01_app_growth"):
        runner.notebook_path("05_capacity")
    assert runner.main(["05_capacity"]) == 1
