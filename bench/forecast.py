"""Benchmark: `make forecast` wall time on a warm environment (target: under 10 s), and import time.

Prints a table; run with ``make bench`` or ``.venv/bin/python bench/forecast.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(command: list[str], repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(command, check=True, cwd=ROOT, capture_output=True)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    with tempfile.TemporaryDirectory() as out:
        rows = [
            ("python -c 'import capacity'", timed([sys.executable, "-c", "import capacity"], 5), 1.0),
            ("capacity forecast (sample, 2000 paths)",
             timed([sys.executable, "-m", "capacity.cli", "forecast", "--quiet", "--out", out], 3), 10.0),
        ]
    print(f"{'command':<42} {'median s':>9} {'best s':>7} {'target s':>9}")
    for name, times, target in rows:
        print(f"{name:<42} {statistics.median(times):>9.2f} {min(times):>7.2f} {target:>9.1f}")


if __name__ == "__main__":
    main()
