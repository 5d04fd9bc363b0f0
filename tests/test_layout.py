"""The house rules: a subpackage per concept, one-way imports, short functions, -OO imports, a wheel runs."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "capacity"
MODULES = sorted(PACKAGE.rglob("*.py"))
MAX_BODY_LINES = 60


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _runtime_imports(path: Path) -> set[str]:
    """Modules of ours that ``path`` imports when run (lazy imports included, TYPE_CHECKING blocks not)."""
    tree = ast.parse(path.read_text())
    skip: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skip.update(id(n) for child in node.body for n in ast.walk(child))
    names = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("capacity"):
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names if a.name.startswith("capacity"))
    known = {_module_name(p) for p in MODULES}
    return {n for n in names if n in known}


def _cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_is_named_with_a_concept_prefix():
    flat = [p.name for p in PACKAGE.glob("*.py")]
    prefixed = [n for n in flat if n.startswith(("growth_", "messaging_", "plan_", "batch_"))]
    assert prefixed == []
    for concept in ("growth", "load", "planning", "report", "batch"):
        assert (PACKAGE / concept / "__init__.py").is_file()


def test_no_module_swaps_its_class():
    offenders = [p.name for p in MODULES if "__class__ =" in p.read_text()]
    assert offenders == []


def test_no_import_cycles_between_modules():
    graph = {}
    for path in MODULES:
        name = _module_name(path)
        # a package's __init__ re-exports its own modules; it is not a dependency of them
        graph[name] = {m for m in _runtime_imports(path) if not (name.startswith(m + ".") or m == name)}
    assert _cycles(graph) == []


def test_no_function_body_longer_than_the_house_limit():
    long = []
    for path in MODULES:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                body = node.body
                docstring = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                if docstring and len(body) > 1:
                    body = body[1:]  # the docstring does not count
                lines = node.end_lineno - body[0].lineno + 1
                if lines > MAX_BODY_LINES:
                    long.append(f"{_module_name(path)}.{node.name}: {lines} lines")
    assert long == []


@pytest.mark.slow
def test_every_module_imports_under_python_OO():
    names = [_module_name(p) for p in MODULES]
    code = f"import importlib\nfor n in {names!r}:\n    importlib.import_module(n)\n"
    result = subprocess.run([sys.executable, "-OO", "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-2000:]


@pytest.mark.slow
def test_a_wheel_runs_the_default_forecast_from_another_directory(tmp_path):
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(wheels), str(ROOT)], capture_output=True, text=True)
    if build.returncode != 0 and "hatchling" in build.stderr:
        build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels),
                                str(ROOT)], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr[-2000:]
    (wheel,) = wheels.glob("capacity-*.whl")
    assert "capacity/sample/plan.toml" in zipfile.ZipFile(wheel).namelist()
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target",
                              str(site), str(wheel)], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr[-2000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # the installed copy comes first on the path, ahead of the editable checkout the test runs from
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = subprocess.run([sys.executable, "-c", "import capacity; print(capacity.__file__)"],
                           cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(site)), where.stdout + where.stderr
    out = tmp_path / "out"
    run = subprocess.run([sys.executable, "-m", "capacity.cli", "forecast", "--out", str(out), "--quiet"],
                         cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-2000:]
    report = out / "latest"  # a link to the newest report folder
    assert (report / "index.html").is_file() and (report / "summary.json").is_file(), sorted(out.iterdir())
