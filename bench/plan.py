"""Benchmark: the planner's Monte Carlo, 2000 paths x 365 days x 3 projects (target: under 1 s).

Prints a table; run with ``make bench`` or ``.venv/bin/python bench/plan.py``.
"""

from __future__ import annotations

import statistics
import time

from capacity.pipeline import projects_from_config, run


def main(repeats: int = 5) -> None:
    forecast = run(as_of=None)  # the sample config's as_of: 2010-10-20
    config = forecast.inputs.config
    projects = projects_from_config(config, forecast.load.strategies)
    from capacity.planning.montecarlo import plan

    rows = []
    for n_paths, horizon in ((2000, 365), (5000, 365), (2000, 730)):
        times = []
        for seed in range(repeats):
            start = time.perf_counter()
            plan(forecast.growth, forecast.load, strategy=forecast.inputs.strategy,
                 servers=forecast.inputs.servers, limit=config.limit["cpu"], projects=projects,
                 confidence=config.confidence, horizon_days=horizon, n_paths=n_paths, seed=seed,
                 as_of=forecast.inputs.as_of)
            times.append(time.perf_counter() - start)
        rows.append((n_paths, horizon, len(projects), statistics.median(times), min(times)))
    print(f"{'paths':>6} {'days':>5} {'projects':>8} {'median s':>9} {'best s':>7}"
          "   (target: 2000 x 365 x 3 < 1 s)")
    for n_paths, horizon, k, med, best in rows:
        print(f"{n_paths:>6} {horizon:>5} {k:>8} {med:>9.3f} {best:>7.3f}")


if __name__ == "__main__":
    main()
