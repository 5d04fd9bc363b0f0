"""`capacity forecast-many` checks its options and its output before any work (issue 13)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pytest

import capacity.batch.fitting as fitting
from capacity.cli import main


@pytest.fixture
def table(tmp_path):
    """One short linear series in a long CSV table."""
    dates = pd.date_range("2024-01-01", periods=60, freq="D")
    path = tmp_path / "many.csv"
    pd.DataFrame({"id": "a", "date": dates.strftime("%Y-%m-%d"), "value": 1000 + 20 * np.arange(60)}).to_csv(
        path, index=False)
    return path


@pytest.fixture
def no_work(monkeypatch):
    """Fitting anything fails the test: the command must refuse before it starts."""
    def refuse(*args, **kwargs):
        raise AssertionError("the series were fitted before the options were checked")

    monkeypatch.setattr(fitting, "plan_many", refuse)
    monkeypatch.setattr(fitting, "fit_growth_many", refuse)


def _refused(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert captured.out == "" and "\n" not in err and "Traceback" not in err
    return err


def test_an_existing_file_as_out_is_refused_before_computing(table, tmp_path, capsys, no_work):
    existing = tmp_path / "existing"
    existing.write_text("keep me")
    err = _refused(capsys, ["forecast-many", "--input", str(table), "--out", str(existing),
                            "--threshold", "5"])
    assert err == f"capacity: error: {existing}: --out must be a folder, and this is a file"
    assert existing.read_text() == "keep me"


def test_out_under_a_file_or_onto_a_folder_is_refused(table, tmp_path, capsys, no_work):
    (tmp_path / "file").write_text("")
    err = _refused(capsys, ["forecast-many", "--input", str(table), "--out", str(tmp_path / "file" / "sub")])
    assert "is a file, not a folder" in err and not (tmp_path / "file" / "sub").exists()
    (tmp_path / "o" / "forecast_many.csv").mkdir(parents=True)
    err = _refused(capsys, ["forecast-many", "--input", str(table), "--out", str(tmp_path / "o")])
    assert "forecast_many.csv: is a folder" in err


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--horizon-days", "1000000000"],
         "--horizon-days must be a whole number in 1..3,650, not 1000000000"),
        (["--horizon-days", "0"], "--horizon-days must be a whole number in 1..3,650, not 0"),
        (["--paths", "99999999999999999999"],
         "--paths must be a whole number in 1..100,000, not 99999999999999999999"),
        (["--n-origins", "1000"], "--n-origins must be a whole number in 0..100, not 1000"),
        (["--workers", "100000"], "--workers must be a whole number in 1..256, not 100000"),
        (["--paths", "100000", "--horizon-days", "3650"],
         "forecast-many: '--paths' = 100,000 x '--horizon-days' = 3,650 would need about 16.3 GiB (48 bytes "
         "per path and day), more than the 4 GiB budget; at this horizon use at most 24,514 paths"),
        (["--paths", "10000", "--horizon-days", "3650", "--workers", "8"],
         "x --workers = 8 would need about 13.1 GiB"),
    ],
    ids=["horizon", "horizon-zero", "paths", "origins", "workers", "memory", "memory-workers"],
)
def test_sizes_are_bounded_up_front(table, tmp_path, capsys, no_work, options, message):
    err = _refused(capsys, ["forecast-many", "--input", str(table), "--out", str(tmp_path / "o"),
                            "--threshold", "5000", *options])
    assert message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_the_table_gets_the_permissions_the_umask_allows(table, tmp_path, capsys, umask):
    old = os.umask(umask)
    try:
        assert main(["forecast-many", "--input", str(table), "--out", str(tmp_path / "o"), "--quiet",
                     "--n-origins", "0"]) == 0
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "o" / "forecast_many.csv").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["forecast_many.csv"]


def test_a_missing_column_names_the_option_that_renames_it_once(tmp_path, capsys):
    source = tmp_path / "series.csv"
    source.write_text("id,datum,value\na,2020-01-01,1\n")
    assert main(["forecast-many", "--input", str(source), "--out", str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count(str(source)) == 1 and "\n" not in err
    assert err.endswith("name the right column with --date-col (command line) or date_col=... (Python)")
