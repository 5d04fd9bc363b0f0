"""The ``capacity`` command line: the scheduled report that cron runs.

Exit status: 0 done; 2 bad input or config (a one-line message naming the file, key or row);
3 with ``--fail-on-risk`` when a project is at risk; 1 any other failure (with a message).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence

from capacity import __version__
from capacity.errors import CapacityError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_AT_RISK = 0, 1, 2, 3


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date like 2010-10-20: {text!r}") from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="capacity",
        description="When does the messaging tier run out, and by when must each fix land?",
    )
    parser.add_argument("--version", action="version", version=f"capacity {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    forecast = commands.add_parser("forecast", help="fit, plan and write the capacity report")
    forecast.add_argument("--config", help="planning config (TOML); default: the sample platform")
    forecast.add_argument("--as-of", type=_date, help="use only data known on this date (YYYY-MM-DD)")
    forecast.add_argument("--out", help="reports folder (default: reports/ in the working directory)")
    forecast.add_argument("--fail-on-risk", action="store_true",
                          help="exit with status 3 when any project is at risk")
    forecast.add_argument("--quiet", action="store_true", help="print nothing on success")
    return parser


def _forecast(args: argparse.Namespace) -> int:
    from capacity.pipeline import run_inputs

    inputs = run_inputs(args.config, as_of=args.as_of)
    if not args.quiet:
        print(inputs.describe())
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (also used as the console script)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "forecast":
            return _forecast(args)
    except CapacityError as exc:
        print(f"capacity: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("capacity: interrupted; nothing was written", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug or an environment problem: say what, without a traceback wall
        print(f"capacity: failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
