"""A simulated messaging platform whose broker reports its deliveries (for the measured fan-out tests)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import signal

TRUE = {"u0": 2.0, "a": 4.0e-5, "b": 2.6e-7}


def simulate_platform(
    seed: int,
    *,
    days: int = 260,
    apps0: float = 10_000,
    growth: float = 230.0,
    switch_day: float | None = 200,
    base: float = 40,
    apps_per_host: float = 100,
    batch: int = 1,
    refresh: tuple[float, float, float] | None = None,
    churn: float = 0.0,
    k: float = 3,
    extra: float = 0.0,
    params: dict[str, float] = TRUE,
    shares: tuple[float, ...] = (1.04, 0.97, 0.99),
    amplitude: float = 0.06,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Hourly readings of each messaging server, with the broker's deliveries per message.

    Components: ``base`` routers plus hosts, provisioned ``batch`` at a time ahead of demand
    (``ceil(N / (apps_per_host * batch)) * batch``); ``refresh = (start_day, end_day, apps_per_host)``
    moves the apps per host to a new value over those days (denser hardware); each hour a share
    ``churn`` of the components is away (restarts, deploys) and receives nothing. Under broadcast a
    message reaches every component present, under targeted ``k``. Busy cores
    ``u0 + N*(a + b*D) + extra*N**1.5`` (the last a superlinear cost fan-out does not cause), with a
    daily cycle of the message rate (``amplitude``, 6 %: the load above u0 peaks at 21:00 UTC), 4 %
    AR(1) hourly noise, an uneven split over servers, 0.5 pp of
    measurement noise, readings clipped at 100 %.

    Returns
    -------
    samples : DataFrame
        timestamp, server, cpu_percent, strategy, servers, apps, deliveries.
    truth : DataFrame
        One row per hour: timestamp, apps, deliveries, targeted (bool), busy (mean busy cores), and
        busy_targeted: the mean busy cores had targeted routing been in force (the counterfactual).
    """
    rng = np.random.default_rng(seed)
    hours = pd.date_range("2009-06-01", periods=days * 24, freq="h")
    t = np.arange(len(hours)) / 24
    apps = apps0 + growth * t
    per_host = np.full(len(t), float(apps_per_host))
    if refresh is not None:
        start, end, new = refresh
        share = np.clip((t - start) / (end - start), 0, 1)
        per_host = 1 / ((1 - share) / apps_per_host + share / new)
    components = base + np.ceil(apps / (per_host * batch)) * batch
    present = components - rng.binomial(components.astype(np.int64), churn) if churn else components
    targeted = t >= switch_day if switch_day is not None else np.zeros(len(t), dtype=bool)
    deliveries = np.where(targeted, k, present)
    cycle = 1 + amplitude * np.sin(2 * np.pi * (hours.hour.to_numpy() - 15) / 24)
    demand = apps * (params["a"] + params["b"] * deliveries) + extra * apps**1.5
    mean = params["u0"] + demand
    busy = params["u0"] + demand * cycle
    phi, sd = 0.7, 0.04
    shocks = rng.normal(0, sd * np.sqrt(1 - phi**2), len(t))
    shocks[0] = rng.normal(0, sd)
    busy = busy * np.exp(signal.lfilter([1.0], [1.0, -phi], shocks) - sd**2 / 2)
    n = len(shares)
    frames = [pd.DataFrame({
        "timestamp": hours, "server": f"msg-{i + 1}",
        "cpu_percent": np.clip(busy / (n * 8) * share * 100 + rng.normal(0, 0.5, len(t)), 0, 100),
        "strategy": np.where(targeted, "targeted", "broadcast"), "servers": n, "apps": apps,
        "deliveries": deliveries,
    }) for i, share in enumerate(shares)]
    samples = pd.concat(frames).sort_values(["timestamp", "server"], kind="stable").reset_index(drop=True)
    truth = pd.DataFrame({
        "timestamp": hours, "apps": apps, "deliveries": deliveries, "targeted": targeted, "busy": mean,
        "busy_targeted": params["u0"] + apps * (params["a"] + params["b"] * k) + extra * apps**1.5,
    })
    return samples, truth


@pytest.fixture(scope="session")
def platform():
    """The simulator, :func:`simulate_platform`."""
    return simulate_platform
