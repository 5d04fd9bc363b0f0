"""Many series at once: growth fits and threshold crossings for thousands of series.

A planner at a large platform forecasts apps per region, per stack, per tenant: not one series but
thousands. :func:`fit_growth_many` fits :func:`capacity.growth.fit_growth` to every series of a
tidy long frame (or a Parquet/CSV file) and :func:`plan_many` adds, per series, when the forecast
crosses a capacity threshold (:func:`capacity.planning.threshold_crossing`). Both return one row per
series; a series that cannot be fitted gets an ``error`` message instead of aborting the batch.

Where the work runs
-------------------
``executor=None`` fits in this process. Any :class:`concurrent.futures.Executor` works (a
``ProcessPoolExecutor`` uses every core of one machine), and a ``dask.distributed.Client`` runs the
batch on a Dask cluster (Dask is the optional extra ``capacity[dask]``; it is imported only when a
Client is passed). Series travel in chunks of ``chunk_size`` so scheduling overhead stays small.

Reproducibility
---------------
Each series gets its own seeds, derived from ``seed`` and a stable digest (BLAKE2b) of ``str(id)``
through :class:`numpy.random.SeedSequence`, so the results do not depend on the executor, the
chunking, the order of the series or which other series are in the batch. The seeds are reported
(columns ``seed`` and ``path_seed``): ``fit_growth(series, seed=row.seed, **options)`` reproduces
one row on its own.

Memory
------
A frame is split into per-series arrays lazily, chunk by chunk; at most ``max_in_flight`` chunks
are waiting on workers at a time. A Parquet file or dataset directory is read in two passes: the
id column alone (batch by batch, to list the series and their row counts), then groups of
consecutive series of at most ``rows_per_read`` rows, each read with a filter on the id column so
only the needed columns and series are loaded. Peak memory is therefore about one read group plus
the chunks in flight, not the whole file. A file sorted by id (or partitioned by it) is read about
once in total; an unsorted file is scanned once per read group.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import math
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from capacity.errors import ArgumentError, CapacityError, ConfigError, InputDataError
from capacity.growth.models import MODELS
from capacity.planning.montecarlo import MAX_HORIZON_DAYS, MAX_PATHS
from capacity.validation import (
    HasMethods,
    InstanceOf,
    Interval,
    Text,
    check_args,
    check_mapping,
    describe,
)

__all__ = ["fit_growth_many", "plan_many", "series_seeds", "read_series_groups", "BATCH_FIT_OPTIONS"]

#: fit_growth options the batch functions use unless ``fit_options`` says otherwise: half the
#: backtest origins of a single fit (see bench/batch.py for what this costs in accuracy)
BATCH_FIT_OPTIONS: Mapping[str, Any] = {"n_origins": 4}

#: fit_growth options a batch may set (the seed is derived per series)
_FIT_KEYS = ("models", "horizon_days", "level", "cap", "penalty", "n_origins")

#: most series per task by default (a 2-year daily series takes ~0.1 s)
_MAX_CHUNK = 20

_MODELS = MODELS

_COUNT = Interval(int, 1, None)
_SEED = Interval(int, 0, None)  # a SeedSequence's entropy
_FINITE = Interval(float, None, None)
_PATH = [Text(), InstanceOf(os.PathLike)]


# ------------------------------------------------------------------------------------------ seeds


def _id_text(series_id: Any) -> str:
    # 3 and np.int64(3) must give the same seed: normalise integers before taking str()
    if isinstance(series_id, (bool, np.bool_)):
        return str(bool(series_id))
    if isinstance(series_id, (int, np.integer)):
        return str(int(series_id))
    return str(series_id)


def series_seeds(seed: int, series_id: Any) -> tuple[int, int]:
    """The seeds a batch uses for one series: for its fit and for its simulated paths.

    Parameters
    ----------
    seed : int
        The batch seed (``>= 0``).
    series_id : hashable
        The series id; only ``str(series_id)`` matters (integers of any type give the same seeds).

    Returns
    -------
    (int, int)
        ``(fit_seed, path_seed)``, each in ``[0, 2**32)``: independent of the process, the order and
        the chunking of the batch (Python's salted ``hash()`` is not used).
    """
    check_args("series_seeds", seed=(seed, [_SEED]))
    digest = hashlib.blake2b(_id_text(series_id).encode("utf-8"), digest_size=16).digest()
    words = [int.from_bytes(digest[i:i + 4], "little") for i in range(0, 16, 4)]
    fit_seed, path_seed = np.random.SeedSequence([int(seed), *words]).generate_state(2, dtype=np.uint32)
    return int(fit_seed), int(path_seed)


# ------------------------------------------------------------------------------------- the worker


@dataclass(frozen=True)
class _Job:
    """What a worker needs to process one chunk (picklable: plain values and numpy arrays)."""

    series: tuple[tuple[Any, np.ndarray, np.ndarray, Any], ...]  # (id, dates, values, threshold)
    fit_options: dict[str, Any]
    seed: int
    value_col: str
    date_col: str
    crossing: tuple[int, int] | None  # (horizon_days, n_paths) for plan_many, None for fits only


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    if isinstance(exc, CapacityError):
        return first or type(exc).__name__
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _dates(raw: np.ndarray, date_col: str) -> pd.DatetimeIndex:
    """Dates of one series, by the data layer's rule (ISO 8601; UTC; no mixing of zones)."""
    from capacity.data import parse_times

    if np.issubdtype(raw.dtype, np.datetime64):
        out = pd.DatetimeIndex(raw)
        if out.hasnans:
            raise InputDataError(f"column {date_col!r}, row {int(np.argmax(out.isna())) + 1}: missing value")
        return out
    return pd.DatetimeIndex(parse_times(pd.Series(raw, dtype=object), None, date_col))


def _fit_columns(fit: Any) -> dict[str, Any]:
    weights = fit.weights
    reg = fit.regimes
    row: dict[str, Any] = {
        "model": str(weights.idxmax()),
        **{f"weight_{m}": float(weights[m]) if m in weights.index else 0.0 for m in _MODELS},
        "rate": fit.rate,
        "cap": fit.cap,
        "coverage": float(fit.coverage),
        "n_regimes": len(reg),
        "last_change": reg["date"].iloc[-1] if len(reg) else None,
        "last_change_ratio": float(reg["ratio"].iloc[-1]) if len(reg) else np.nan,
        "last_change_prob": float(reg["prob"].iloc[-1]) if len(reg) else np.nan,
        "notes": "; ".join(fit.notes) if fit.notes else None,
    }
    return row


def _process(job: _Job) -> list[dict[str, Any]]:
    """Fit (and cross) every series of a chunk; one row each, errors in the ``error`` field."""
    from capacity.growth.fit import fit_growth
    from capacity.planning.montecarlo import threshold_crossing

    rows = []
    for sid, raw_dates, raw_values, threshold in job.series:
        fit_seed, path_seed = series_seeds(job.seed, sid)
        row: dict[str, Any] = {"id": sid, "n_obs": len(raw_values), "seed": fit_seed, "path_seed": path_seed}
        try:
            dates = _dates(raw_dates, job.date_col)
            # calendar days, as fit_growth counts them
            row["first_date"], row["last_date"] = dates.min().normalize(), dates.max().normalize()
            series = pd.Series(raw_values, index=dates, name=job.value_col)
            fit = fit_growth(series, seed=fit_seed, **job.fit_options)
            row["last_value"] = fit.last_value
            row.update(_fit_columns(fit))
            if job.crossing is not None:
                horizon, n_paths = job.crossing
                if threshold is None:
                    raise InputDataError("no threshold given for this series")
                if isinstance(threshold, _Problem):  # a problem found by the driver, reported here
                    raise InputDataError(threshold)
                if not _FINITE.holds(threshold):  # e.g. a NaN in a mapping of thresholds
                    raise InputDataError(f"threshold must be a finite number, not {describe(threshold)}")
                row["threshold"] = float(threshold)
                c = threshold_crossing(fit, float(threshold), horizon_days=horizon, n_paths=n_paths,
                                       seed=path_seed)
                row.update(crossing_p10=c.p10, crossing_p50=c.p50, crossing_p90=c.p90, p_none=c.p_none,
                           horizon_end=c.horizon_end)
            row["error"] = None
        except (ConfigError, ArgumentError):
            raise  # a batch-wide option (e.g. in fit_options) is wrong: every series would fail the same way
        except Exception as exc:  # one broken series must not abort the batch
            row["error"] = f"series {_id_text(sid)!r}: {_one_line(exc)}"
        rows.append(row)
    return rows


# ---------------------------------------------------------------------------------------- inputs


def _split(frame: pd.DataFrame, id_col: str, date_col: str, value_col: str,
           threshold: Any) -> Iterator[tuple[Any, np.ndarray, np.ndarray, Any]]:
    """Yield (id, dates, values, threshold) per series, in order of first appearance."""
    ids = frame[id_col]
    if ids.isna().any():
        i = int(np.argmax(ids.isna().to_numpy()))
        raise InputDataError(f"column {id_col!r}, row {i + 1}: missing series id")
    codes, uniques = pd.factorize(ids, sort=False)
    order = np.argsort(codes, kind="stable")
    bounds = np.r_[0, np.cumsum(np.bincount(codes, minlength=len(uniques)))]
    dates = frame[date_col].to_numpy()
    values = frame[value_col].to_numpy()
    if values.dtype.kind in "iub":
        values = values.astype(float)
    per_row = frame[threshold].to_numpy() if isinstance(threshold, _Column) else None
    for k, sid in enumerate(uniques):
        rows = order[bounds[k]:bounds[k + 1]]
        sid = sid.item() if isinstance(sid, np.generic) else sid
        if per_row is not None:
            thr = _threshold_from_rows(per_row[rows], threshold)
        elif isinstance(threshold, Mapping):
            thr = threshold.get(sid)
        else:
            thr = threshold
        yield sid, dates[rows], values[rows], thr


class _Column(str):
    """A threshold given as the name of a column of the input."""


class _Problem(str):
    """Why a series has no usable threshold (found by the driver, reported in the series' row)."""


def _threshold_from_rows(values: np.ndarray, column: str) -> float | _Problem:
    known = pd.unique(pd.Series(values).dropna())
    if len(known) == 0:
        return _Problem(f"threshold column {column!r} is empty for this series")
    if len(known) > 1:
        return _Problem(f"threshold column {column!r} is not constant within the series "
                        f"({len(known)} values)")
    value = pd.to_numeric(pd.Series(known), errors="coerce").iloc[0]
    if pd.notna(value):
        return float(value)
    return _Problem(f"threshold column {column!r}: {known[0]!r} is not a number")


def _column_hint(column: str, id_col: str, date_col: str, value_col: str) -> str:
    """Which option renames a missing column, on the command line and in Python."""
    for role, name in (("id", id_col), ("date", date_col), ("value", value_col)):
        if column == name:
            return f"name the right column with --{role}-col (command line) or {role}_col=... (Python)"
    return "name the threshold column with --threshold (command line) or threshold=... (Python)"


def _is_dataset(path: Path) -> bool:
    return path.is_dir() or path.suffix.lower() in (".parquet", ".pq")


def read_series_groups(
    path: str | os.PathLike[str],
    *,
    id_col: str,
    columns: Iterable[str],
    rows_per_read: int = 2_000_000,
) -> tuple[int, Iterator[pd.DataFrame]]:
    """Read a Parquet file or dataset directory in groups of whole series.

    Parameters
    ----------
    path : str or path
        A ``.parquet``/``.pq`` file or a directory readable by :func:`pyarrow.dataset.dataset`
        (e.g. hive-partitioned by the id).
    id_col : str
        Column naming the series.
    columns : iterable of str
        The other columns to read (only these and ``id_col`` are read).
    rows_per_read : int
        Most rows held per group (a single series longer than this is read on its own).

    Returns
    -------
    (int, iterator of DataFrame)
        The number of series, and frames that each hold every row of some consecutive series (in
        order of first appearance in the file). Only the id column is read up front.

    Raises
    ------
    InputDataError
        Missing file or column, or a missing series id.
    """
    check_args("read_series_groups", path=(path, _PATH), id_col=(id_col, [Text()]),
               columns=(columns, [InstanceOf(list, tuple)]), rows_per_read=(rows_per_read, [_COUNT]))
    for i, column in enumerate(columns):
        check_args("read_series_groups", **{f"columns[{i}]": (column, [Text()])})
    import pyarrow.dataset as ds

    path = Path(path)
    if not path.exists():
        raise InputDataError(f"{path}: file not found")
    try:
        dataset = ds.dataset(path, format="parquet", partitioning="hive" if path.is_dir() else None)
    except Exception as exc:  # pyarrow raises several types for an unreadable file
        raise InputDataError(f"{path}: cannot be read as Parquet ({_one_line(exc)})") from None
    wanted = [id_col, *[c for c in dict.fromkeys(columns) if c != id_col]]
    missing = [c for c in wanted if c not in dataset.schema.names]
    if missing:
        raise InputDataError(f"{path}: column {missing[0]!r} is missing "
                             f"(columns found: {', '.join(map(repr, dataset.schema.names))})")
    counts = _series_counts(dataset, id_col, path)
    groups: list[list[Any]] = [[]]
    rows = 0
    for sid, n in counts.items():
        if groups[-1] and rows + n > rows_per_read:
            groups.append([])
            rows = 0
        groups[-1].append(sid)
        rows += n
    return len(counts), _read_groups(dataset, id_col, wanted, [g for g in groups if g])


def _series_counts(dataset: Any, id_col: str, path: Path) -> dict[Any, int]:
    """Rows per series id, in order of first appearance, reading the id column alone batch by batch."""
    import pyarrow.compute as pc

    counts: dict[Any, int] = {}
    for batch in dataset.to_batches(columns=[id_col]):
        col = batch.column(0)
        if col.null_count:
            raise InputDataError(f"{path}: column {id_col!r} has a missing series id")
        vc = pc.value_counts(col)
        for sid, n in zip(vc.field("values").to_pylist(), vc.field("counts").to_pylist(), strict=True):
            counts[sid] = counts.get(sid, 0) + n
    return counts


def _read_groups(dataset: Any, id_col: str, wanted: list[str],
                 groups: list[list[Any]]) -> Iterator[pd.DataFrame]:
    """Each group of series as one frame of the ``wanted`` columns (read when the iterator gets to it)."""
    import pyarrow.compute as pc

    field = pc.field(id_col)
    for group in groups:
        cond = field.isin(group)
        try:  # a range test lets pyarrow skip row groups of a file sorted by id
            cond = (field >= min(group)) & (field <= max(group)) & cond
        except TypeError:
            pass
        table = dataset.to_table(columns=wanted, filter=cond)
        yield table.to_pandas()


def _series_source(
    frame: pd.DataFrame | str | os.PathLike[str],
    id_col: str,
    date_col: str,
    value_col: str,
    threshold: Any,
    rows_per_read: int,
) -> tuple[int, Iterator[tuple[Any, np.ndarray, np.ndarray, Any]]]:
    columns = [date_col, value_col] + ([str(threshold)] if isinstance(threshold, _Column) else [])
    if isinstance(frame, pd.DataFrame):
        missing = [c for c in (id_col, *columns) if c not in frame.columns]
        if missing:
            raise InputDataError(f"column {missing[0]!r} is missing from the frame "
                                 f"(columns found: {', '.join(map(repr, frame.columns))}); "
                                 f"{_column_hint(missing[0], id_col, date_col, value_col)}")
        n = int(frame[id_col].nunique(dropna=True))
        return n, _split(frame, id_col, date_col, value_col, threshold)
    path = Path(frame)  # a str or PathLike, as the public functions checked
    if _is_dataset(path):
        n, groups = read_series_groups(path, id_col=id_col, columns=columns, rows_per_read=rows_per_read)
        return n, (item for g in groups for item in _split(g, id_col, date_col, value_col, threshold))
    try:
        return _series_source(_read_csv(path, id_col), id_col, date_col, value_col, threshold, rows_per_read)
    except InputDataError as exc:
        raise InputDataError(f"{path}: {exc}") from None  # name the file the frame came from


def _read_csv(path: Path, id_col: str) -> pd.DataFrame:
    """Read a whole CSV (text has no random access by series); dates stay text, parsed per series."""
    if not path.is_file():
        raise InputDataError(f"{path}: file not found")
    try:
        return pd.read_csv(path, dtype={id_col: str}, skipinitialspace=True)
    except pd.errors.EmptyDataError:
        raise InputDataError(f"{path}: file is empty (expected a header and at least one row)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise InputDataError(f"{path}: cannot be read as CSV ({_one_line(exc)})") from None


# -------------------------------------------------------------------------------------- executors


def _is_dask_client(executor: Any) -> bool:
    # never import distributed just to find out: a Client can only exist if it is already imported
    if "distributed" not in sys.modules:
        return False
    from distributed import Client

    return isinstance(executor, Client)


def _executor_types() -> tuple[type, ...]:
    """Where a batch may run: a concurrent.futures.Executor, or a Dask Client once distributed is imported."""
    if "distributed" not in sys.modules:
        return (cf.Executor,)
    from distributed import Client

    return (cf.Executor, Client)


def _workers(executor: Any) -> int:
    if executor is None:
        return 1
    if _is_dask_client(executor):
        return max(1, sum(executor.nthreads().values()))
    return max(1, int(getattr(executor, "_max_workers", os.cpu_count() or 1)))


def _run(
    jobs: Iterator[_Job],
    executor: Any,
    max_in_flight: int,
    on_done: Callable[[int], None],
) -> list[list[dict[str, Any]]]:
    """Run every job; results in job order. At most ``max_in_flight`` jobs are submitted at once."""
    if executor is None:
        out = []
        for job in jobs:
            out.append(_process(job))
            on_done(len(out[-1]))
        return out
    if _is_dask_client(executor):
        import distributed

        def submit(job: _Job) -> Any:
            return executor.submit(_process, job, pure=False)

        def wait(fs: set[Any]) -> tuple[set[Any], set[Any]]:
            done, pending = distributed.wait(list(fs), return_when="FIRST_COMPLETED")
            return set(done), set(pending)
    else:  # a concurrent.futures.Executor, as the public functions checked
        def submit(job: _Job) -> Any:
            return executor.submit(_process, job)

        def wait(fs: set[Any]) -> tuple[set[Any], set[Any]]:
            done, pending = cf.wait(fs, return_when=cf.FIRST_COMPLETED)
            return set(done), set(pending)
    results: dict[int, list[dict[str, Any]]] = {}
    pending: dict[Any, int] = {}

    def collect() -> None:
        done, _ = wait(set(pending))
        for f in done:
            k = pending.pop(f)
            results[k] = f.result()
            on_done(len(results[k]))

    try:
        for k, job in enumerate(jobs):
            while len(pending) >= max_in_flight:
                collect()
            pending[submit(job)] = k
        while pending:
            collect()
    finally:
        for f in pending:  # an error aborted the batch: do not leave work queued on the workers
            f.cancel()
    return [results[k] for k in sorted(results)]


# ------------------------------------------------------------------------------------ public API

_DATE_COLUMNS = ("first_date", "last_date", "last_change", "crossing_p10", "crossing_p50", "crossing_p90",
                 "horizon_end")
_TEXT_COLUMNS = ("model", "notes", "error")
_FIT_COLUMNS = ("n_obs", "first_date", "last_date", "last_value", "model",
                *(f"weight_{m}" for m in _MODELS), "rate", "cap", "coverage", "n_regimes", "last_change",
                "last_change_ratio", "last_change_prob")
_CROSSING_COLUMNS = ("threshold", "crossing_p10", "crossing_p50", "crossing_p90", "p_none", "horizon_end")


def _check_batch(owner: str, frame: Any, *, id_col: Any, date_col: Any, value_col: Any, executor: Any,
                 fit_options: Any, seed: Any, chunk_size: Any, max_in_flight: Any, rows_per_read: Any,
                 progress: Any) -> None:
    """Check the arguments :func:`fit_growth_many` and :func:`plan_many` share."""
    check_args(owner, frame=(frame, [InstanceOf(pd.DataFrame), *_PATH]), id_col=(id_col, [Text()]),
               date_col=(date_col, [Text()]), value_col=(value_col, [Text()]),
               executor=(executor, [InstanceOf(*_executor_types()), None]), seed=(seed, [_SEED]),
               chunk_size=(chunk_size, [_COUNT, None]), max_in_flight=(max_in_flight, [_COUNT, None]),
               rows_per_read=(rows_per_read, [_COUNT]),
               progress=(progress, [HasMethods("__call__", what="a callable"), None]))
    if fit_options is not None:
        if isinstance(fit_options, Mapping) and "seed" in fit_options:
            raise ArgumentError(f"{owner}: fit_options cannot set 'seed': each series' seed is derived from "
                                "the batch's seed= and the series id")
        # the values are fit_growth's to check: a bad one stops the batch at its first series
        check_mapping(owner, "fit_options", fit_options, keys=_FIT_KEYS)


def _threshold_source(threshold: float | Mapping[Any, float] | pd.Series | str) -> Any:
    """The checked threshold as the series splitter reads it: a number, a dict by id, or a _Column."""
    if isinstance(threshold, str):
        return _Column(threshold)
    if isinstance(threshold, pd.Series):
        return threshold.to_dict()
    if isinstance(threshold, Mapping):
        return dict(threshold)
    return float(threshold)


def _frame(rows: list[dict[str, Any]], id_col: str, columns: tuple[str, ...], ids: list[Any]) -> pd.DataFrame:
    data: dict[str, Any] = {}
    for c in columns:
        values = [r.get(c) for r in rows]
        if c in _DATE_COLUMNS:
            data[c] = pd.Series(pd.to_datetime(pd.Series(values, dtype=object)), dtype="datetime64[ns]")
        elif c in _TEXT_COLUMNS:
            data[c] = pd.Series(values, dtype=object)
        elif c in ("n_obs", "seed", "path_seed"):
            data[c] = pd.Series(values, dtype="int64")
        elif c == "n_regimes":
            data[c] = pd.Series(values, dtype="Int64")
        else:
            data[c] = pd.Series([np.nan if v is None else v for v in values], dtype=float)
    out = pd.DataFrame(data)
    out.index = pd.Index(ids, name=id_col)
    return out


def _batch(
    frame: Any,
    *,
    id_col: str,
    date_col: str,
    value_col: str,
    executor: Any,
    fit_options: Mapping[str, Any] | None,
    seed: int,
    chunk_size: int | None,
    max_in_flight: int | None,
    rows_per_read: int,
    progress: Callable[[int, int], None] | None,
    threshold: Any = None,
    crossing: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Run a checked batch: split the input into chunks, process them, one row per series."""
    options = {**BATCH_FIT_OPTIONS, **(fit_options or {})}
    seed = int(seed)
    workers = _workers(executor)
    total, items = _series_source(frame, id_col, date_col, value_col, threshold, int(rows_per_read))
    if chunk_size is None:  # enough tasks to balance the workers' load at the end of the batch
        chunk_size = min(_MAX_CHUNK, max(1, math.ceil(total / (8 * workers))))
    chunk_size = int(chunk_size)
    max_in_flight = 2 * workers if max_in_flight is None else int(max_in_flight)

    def jobs() -> Iterator[_Job]:
        chunk: list[tuple[Any, np.ndarray, np.ndarray, Any]] = []
        for item in items:
            chunk.append(item)
            if len(chunk) == chunk_size:
                yield _Job(tuple(chunk), options, seed, value_col, date_col, crossing)
                chunk = []
        if chunk:
            yield _Job(tuple(chunk), options, seed, value_col, date_col, crossing)

    done = 0

    def on_done(n: int) -> None:
        nonlocal done
        done += n
        if progress is not None:
            progress(done, total)

    rows = [row for chunk in _run(jobs(), executor, max_in_flight, on_done) for row in chunk]
    columns = _FIT_COLUMNS + (_CROSSING_COLUMNS if crossing is not None else ())
    columns += ("notes", "seed") + (("path_seed",) if crossing is not None else ()) + ("error",)
    out = _frame(rows, id_col, columns, [r["id"] for r in rows])
    out.attrs.update(seed=seed, chunk_size=chunk_size, workers=workers)
    return out


def fit_growth_many(
    frame: pd.DataFrame | str | os.PathLike[str],
    *,
    id_col: str = "id",
    date_col: str = "date",
    value_col: str = "value",
    executor: Any = None,
    fit_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    max_in_flight: int | None = None,
    rows_per_read: int = 2_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Fit :func:`capacity.growth.fit_growth` to every series of a long frame.

    Parameters
    ----------
    frame : DataFrame, str or path
        A tidy long frame (one row per series and date), or a path: a Parquet file or dataset
        directory (read by groups of series, see the module docstring) or a CSV file (read whole).
    id_col, date_col, value_col : str
        Columns holding the series id, the date (daily, weekly or monthly; datetime or ISO 8601
        text) and the value (the live count, in the series' own units).
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        Where to run: ``None`` in this process, an executor's workers, or a Dask cluster.
    fit_options : mapping, optional
        Options for :func:`capacity.growth.fit_growth` (``models``, ``horizon_days``, ``level``,
        ``cap``, ``penalty``, ``n_origins``), on top of :data:`BATCH_FIT_OPTIONS`.
    seed : int
        Batch seed (>= 0); each series' seeds come from it and the series id (:func:`series_seeds`).
    chunk_size : int, optional
        Series per task (default: about eight tasks per worker, at most 20 series each).
    max_in_flight : int, optional
        Most tasks submitted and not yet collected (default: twice the workers); bounds memory.
    rows_per_read : int
        Most rows read at once from a Parquet input.
    progress : callable, optional
        Called as ``progress(series_done, series_total)`` after each chunk.

    Returns
    -------
    DataFrame
        One row per series, indexed by the id (order of first appearance): ``n_obs``,
        ``first_date``, ``last_date``, ``last_value``; ``model`` (the candidate of highest weight)
        and ``weight_<model>`` for every candidate (0 when not fitted); ``rate`` (units/day on the
        first forecast day), ``cap`` (NaN without a saturating fit), ``coverage`` (backtest
        interval coverage); ``n_regimes`` (changes of the growth rate found), ``last_change`` (date
        the latest one starts), ``last_change_ratio`` (rate after / before) and
        ``last_change_prob``; ``notes``; ``seed`` (the fit's seed); ``error`` (None, or a one-line
        message naming the series when it failed; what it could not compute is then NaN, NaT or
        None). Identical whatever the executor, the chunking or the order of the series. ``attrs``
        holds the batch ``seed``, the ``chunk_size`` used and the number of ``workers`` seen.

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range, including an unknown or invalid fit
        option (the first series' fit refuses it and the batch stops).
    InputDataError
        A missing file, column or series id (problems within one series go to its ``error`` instead).
    """
    common = dict(id_col=id_col, date_col=date_col, value_col=value_col, executor=executor,
                  fit_options=fit_options, seed=seed, chunk_size=chunk_size, max_in_flight=max_in_flight,
                  rows_per_read=rows_per_read, progress=progress)
    _check_batch("fit_growth_many", frame, **common)
    return _batch(frame, **common)


def plan_many(
    frame: pd.DataFrame | str | os.PathLike[str],
    *,
    threshold: float | Mapping[Any, float] | pd.Series | str,
    id_col: str = "id",
    date_col: str = "date",
    value_col: str = "value",
    horizon_days: int = 365,
    n_paths: int = 1000,
    executor: Any = None,
    fit_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    chunk_size: int | None = None,
    max_in_flight: int | None = None,
    rows_per_read: int = 2_000_000,
    progress: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """Fit every series and say when its forecast crosses a capacity threshold.

    Parameters
    ----------
    threshold : float, mapping, Series or str
        The capacity of each series, in the series' units: one finite number for all, a mapping
        (or Series) from series id to number, or the name of a column of the input holding it
        (constant within each series).
    horizon_days : int
        Days simulated after each series' last date (1 to 36,500).
    n_paths : int
        Paths simulated per series (1 to 1,000,000).
    frame : DataFrame, str or path
        A tidy long frame (one row per series and date), or a path: a Parquet file or dataset
        directory (read by groups of series, see the module docstring) or a CSV file (read whole).
    id_col, date_col, value_col : str
        Columns holding the series id, the date (daily, weekly or monthly; datetime or ISO 8601
        text) and the value (the live count, in the series' own units).
    executor : None, concurrent.futures.Executor or dask.distributed.Client
        Where to run: ``None`` in this process, an executor's workers, or a Dask cluster.
    fit_options : mapping, optional
        Options for :func:`capacity.growth.fit_growth` (``models``, ``horizon_days``, ``level``,
        ``cap``, ``penalty``, ``n_origins``), on top of :data:`BATCH_FIT_OPTIONS`.
    seed : int
        Batch seed (>= 0); each series' seeds come from it and the series id (:func:`series_seeds`).
    chunk_size : int, optional
        Series per task (default: about eight tasks per worker, at most 20 series each).
    max_in_flight : int, optional
        Most tasks submitted and not yet collected (default: twice the workers); bounds memory.
    rows_per_read : int
        Most rows read at once from a Parquet input.
    progress : callable, optional
        Called as ``progress(series_done, series_total)`` after each chunk.

    Returns
    -------
    DataFrame
        The columns of :func:`fit_growth_many`, plus ``threshold``; ``crossing_p10``,
        ``crossing_p50``, ``crossing_p90`` (the dates by which 10/50/90 % of the paths reached the
        threshold; NaT when beyond the horizon); ``p_none`` (share of paths that never reach it
        within the horizon); ``horizon_end``; and ``path_seed`` (seed of the paths). A series
        without a usable threshold (missing, not a finite number, not constant in its column)
        gets an ``error`` (its fit columns are still filled).

    Raises
    ------
    ArgumentError
        An argument of the wrong type or out of range, including an unknown or invalid fit
        option (the first series' fit refuses it and the batch stops).
    InputDataError
        A missing file, column or series id (problems within one series go to its ``error`` instead).
    """
    common = dict(id_col=id_col, date_col=date_col, value_col=value_col, executor=executor,
                  fit_options=fit_options, seed=seed, chunk_size=chunk_size, max_in_flight=max_in_flight,
                  rows_per_read=rows_per_read, progress=progress)
    _check_batch("plan_many", frame, **common)
    check_args("plan_many", threshold=(threshold, [_FINITE, InstanceOf(Mapping, pd.Series), Text()]),
               horizon_days=(horizon_days, [Interval(int, 1, MAX_HORIZON_DAYS)]),
               n_paths=(n_paths, [Interval(int, 1, MAX_PATHS)]))
    return _batch(frame, **common, threshold=_threshold_source(threshold),
                  crossing=(int(horizon_days), int(n_paths)))
