"""Batch fitting and planning of many series (capacity.batch)."""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capacity.batch.cli import add_forecast_many_parser, forecast_many
from capacity.batch.fitting import (
    BATCH_FIT_OPTIONS,
    fit_growth_many,
    plan_many,
    read_series_groups,
    series_seeds,
)
from capacity.errors import ArgumentError, ConfigError, InputDataError
from capacity.growth.fit import fit_growth
from capacity.planning.montecarlo import threshold_crossing

DAYS = 126  # 18 weeks: long enough for a backtest, short enough to keep the fits fast
HORIZON, N_PATHS = 120, 200


def _series(kind: str, rng: np.random.Generator) -> np.ndarray:
    t = np.arange(DAYS, dtype=float)
    rate = {"linear": np.full(DAYS, 20.0),
            "accelerating": 10.0 * np.exp(t / 90.0),
            "jump": np.where(t < 80, 10.0, 30.0)}[kind]
    return 1000.0 + np.cumsum(rng.poisson(rate))


@pytest.fixture(scope="module")
def panel() -> pd.DataFrame:
    """Six good series and four broken ones (too short, negative, NaN, repeated date)."""
    rng = np.random.default_rng(7)
    dates = pd.date_range("2024-01-01", periods=DAYS, freq="D")
    parts = []
    for i, kind in enumerate(["linear", "accelerating", "jump"] * 2):
        parts.append(pd.DataFrame({"id": f"ok-{i}", "date": dates, "value": _series(kind, rng)}))
    parts.append(pd.DataFrame({"id": "short", "date": dates[:20], "value": np.arange(20.0) + 5}))
    neg = _series("linear", rng)
    neg[50] = -3.0
    parts.append(pd.DataFrame({"id": "negative", "date": dates, "value": neg}))
    nan = _series("linear", rng)
    nan[60] = np.nan
    parts.append(pd.DataFrame({"id": "has-nan", "date": dates, "value": nan}))
    dup = pd.DataFrame({"id": "dup-date", "date": dates, "value": _series("linear", rng)})
    parts.append(pd.concat([dup, dup.iloc[[30]]]))
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def thresholds(panel: pd.DataFrame) -> pd.Series:
    return panel.groupby("id")["value"].max() * 1.5


@pytest.fixture(scope="module")
def planned(panel: pd.DataFrame, thresholds: pd.Series) -> pd.DataFrame:
    return plan_many(panel, threshold=thresholds, horizon_days=HORIZON, n_paths=N_PATHS, seed=11)


def _one(panel: pd.DataFrame, sid: str) -> pd.Series:
    g = panel[panel["id"] == sid]
    return pd.Series(g["value"].to_numpy(), index=pd.DatetimeIndex(g["date"]), name="value")


# ------------------------------------------------------------------------------------- results


def test_rows_reproduce_single_series_fits(panel, thresholds, planned):
    assert list(planned.index) == list(pd.unique(panel["id"]))
    for sid in ("ok-0", "ok-2", "ok-4"):
        row = planned.loc[sid]
        assert (row["seed"], row["path_seed"]) == series_seeds(11, sid)
        fit = fit_growth(_one(panel, sid), seed=int(row["seed"]), **BATCH_FIT_OPTIONS)
        c = threshold_crossing(fit, thresholds[sid], horizon_days=HORIZON, n_paths=N_PATHS,
                               seed=int(row["path_seed"]))
        assert row["model"] == fit.weights.idxmax()
        assert row["rate"] == fit.rate
        assert row["last_value"] == fit.last_value
        assert row["n_regimes"] == len(fit.regimes)
        for m, w in fit.weights.items():
            assert row[f"weight_{m}"] == w
        assert row["crossing_p50"] == c.p50
        assert row["crossing_p10"] == c.p10
        assert row["p_none"] == c.p_none
        assert row["horizon_end"] == c.horizon_end == row["last_date"] + pd.Timedelta(days=HORIZON)
        assert row["error"] is None


def test_crossings_are_ordered_and_plausible(planned, thresholds):
    ok = planned[planned["error"].isna()]
    assert len(ok) == 6
    assert (ok["crossing_p10"] <= ok["crossing_p50"]).all()
    # a linear series of 20 apps/day needs ~ (1.5 * last - last) / 20 days to cross
    row = ok.loc["ok-0"]
    expected = row["last_date"] + pd.Timedelta(days=(thresholds["ok-0"] - row["last_value"]) / 20.0)
    assert abs((row["crossing_p50"] - expected).days) < 20
    # the jump series (rate 10 -> 30 on day 80) reports that change
    jump = ok.loc["ok-2"]
    assert jump["n_regimes"] >= 1
    assert abs((jump["last_change"] - pd.Timestamp("2024-03-21")).days) < 21
    assert 2.0 < jump["last_change_ratio"] < 4.5
    assert ok[[c for c in ok if c.startswith("weight_")]].sum(axis=1).round(9).eq(1.0).all()


def test_broken_series_give_error_rows_and_the_rest_succeed(planned):
    errors = planned["error"].dropna()
    assert sorted(errors.index) == ["dup-date", "has-nan", "negative", "short"]
    assert re.match(r"series 'short': fit_growth needs at least 57 daily points", errors["short"])
    assert re.match(r"series 'negative': column 'value': negative app count -3 on 2024-02-20",
                    errors["negative"])
    assert re.match(r"series 'has-nan': column 'value': missing value \(NaN\) on 2024-03-01",
                    errors["has-nan"])
    assert re.match(r"series 'dup-date': column 'value': date 2024-01-31 appears more than once",
                    errors["dup-date"])
    bad = planned.loc[errors.index]
    assert bad["crossing_p50"].isna().all() and bad["model"].isna().all() and bad["rate"].isna().all()
    assert bad["n_obs"].tolist() == [20, DAYS, DAYS, DAYS + 1]


def test_fit_growth_many_has_the_fit_columns_only(panel, planned):
    fits = fit_growth_many(panel[panel["id"].isin(["ok-1", "short"])], seed=11)
    assert "crossing_p50" not in fits and "path_seed" not in fits
    pd.testing.assert_frame_equal(fits, planned.loc[["ok-1", "short"], fits.columns])


# -------------------------------------------------------------------------- executors, chunking


def test_same_results_on_a_process_pool(panel, thresholds, planned):
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        out = plan_many(panel, threshold=thresholds, horizon_days=HORIZON, n_paths=N_PATHS, seed=11,
                        executor=pool, chunk_size=2)
    pd.testing.assert_frame_equal(out, planned)


def test_same_results_on_a_dask_local_cluster(panel, thresholds, planned):
    distributed = pytest.importorskip("distributed")
    with (distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                   dashboard_address=None) as cluster,
          distributed.Client(cluster) as client):
        out = plan_many(panel, threshold=thresholds, horizon_days=HORIZON, n_paths=N_PATHS, seed=11,
                        executor=client)
    pd.testing.assert_frame_equal(out, planned)


def test_order_and_chunking_do_not_change_any_row(panel, thresholds, planned):
    order = ["dup-date", "ok-5", "short", "ok-0", "ok-3", "negative", "ok-1", "has-nan", "ok-4", "ok-2"]
    shuffled = pd.concat([panel[panel["id"] == i] for i in order])
    seen = []
    with ThreadPoolExecutor(2) as pool:
        out = plan_many(shuffled, threshold=thresholds.to_dict(), horizon_days=HORIZON, n_paths=N_PATHS,
                        seed=11, executor=pool, chunk_size=3, max_in_flight=1,
                        progress=lambda done, total: seen.append((done, total)))
    assert list(out.index) == order
    pd.testing.assert_frame_equal(out, planned.loc[order])
    assert seen == [(3, 10), (6, 10), (9, 10), (10, 10)]
    assert out.attrs == {"seed": 11, "chunk_size": 3, "workers": 2}
    assert planned.attrs == {"seed": 11, "chunk_size": 2, "workers": 1}  # 10 series: ~8 tasks per worker


def test_another_seed_changes_the_paths_not_the_fit_structure(panel, thresholds, planned):
    other = plan_many(panel[panel["id"] == "ok-1"], threshold=thresholds, horizon_days=HORIZON,
                      n_paths=N_PATHS, seed=12)
    assert other.loc["ok-1", "path_seed"] != planned.loc["ok-1", "path_seed"]
    assert other.loc["ok-1", "n_regimes"] == planned.loc["ok-1", "n_regimes"]


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), sid=st.one_of(st.integers(-(10**12), 10**12), st.text(max_size=12)))
def test_series_seeds_depend_only_on_seed_and_id_text(seed, sid):
    a = series_seeds(seed, sid)
    assert a == series_seeds(seed, sid)
    assert all(0 <= s < 2**32 for s in a)
    if isinstance(sid, int):
        assert series_seeds(seed, np.int64(sid)) == a == series_seeds(seed, str(sid))
    assert series_seeds(seed, f"{sid}x") != a


# ----------------------------------------------------------------------------------- thresholds


def test_threshold_from_a_column_and_missing_thresholds(panel, planned):
    two = panel[panel["id"].isin(["ok-0", "ok-1", "ok-3"])].copy()
    two["cap"] = two["id"].map({"ok-0": 4500.0, "ok-1": 4500.0, "ok-3": 5000.0})
    two.loc[two.index[-1], "cap"] = 5001.0  # ok-3's capacity is not constant
    out = plan_many(two, threshold="cap", horizon_days=HORIZON, n_paths=N_PATHS, seed=11)
    assert out.loc["ok-0", "threshold"] == 4500.0 and out.loc["ok-0", "error"] is None
    assert out.loc["ok-0", "last_date"] < out.loc["ok-0", "crossing_p50"] < out.loc["ok-0", "horizon_end"]
    assert out.loc["ok-3", "error"] == ("series 'ok-3': threshold column 'cap' is not constant within "
                                        "the series (2 values)")
    scalar = plan_many(two, threshold=4500, horizon_days=HORIZON, n_paths=N_PATHS, seed=11)
    pd.testing.assert_frame_equal(scalar.loc[["ok-0", "ok-1"]], out.loc[["ok-0", "ok-1"]])
    partial = plan_many(two, threshold={"ok-0": 4500.0}, horizon_days=HORIZON, n_paths=N_PATHS, seed=11)
    assert partial.loc["ok-1", "error"] == "series 'ok-1': no threshold given for this series"
    assert partial.loc["ok-1", "model"] == out.loc["ok-1", "model"]  # the fit is still reported
    assert partial.loc["ok-0", "crossing_p50"] == out.loc["ok-0", "crossing_p50"]


def test_threshold_already_reached_crosses_on_the_last_data_day(panel):
    one = panel[panel["id"] == "ok-0"]
    out = plan_many(one, threshold=float(one["value"].iloc[-1]), horizon_days=30, n_paths=50)
    today = out.loc["ok-0", "last_date"]  # already at the threshold: day 0, not tomorrow
    assert out.loc["ok-0", ["crossing_p10", "crossing_p50", "crossing_p90"]].tolist() == [today] * 3
    assert out.loc["ok-0", "p_none"] == 0.0


# --------------------------------------------------------------------------------------- inputs


def test_parquet_input_is_read_by_groups_and_matches_the_frame(panel, thresholds, planned, tmp_path):
    path = tmp_path / "panel.parquet"
    panel.to_parquet(path, row_group_size=200)
    n, groups = read_series_groups(path, id_col="id", columns=["date", "value"], rows_per_read=300)
    frames = list(groups)
    assert n == 10
    assert [sorted(pd.unique(f["id"])) for f in frames][:2] == [["ok-0", "ok-1"], ["ok-2", "ok-3"]]
    assert sum(len(f) for f in frames) == len(panel)
    assert all(len(f) <= 300 for f in frames)
    assert len({i for f in frames for i in pd.unique(f["id"])}) == 10  # every series in one group
    out = plan_many(path, threshold=thresholds, horizon_days=HORIZON, n_paths=N_PATHS, seed=11,
                    rows_per_read=300)
    pd.testing.assert_frame_equal(out, planned)


def test_text_dates_are_parsed_per_series(panel, planned):
    two = panel[panel["id"].isin(["ok-0", "ok-1"])].copy()
    two["date"] = two["date"].dt.strftime("%Y-%m-%d").astype(object)
    two.loc[two.index[-3], "date"] = "2024-13-01"
    out = fit_growth_many(two, seed=11)
    pd.testing.assert_frame_equal(out.loc[["ok-0"]], planned.loc[["ok-0"], out.columns])
    assert out.loc["ok-1", "error"] == ("series 'ok-1': column 'date', row 124: cannot parse "
                                        "'2024-13-01' as a date/time (use ISO 8601)")
    # the data layer's time rule holds in a batch too: zones may not be mixed within a series
    mixed = panel[panel["id"] == "ok-0"].copy()
    mixed["date"] = mixed["date"].dt.strftime("%Y-%m-%d").astype(object)
    mixed.loc[mixed.index[5], "date"] = "2024-01-06T00:00:00Z"
    error = fit_growth_many(mixed, seed=11).loc["ok-0", "error"]
    assert error.startswith("series 'ok-0': column 'date', row 6: mixed timezones")


def test_bad_inputs_and_options_raise(panel, tmp_path):
    with pytest.raises(InputDataError, match="column 'apps' is missing from the frame"):
        fit_growth_many(panel, value_col="apps")
    no_id = panel.copy()
    no_id.loc[5, "id"] = None
    with pytest.raises(InputDataError, match="column 'id', row 6: missing series id"):
        fit_growth_many(no_id)
    with pytest.raises(InputDataError, match="panel.parquet: file not found"):
        fit_growth_many(tmp_path / "panel.parquet")
    path = tmp_path / "p.parquet"
    panel.to_parquet(path)
    with pytest.raises(InputDataError, match=r"p.parquet: column 'apps' is missing \(columns found"):
        fit_growth_many(path, value_col="apps")
    with pytest.raises(InputDataError, match="column 'capacity' is missing from the frame"):
        plan_many(panel, threshold="capacity")


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda p: fit_growth_many([1, 2, 3]),
         r"^fit_growth_many: frame must be a DataFrame, a non-empty string without control characters or a "
         r"PathLike, not \[1, 2, 3\] \(list\)$"),
        (lambda p: fit_growth_many(p, fit_options={"origins": 3}),
         r"^fit_growth_many: fit_options has unknown key 'origins' \(known: cap, horizon_days, level, "
         r"models, n_origins, penalty\)$"),
        (lambda p: fit_growth_many(p, fit_options={"seed": 3}),
         r"^fit_growth_many: fit_options cannot set 'seed'"),
        (lambda p: fit_growth_many(p, fit_options=[("models", "linear")]),
         r"^fit_growth_many: fit_options must be a mapping"),
        # a bad fit option value is refused by the first series' fit, and stops the batch
        (lambda p: fit_growth_many(p, fit_options={"models": ["prophet"]}), r"models must be .*'prophet'"),
        (lambda p: fit_growth_many(p, executor=object()),
         r"^fit_growth_many: executor must be a Executor( or Client)? or None, not <object object"),
        (lambda p: fit_growth_many(p, chunk_size=0),
         r"^fit_growth_many: chunk_size must be an integer >= 1 or None, not 0$"),
        (lambda p: fit_growth_many(p, max_in_flight=2.0),
         r"^fit_growth_many: max_in_flight must be an integer >= 1 or None, not 2\.0$"),
        (lambda p: fit_growth_many(p, seed=-1), r"^fit_growth_many: seed must be an integer >= 0, not -1$"),
        (lambda p: fit_growth_many(p, id_col=""), r"^fit_growth_many: id_col must be a non-empty string"),
        (lambda p: fit_growth_many(p, progress="loud"),
         r"^fit_growth_many: progress must be a callable or None, not 'loud'$"),
        (lambda p: plan_many(p, threshold=float("nan")),
         r"^plan_many: threshold must be a finite number, a Mapping or Series or a non-empty string without "
         r"control characters, not nan$"),
        (lambda p: plan_many(p, threshold=[1.0]),
         r"^plan_many: threshold must be a finite number, .*, not \[1\.0\] \(list\)$"),
        (lambda p: plan_many(p, threshold=1.0, n_paths=0),
         r"^plan_many: n_paths must be an integer in \[1, 1000000\], not 0$"),
        (lambda p: plan_many(p, threshold=1.0, horizon_days=10**6),
         r"^plan_many: horizon_days must be an integer in \[1, 36500\], not 1000000$"),
        (lambda p: read_series_groups(p, id_col="id", columns=["date"]),
         r"^read_series_groups: path must be a non-empty string without control characters or a PathLike"),
        (lambda p: read_series_groups("x.parquet", id_col="id", columns="date"),
         r"^read_series_groups: columns must be a list or tuple, not 'date'$"),
        (lambda p: read_series_groups("x.parquet", id_col="id", columns=["date", 3]),
         r"^read_series_groups: columns\[1\] must be a non-empty string"),
        (lambda p: series_seeds(-1, "a"), r"^series_seeds: seed must be an integer >= 0, not -1$"),
    ],
)
def test_bad_arguments_raise_argument_errors(panel, call, match):
    with pytest.raises(ArgumentError, match=match):
        call(panel.head(200))


def test_bad_thresholds_of_one_series_go_to_its_row(panel):
    two = panel[panel["id"].isin(["ok-0", "ok-1"])]
    out = plan_many(two, threshold={"ok-0": float("nan"), "ok-1": "4500"}, horizon_days=HORIZON,
                    n_paths=N_PATHS, seed=11)
    assert out.loc["ok-0", "error"] == "series 'ok-0': threshold must be a finite number, not nan"
    assert out.loc["ok-1", "error"] == "series 'ok-1': threshold must be a finite number, not '4500'"
    assert out["model"].notna().all()  # the fits are still reported


# ------------------------------------------------------------------------------------------ CLI


def _cli(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="capacity")
    add_forecast_many_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_cli_writes_the_table_atomically(panel, thresholds, planned, tmp_path, capsys):
    src = tmp_path / "many.csv"
    panel.assign(date=panel["date"].dt.strftime("%Y-%m-%d")).to_csv(src, index=False)
    out_dir = tmp_path / "out"
    args = _cli(["forecast-many", "--input", str(src), "--out", str(out_dir), "--threshold", "4500",
                 "--horizon-days", str(HORIZON), "--paths", str(N_PATHS), "--seed", "11", "--workers", "2",
                 "--format", "parquet"])
    assert forecast_many(args) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["forecast_many.parquet"]  # no temp file left
    got = pd.read_parquet(out_dir / "forecast_many.parquet")
    expected = plan_many(panel, threshold=4500.0, horizon_days=HORIZON, n_paths=N_PATHS, seed=11)
    text_cols = {"model": "str", "notes": "str", "error": "str"}  # Parquet reads text back as str
    pd.testing.assert_frame_equal(got, expected.astype(text_cols))
    text = capsys.readouterr()
    assert "10 series, 4 failed; wrote" in text.out
    assert "series 'short': fit_growth needs" in text.out
    assert "series 'has-nan': column 'value': missing value (NaN) on 2024-03-01" in text.out
    assert "capacity: 10/10 series" in text.err


def test_cli_fits_only_without_a_threshold(panel, planned, tmp_path, capsys):
    src = tmp_path / "two.parquet"
    panel[panel["id"].isin(["ok-0", "short"])].to_parquet(src)
    args = _cli(["forecast-many", "--input", str(src), "--out", str(tmp_path), "--seed", "11", "--quiet"])
    assert forecast_many(args) == 0
    got = pd.read_csv(tmp_path / "forecast_many.csv", index_col="id")
    assert list(got.index) == ["ok-0", "short"]
    assert got.loc["ok-0", "rate"] == pytest.approx(planned.loc["ok-0", "rate"], rel=1e-12)
    assert got.loc["ok-0", "last_date"] == planned.loc["ok-0", "last_date"].strftime("%Y-%m-%d")
    assert got.loc["short", "error"].startswith("series 'short': fit_growth needs")
    assert "crossing_p50" not in got
    assert capsys.readouterr().out == ""
    with pytest.raises(ConfigError, match="--workers must be at least 1, got 0"):
        forecast_many(_cli(["forecast-many", "--input", str(src), "--out", str(tmp_path), "--workers", "0"]))


def test_forecast_many_through_the_command_line_exit_codes(panel, tmp_path, capsys):
    from capacity.cli import main

    src = tmp_path / "two.csv"
    panel[panel["id"].isin(["ok-0"])].to_csv(src, index=False)
    assert main(["forecast-many", "--input", str(src), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    assert (tmp_path / "o" / "forecast_many.csv").is_file()
    # a missing column is bad input: exit 2, one line, nothing written
    assert main(["forecast-many", "--input", str(src), "--id-col", "series", "--out", str(tmp_path / "x"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "column 'series'" in err
    assert not (tmp_path / "x").exists()
    assert main(["forecast-many", "--input", str(tmp_path / "none.csv"), "--out", str(tmp_path / "x")]) == 2
    assert "none.csv" in capsys.readouterr().err
