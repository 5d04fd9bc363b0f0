"""The ``capacity`` command line: the scheduled report that cron runs.

``capacity forecast`` runs :func:`capacity.pipeline.run` and writes the report with
:func:`capacity.report.html.write_report`; ``capacity replay`` runs :func:`capacity.pipeline.replay`
(:func:`capacity.report.html.write_replay`); ``capacity forecast-many`` is :mod:`capacity.batch.cli`.
With no ``--config`` the sample platform shipped in the package is used, so an installed wheel runs
from any directory; reports go to ``--out``, else the config's ``report.out``, else ``reports/`` in
the working directory. Paths on the command line (``--config``, ``--out``, ``--inputs``) are relative
to the working directory; paths in a config (its data files, ``report.out``) are relative to the
config file (:mod:`capacity.config`).

Sizes are bounded before any work: ``replay --paths`` (1..100,000), ``--every`` (1..3650 days) and
the number of replay dates (at most 520); the paths times the config's horizon must fit the memory
budget (:func:`capacity.config.check_memory`). Data older than ``data.max_age_days`` on the as-of
date is refused unless ``--allow-stale``.

``capacity fetch`` stores the config's inputs (e.g. read from Prometheus) as Parquet for offline runs
(``capacity forecast --inputs DIR``) and notebooks.

Exit status: 0 done; 2 bad input or config (a one-line message naming the file, key or row, or the
server and query); 3 with ``--fail-on-risk`` when a project is at risk; 1 any other failure, such as
a data source that cannot be reached (with a message).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from capacity import __version__
from capacity.errors import CapacityError, ConfigError
from capacity.validation import InstanceOf, check_args

if TYPE_CHECKING:
    from capacity.config import Config

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_AT_RISK = 0, 1, 2, 3
#: bounds of ``replay --paths`` and ``--every`` [days], and the most replay dates one run may have
REPLAY_PATHS, REPLAY_EVERY, MAX_REPLAY_DATES = (1, 100_000), (1, 3650), 520


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2010-10-20: {text!r}") from None


def _whole(text: str) -> int:
    """A whole number (its range is checked by the command, which names the limits)."""
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capacity",
        description="When does the messaging tier run out, and by when must each fix land?",
    )
    parser.add_argument("--version", action="version", version=f"capacity {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    _add_forecast_parser(commands)
    _add_fetch_parser(commands)
    _add_replay_parser(commands)

    from capacity.batch.cli import add_forecast_many_parser

    add_forecast_many_parser(commands)
    return parser


_STALE = "plan on data older than data.max_age_days (default 21) on the as-of date"


def _add_forecast_parser(commands: argparse._SubParsersAction) -> None:
    """``capacity forecast``: the scheduled report."""
    forecast = commands.add_parser(
        "forecast", help="fit, plan and write the capacity report",
        description="Fit the growth of the app count and the messaging cost model on the data known on the "
                    "as-of date, simulate the futures, and write the report (index.html, summary.json, CSV "
                    "tables, charts) to OUT/<as-of date>/, published atomically; OUT/latest points at the "
                    "newest as-of date. Prints the headline and each project's must-land-by date. Exit "
                    "status: 0 done, 2 bad input or config, 3 with --fail-on-risk when a project is at "
                    "risk, 1 any other failure.")
    forecast.add_argument("--config", help="planning config (TOML); default: the sample platform")
    forecast.add_argument("--as-of", type=_date, help="use only data known on this date (YYYY-MM-DD)")
    forecast.add_argument("--out", help="reports folder (default: reports/ in the working directory)")
    forecast.add_argument("--fail-on-risk", action="store_true",
                          help="exit with status 3 when any project is at risk")
    forecast.add_argument("--inputs", help="read the inputs from this folder (apps.parquet, "
                          "messaging.parquet: what `capacity fetch` or a report's inputs/ stored) instead of "
                          "the config's sources")
    forecast.add_argument("--allow-stale", action="store_true", help=_STALE)
    forecast.add_argument("--quiet", action="store_true", help="print nothing on success")


def _add_fetch_parser(commands: argparse._SubParsersAction) -> None:
    """``capacity fetch``: store the config's inputs for offline runs."""
    fetch = commands.add_parser("fetch", help="fetch the config's inputs once (e.g. from Prometheus)",
                                description="Fetch the config's two inputs once and store them as Parquet "
                                            "(apps.parquet, messaging.parquet) with inputs.json saying where "
                                            "they came from; `capacity forecast --inputs DIR` and notebooks "
                                            "then work offline.")
    fetch.add_argument("--config", help="planning config (TOML); default: the sample platform")
    fetch.add_argument("--out", required=True, help="folder to write (files replaced atomically)")
    fetch.add_argument("--quiet", action="store_true", help="print nothing on success")


def _add_replay_parser(commands: argparse._SubParsersAction) -> None:
    """``capacity replay``: the pipeline rerun as of past dates."""
    replay = commands.add_parser(
        "replay", help="rerun the plan as of past dates: when would we have known?",
        description="Rerun the whole pipeline as of past dates (weekly by default), each time with only the "
                    "data known then, and write OUT/replay-<last date>/ (replay.csv, first_warning.csv, "
                    "replay.svg): when would each project first have been reported at risk?")
    replay.add_argument("--config", help="planning config (TOML); default: the sample platform")
    replay.add_argument("--from", dest="start", type=_date, required=False,
                        help="first replay date (default: 20 weeks before the last)")
    replay.add_argument("--to", dest="end", type=_date, help="last replay date (default: the config's as_of)")
    replay.add_argument("--every", type=_whole, default=7,
                        help=f"days between replay dates, {REPLAY_EVERY[0]}..{REPLAY_EVERY[1]} (default 7; "
                             f"at most {MAX_REPLAY_DATES} dates)")
    replay.add_argument("--paths", type=_whole, default=500,
                        help=f"Monte Carlo paths per date, {REPLAY_PATHS[0]}..{REPLAY_PATHS[1]:,} "
                             "(default 500)")
    replay.add_argument("--out", help="reports folder (default: reports/ in the working directory)")
    replay.add_argument("--allow-stale", action="store_true", help=_STALE)
    replay.add_argument("--quiet", action="store_true", help="print nothing on success")


def _config(args: argparse.Namespace) -> Config:
    """``--config`` (relative to the working directory; default the sample's), with ``--allow-stale``."""
    import dataclasses

    from capacity.config import load_config

    config = load_config(args.config)
    return dataclasses.replace(config, allow_stale=True) if args.allow_stale else config


def _out_dir(args: argparse.Namespace, config: Config) -> Path:
    """The reports folder, checked before any work is done.

    ``--out`` (relative to the working directory), else the config's ``report.out`` (already
    resolved against the config's folder), else ``reports/`` in the working directory.
    """
    from capacity.config import DEFAULT_REPORTS

    out = Path(args.out) if args.out else (config.out or DEFAULT_REPORTS)
    if out.exists() and not out.is_dir():
        raise CapacityError(f"{out}: the reports folder is a file (--out or report.out)")
    return out


def _forecast(args: argparse.Namespace) -> int:
    import pandas as pd

    from capacity.pipeline import run, stderr_progress
    from capacity.report.html import write_report

    config = _config(args)
    out = _out_dir(args, config)
    day = args.as_of or config.as_of
    if day:  # a link or folder in the way is found before the work, not after it
        from capacity.report.publish import check_destination

        check_destination(out, day.isoformat(), latest=True)
    data = _stored_inputs(Path(args.inputs)) if args.inputs else None
    result = run(config, as_of=args.as_of, progress=None if args.quiet else stderr_progress, data=data)
    if not args.quiet:
        stderr_progress("writing the report")
    folder = write_report(result, out)
    plan = result.plan
    if not args.quiet:
        print(plan.headline)
        if result.inputs.data_age_days:
            print(f"  data: the newest is {result.inputs.data_age_days} days older than the as-of date "
                  f"{plan.as_of.date()}")
        for r in plan.deadlines.itertuples():
            if r.status in ("landed", "in effect"):
                print(f"  {r.project}: {r.status}")
                continue
            if pd.isna(r.must_land_by):
                print(f"  {r.project}: not needed within the horizon")
                continue
            late = "" if pd.isna(r.p_late) else f", P(late) {r.p_late:.0%}"
            risk = " - AT RISK" if r.at_risk else ""
            print(f"  {r.project}: must land by {r.must_land_by.date()}{late}{risk}")
        print(f"report: {folder / 'index.html'}")
    if args.fail_on_risk and bool(plan.deadlines["at_risk"].any()):
        return EXIT_AT_RISK
    return EXIT_OK


def _stored_inputs(folder: Path) -> tuple:
    """The inputs a fetch or an earlier report stored, read back with the file loaders' checks."""
    from capacity.data import load_apps, load_messaging

    for name in ("apps.parquet", "messaging.parquet"):
        if not (folder / name).is_file():
            raise CapacityError(f"{folder / name}: not found (--inputs needs the folder that "
                                "`capacity fetch` or a report's inputs/ wrote)")
    return load_apps(folder / "apps.parquet"), load_messaging(folder / "messaging.parquet")


def _fetch(args: argparse.Namespace) -> int:
    from capacity.config import load_config
    from capacity.pipeline import read_data
    from capacity.sources.store import write_inputs

    config = load_config(args.config)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CapacityError(f"{out}: --out is a file, not a folder")
    apps, samples = read_data(config)
    write_inputs(out, config, apps, samples)
    if not args.quiet:
        print(f"fetched {len(apps):,} days of app counts and {len(samples):,} messaging samples into {out}")
    return EXIT_OK


def _replay(args: argparse.Namespace) -> int:
    import pandas as pd

    from capacity.config import bounded, check_memory
    from capacity.pipeline import load_inputs, replay, stderr_progress
    from capacity.report.html import write_replay

    bounded(args.paths, "--paths", *REPLAY_PATHS)
    bounded(args.every, "--every", *REPLAY_EVERY)
    config = _config(args)
    out = _out_dir(args, config)
    check_memory(args.paths, config.horizon_days, paths="--paths", days="forecast.horizon_days",
                 where="replay:")
    end = args.end or config.as_of or load_inputs(config).as_of.date()
    start = args.start or end - dt.timedelta(weeks=20)
    if start > end:
        raise CapacityError(f"replay needs --from <= --to (got {start} and {end})")
    count = (end - start).days // args.every + 1
    if count > MAX_REPLAY_DATES:
        days = f"{args.every} day{'s' if args.every != 1 else ''}"
        raise ConfigError(f"replay: --from {start} to --to {end} every {days} is {count:,} dates, more than "
                          f"{MAX_REPLAY_DATES}; choose a later --from or a larger --every")
    # count back from --to so that the last replay date is --to itself
    dates = pd.date_range(end=end, periods=count, freq=f"{args.every}D")
    result = replay(config, as_of=dates, n_paths=args.paths, progress=None if args.quiet else stderr_progress)
    folder = write_replay(result, out)
    if not args.quiet:
        when = result.warning_date
        print(f"replayed {len(dates)} dates from {dates[0].date()} to {dates[-1].date()}; first warning: "
              f"{when.date() if when is not None else 'never'}")
        for r in result.first_warning.itertuples():
            fired = r.first_at_risk.date() if pd.notna(r.first_at_risk) else "never at risk"
            print(f"  {r.project}: {fired}")
        print(f"replay: {folder}")
    return EXIT_OK


def _warning_line(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """A warning as one line on stderr, like an error (no source location, no code)."""
    print(f"capacity: warning: {message}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used as the console script).

    Parameters
    ----------
    argv : sequence of str, optional
        The arguments after the program name; default ``sys.argv[1:]``.

    Returns
    -------
    int
        The exit status (see the module docstring).
    """
    check_args("main", argv=(argv, [InstanceOf(list, tuple), None]))
    args = _parser().parse_args(argv)
    warnings.showwarning = _warning_line
    try:
        if args.command == "forecast":
            return _forecast(args)
        if args.command == "replay":
            return _replay(args)
        if args.command == "fetch":
            return _fetch(args)
        if args.command == "forecast-many":
            from capacity.batch.cli import forecast_many

            return forecast_many(args)
    except CapacityError as exc:
        print(f"capacity: error: {exc}", file=sys.stderr)
        # a source that cannot be reached is not bad input: it says exit 1 (try again later)
        return getattr(exc, "exit_status", EXIT_BAD_INPUT)
    except KeyboardInterrupt as exc:
        published = getattr(exc, "published", None)  # set when the signal came after publishing
        what = f"the report was published: {published}" if published else "nothing was written"
        print(f"capacity: interrupted; {what}", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: say what, without a traceback wall
        print(f"capacity: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
