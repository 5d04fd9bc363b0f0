"""Execute the planners' notebooks with papermill and write HTML copies (no code, charts offline).

    .venv/bin/python scripts/run_notebooks.py                      # all four, default parameters
    .venv/bin/python scripts/run_notebooks.py 04_replay_2010       # one of them
    .venv/bin/python scripts/run_notebooks.py --quick --out /tmp/nb  # the test suite's small parameters
    .venv/bin/python scripts/run_notebooks.py 03_deadlines -p as_of=2010-10-20 -p n_paths=500

The notebooks are jupytext percent-format ``.py`` files in ``notebooks/``; each is converted in memory,
executed top to bottom with the ``python3`` kernel of the interpreter running this script (cwd =
``notebooks/``, so the notebooks' relative paths resolve), and exported as
``reports/notebooks/<name>.html``. The HTML copies hide the code cells and load nothing from the
network: charts are inline SVG (the notebooks render Altair charts with vl-convert) and the page
template keeps no CDN scripts (require.js, MathJax, Mermaid are left out; the pages need none).

A warning raised in a notebook fails it: a first cell turns warnings into exceptions
(``--allow-warnings`` leaves Python's default filters). Exit status 0 when every notebook ran and its
copy is self-contained, 1 otherwise (the error is printed, and no HTML copy is written for it).
"""

from __future__ import annotations

import argparse
import ast
import base64
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
OUT = ROOT / "reports" / "notebooks"
NAMES = ("01_app_growth", "02_messaging_load", "03_deadlines", "04_replay_2010")

#: small parameters that keep each notebook to a few seconds (used by tests/test_notebooks.py)
QUICK: dict[str, dict[str, Any]] = {
    "01_app_growth": {"n_paths": 300, "detect_every_days": 14},
    "02_messaging_load": {"n_draws": 200},
    "03_deadlines": {"n_paths": 300},
    "04_replay_2010": {"replay_every_days": 28, "n_paths": 200},
}

#: injected as the first cell: any warning raised while the notebook runs becomes an exception
STRICT_CELL = """\
import warnings

warnings.simplefilter("error")
# ipykernel 7 warns about its own shutdown handler when the kernel stops: kernel machinery, not notebook code
warnings.filterwarnings("default", category=PendingDeprecationWarning, module="ipykernel")"""

# a page must not need anything from the network to show its charts
_EXTERNAL = re.compile(r"""<(?:script|img|iframe|embed)\b[^>]*\bsrc\s*=\s*["']?(?:https?:)?//"""
                       r"""|<link\b[^>]*\bhref\s*=\s*["']?(?:https?:)?//"""
                       r"""|@import\s+(?:url\()?["']?(?:https?:)?//""", re.IGNORECASE)

# nbconvert's "lab" page without the CDN scripts it would otherwise put in <head>
_TEMPLATE = """\
{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


def notebook_path(name: str) -> Path:
    """``notebooks/<name>.py`` for a name like ``03_deadlines`` (or a path to any percent-format file)."""
    path = Path(name)
    if path.suffix != ".py":
        path = NOTEBOOKS / f"{name}.py"
    if not path.is_file():
        raise FileNotFoundError(f"no notebook {name!r}: {path} does not exist (known: {', '.join(NAMES)})")
    return path


def _ipc_kernel_manager() -> type:
    """A kernel manager that talks to the kernel over Unix sockets: a local kernel needs no TCP, and
    ipykernel warns on every start that TCP without encryption can be eavesdropped."""
    import tempfile

    from jupyter_client.manager import AsyncKernelManager

    class IPCKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.transport = "ipc"
            # the sockets' path prefix: a private folder, as short as Unix socket paths need
            self.ip = str(Path(tempfile.mkdtemp(prefix="capacity-kernel-")) / "kernel")

    return IPCKernelManager


def execute(name: str, parameters: dict[str, Any] | None = None, *, strict: bool = True,
            kernel_name: str = "python3"):
    """Run one notebook top to bottom and return the executed notebook (nbformat node).

    Raises papermill's ``PapermillExecutionError`` on the first failing cell (with ``strict``, a
    warning counts as a failure).
    """
    import jupytext
    import nbformat
    import papermill

    path = notebook_path(name)
    nb = jupytext.read(path)
    if strict:
        nb.cells.insert(0, nbformat.v4.new_code_cell(STRICT_CELL, metadata={"tags": ["strict-warnings"]}))
    # the kernel named python3 is this interpreter's own ipykernel (jupyter_client runs "python" as
    # sys.executable, and a virtual environment's kernelspecs come before the user's)
    nb = papermill.execute_notebook(nb, None, parameters=parameters or {}, kernel_name=kernel_name,
                                    cwd=str(path.parent), progress_bar=False,
                                    kernel_manager_class=_ipc_kernel_manager())
    nb.metadata.papermill["input_path"] = str(path)  # papermill stored the whole in-memory notebook here
    return nb


def to_html(nb, title: str) -> str:
    """A self-contained HTML page of an executed notebook: outputs only, no network references."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="lab", extra_loaders=[DictLoader({"offline.html.j2": _TEMPLATE})],
                            template_file="offline.html.j2", exclude_input=True, exclude_input_prompt=True,
                            exclude_output_prompt=True, embed_images=True)
    body, _ = exporter.from_notebook_node(nb, resources={"metadata": {"name": title}})
    return body


def external_references(html: str) -> list[str]:
    """Script, stylesheet, image or import references to the network in a page (empty: offline)."""
    return [m.group(0) for m in _EXTERNAL.finditer(html)]


def chart_count(html: str) -> int:
    """Charts in a page: images whose data is an SVG drawn by Vega (its root has ``class="marks"``).

    nbconvert embeds an ``image/svg+xml`` output as ``<img src="data:image/svg+xml;base64,...">``.
    """
    count = 0
    for data in re.findall(r'<img\b[^>]*\bsrc="data:image/svg\+xml;base64,([^"]+)"', html):
        svg = base64.b64decode(data).decode("utf-8", errors="replace")
        count += bool(re.match(r'\s*<svg\b[^>]*\bclass="marks"', svg))
    return count


def _write(path: Path, text: str) -> None:
    # write next to the target and rename, so a reader never sees half a page
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, prefix=f".{path.name}.",
                                     delete=False) as handle:
        handle.write(text)
    os.chmod(handle.name, 0o644)  # a temporary file is private; the page is not
    os.replace(handle.name, path)


def run_one(name: str, out: Path = OUT, parameters: dict[str, Any] | None = None, *,
            strict: bool = True) -> tuple[Any, Path]:
    """Execute one notebook and write ``out/<name>.html``; return the executed notebook and the page."""
    nb = execute(name, parameters, strict=strict)
    html = to_html(nb, Path(name).stem)
    external = external_references(html)
    if external:
        raise RuntimeError(f"{name}: the HTML copy refers to the network: {external[:3]}")
    page = Path(out) / f"{Path(name).stem}.html"
    _write(page, html)
    return nb, page


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"notebooks to run (default: {' '.join(NAMES)})")
    parser.add_argument("--out", type=Path, default=OUT,
                        help="folder of the HTML copies (default: %(default)s)")
    parser.add_argument("--quick", action="store_true", help="small parameters, as in the test suite")
    parser.add_argument("-p", "--parameter", action="append", default=[], metavar="NAME=VALUE",
                        help="set a notebook parameter (a Python literal, else a string); repeatable")
    parser.add_argument("--allow-warnings", action="store_true", help="do not turn warnings into errors")
    args = parser.parse_args(argv)
    given = {}
    for item in args.parameter:
        key, sep, text = item.partition("=")
        if not sep or not key.isidentifier():
            parser.error(f"-p takes NAME=VALUE, not {item!r}")
        try:
            given[key] = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            given[key] = text  # a date or a path: a plain string
    from papermill.exceptions import PapermillExecutionError

    failed = 0
    for name in args.names or NAMES:
        start = time.perf_counter()
        try:
            parameters = {**(QUICK.get(name, {}) if args.quick else {}), **given}
            _, page = run_one(name, args.out, parameters, strict=not args.allow_warnings)
        except (PapermillExecutionError, FileNotFoundError, RuntimeError) as exc:
            failed += 1
            print(f"FAILED {name}: {exc}", file=sys.stderr)
            continue
        print(f"{name}: {time.perf_counter() - start:.1f} s -> {page}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
