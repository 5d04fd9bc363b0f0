"""The ``capacity forecast-many`` subcommand: fit (and plan) thousands of series from one file.

``capacity.cli`` wires it in with :func:`add_forecast_many_parser` and :func:`forecast_many`; this
module imports nothing heavy until the command runs.

Everything is checked before any series is fitted: the sizes (``--horizon-days`` 1..3650,
``--paths`` 1..100,000, ``--n-origins`` 0..100, ``--workers`` 1..256, and paths x days x workers
within the memory budget of :func:`capacity.config.check_memory`) and the output (``--out`` must be
a folder or not exist yet, its nearest existing folder writable). Paths are relative to the working
directory. The table is written atomically with the permissions the umask allows (like any new file).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from capacity.errors import ConfigError

OUTPUT_NAME = "forecast_many"
#: bounds of the size options, both included
HORIZON_DAYS, PATHS, N_ORIGINS, WORKERS = (1, 3650), (1, 100_000), (0, 100), (1, 256)
#: memory of one threshold crossing per path and day [bytes]: about 4 arrays of paths x days (measured:
#: 10,000 paths x 1,460 days take 446 MB), for each series a worker holds at once
BYTES_PER_PATH_DAY = 48


def add_forecast_many_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``forecast-many`` subcommand to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "forecast-many",
        help="fit growth (and threshold crossings) for many series in one file",
        description="Fit a growth model to every series of a long table (id, date, value) and, with "
                    "--threshold, say when each forecast crosses its capacity. One row per series; a "
                    "series that cannot be fitted gets an error message in its row.",
    )
    p.add_argument("--input", required=True, help="long table: .csv, .parquet or a Parquet dataset folder")
    p.add_argument("--id-col", default="id", help="column naming the series (default: id)")
    p.add_argument("--date-col", default="date", help="date column (default: date)")
    p.add_argument("--value-col", default="value", help="value column (default: value)")
    p.add_argument("--threshold",
                   help="capacity per series: a number for all, or the name of a column of the input; "
                        "without it only the fits are reported")
    p.add_argument("--horizon-days", type=int, default=365,
                   help=f"days simulated ahead, {HORIZON_DAYS[0]}..{HORIZON_DAYS[1]} (default 365)")
    p.add_argument("--paths", type=int, default=1000,
                   help=f"paths simulated per series, {PATHS[0]}..{PATHS[1]:,} (default 1000)")
    p.add_argument("--n-origins", type=int, help=f"backtest origins per fit, {N_ORIGINS[0]}..{N_ORIGINS[1]} "
                                                  "(default: the batch default, 4)")
    p.add_argument("--seed", type=int, default=0, help="batch seed (default 0)")
    p.add_argument("--out", required=True, help="folder for the results (created if needed)")
    p.add_argument("--format", choices=("csv", "parquet"), default="csv", help="output format (default csv)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, help=f"run on N local processes, {WORKERS[0]}..{WORKERS[1]} "
                                                    "(default: in this process)")
    where.add_argument("--scheduler", help="run on the Dask cluster at this address (needs capacity[dask])")
    p.add_argument("--quiet", action="store_true", help="print nothing on success")
    return p


@contextlib.contextmanager
def _executor(args: argparse.Namespace) -> Iterator[Any]:
    if args.scheduler:
        try:
            from distributed import Client
        except ImportError:
            raise ConfigError("--scheduler needs Dask: pip install 'capacity[dask]'") from None
        with Client(args.scheduler) as client:
            yield client
    elif args.workers is not None and args.workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.workers) as pool:
            yield pool
    else:
        yield None


def _check_options(args: argparse.Namespace) -> Path:
    """Every size and the output, before any work: a ConfigError (exit 2) naming the option and its limits.

    Returns the output file's path.
    """
    from capacity.config import bounded, check_memory

    if args.workers is not None and args.workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {args.workers}")
    workers = bounded(args.workers, "--workers", *WORKERS) if args.workers is not None else 1
    bounded(args.horizon_days, "--horizon-days", *HORIZON_DAYS)
    bounded(args.paths, "--paths", *PATHS)
    if args.n_origins is not None:
        bounded(args.n_origins, "--n-origins", *N_ORIGINS)
    if args.threshold is not None:  # paths are simulated only to find the crossings
        check_memory(args.paths, args.horizon_days, paths="--paths", days="--horizon-days",
                     where="forecast-many:", bytes_per_path_day=BYTES_PER_PATH_DAY,
                     copies=workers, copies_name="--workers")
    return _output(Path(args.out), f"{OUTPUT_NAME}.{args.format}")


def _output(folder: Path, name: str) -> Path:
    """``folder / name``, once sure it can be written: ``folder`` is a folder (or can be made one)."""
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: --out must be a folder, and this is a file")
    path = folder / name
    if path.is_dir():
        raise ConfigError(f"{path}: is a folder; the table cannot be written there (--out)")
    parent = folder
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise ConfigError(f"{folder}: --out cannot be made: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{folder}: --out cannot be written (no permission to write in {parent})")
    return path


def _umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def write_atomically(frame: Any, path: Path) -> None:
    """Write a frame as CSV or Parquet (by suffix) through a temporary file, then rename it in place.

    The file gets the permissions a new file gets (0666 less the umask), not the 0600 of a temporary file.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        if path.suffix == ".parquet":
            frame.to_parquet(tmp)
        else:
            frame.to_csv(tmp, date_format="%Y-%m-%d")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _parse_threshold(text: str) -> float | str:
    """``--threshold``: a number for every series, or else the name of a column (plan_many checks it)."""
    try:
        return float(text)
    except ValueError:
        return text  # a column name


def forecast_many(args: argparse.Namespace) -> int:
    """Run ``capacity forecast-many``; returns the exit status (0 once the table is written)."""
    from capacity.batch.fitting import fit_growth_many, plan_many

    path = _check_options(args)
    shown = [-1]

    def progress(done: int, total: int) -> None:  # about every 10 %
        step = done * 10 // max(total, 1)
        if step > shown[0]:
            shown[0] = step
            print(f"capacity: {done}/{total} series", file=sys.stderr)

    common = dict(id_col=args.id_col, date_col=args.date_col, value_col=args.value_col, seed=args.seed,
                  fit_options=None if args.n_origins is None else {"n_origins": args.n_origins},
                  progress=None if args.quiet else progress)
    with _executor(args) as executor:
        if args.threshold is None:
            out = fit_growth_many(args.input, executor=executor, **common)
        else:
            out = plan_many(args.input, threshold=_parse_threshold(args.threshold),
                            horizon_days=args.horizon_days, n_paths=args.paths, executor=executor, **common)
    write_atomically(out, path)
    if not args.quiet:
        failed = out["error"].notna()
        print(f"{len(out)} series, {int(failed.sum())} failed; wrote {path}")
        for message in out.loc[failed, "error"].head(10):
            print(f"  {message}")
        if failed.sum() > 10:
            print(f"  ... and {int(failed.sum()) - 10} more (see the error column)")
    return 0
