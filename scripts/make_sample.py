"""Generate the simulated sample platform in ``capacity/sample/``.

The simulation is deliberately independent of the package's models: it imports nothing from
``capacity``. It simulates what a 2010 hosting platform's telemetry would have looked like:

* apps: gross daily sign-ups and deletions (weekly cycle, Poisson noise) around a net growth rate that
  jumps on ``BREAK_DATE``; calibrated to the public milestones (about 40,000 apps in Nov 2009 growing about
  900 a week; exactly 106,538 apps on 2010-12-08).
* messaging: every app emits state messages at a steady rate (with a small daily cycle); each message is
  delivered to every component under broadcast (the component count grows with the app count, provisioned
  in whole hosts), or to about ``K_TARGETED`` components under targeted routing. CPU time is a per-message
  cost plus a per-delivery cost plus a fixed background load, with autocorrelated hourly noise, an uneven
  split across servers and additive measurement noise; readings are clipped at 100 % like a real monitor.

The true parameters are written to ``truth.json`` so tests can check that the models recover them.

Run ``python scripts/make_sample.py`` (or ``make sample``); the output is identical for the same seed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

SEED = 20101027
OUT = Path(__file__).resolve().parents[1] / "capacity" / "sample"

START, END = "2009-06-01", "2010-12-31"
MILESTONE_NOV09 = ("2009-11-19", 40_000)  # RubyConf 2009 interview: ~40k apps, ~900/week
MILESTONE_DEC10 = ("2010-12-08", 106_538)  # acquisition press
RATE_BEFORE = 900 / 7  # net apps/day
BREAK_DATE = "2010-09-06"  # the day the net sign-up rate jumps
DELETE_SHARE = 0.09  # deletions as a share of gross sign-ups
WEEKLY = np.array([1.12, 1.14, 1.10, 1.08, 1.02, 0.74, 0.80])  # Mon..Sun sign-up cycle

SWITCH = pd.Timestamp("2010-10-27 02:00")  # targeted routing deployed (UTC)
SERVER_ADDED = pd.Timestamp("2010-04-12 00:00")  # the fourth messaging server
CORES_PER_SERVER = 8
MSG_PER_APP_S = 0.05  # each app emits a state message every 20 s
COST_PER_MESSAGE_S = 818e-6  # CPU-seconds to parse, route and persist one message
COST_PER_DELIVERY_S = 5.22e-6  # CPU-seconds per delivery to one component
BACKGROUND_CORES = 2.0  # timers, state sync: busy cores independent of apps
BASE_COMPONENTS = 40  # routers, schedulers, API nodes
APPS_PER_HOST = 100  # runtime hosts are provisioned per 100 apps
K_TARGETED = 3  # components that need a given message under targeted routing
DAILY_AMPLITUDE = 0.06  # message rate peaks in the US afternoon
NOISE_PHI, NOISE_SD = 0.7, 0.04  # AR(1) of log load, hourly
SERVER_SHARE = {3: [1.04, 0.97, 0.99], 4: [1.03, 0.98, 0.99, 1.00]}
MEASUREMENT_SD = 0.5  # percentage points
MONITORING_OUTAGE = ("2010-02-10", "2010-02-12")  # all servers, whole days, no samples
MISSING_HOUR_SHARE = 0.002


def simulate_apps(rng: np.random.Generator) -> pd.DataFrame:
    days = pd.date_range(START, END, freq="D")
    weekly = WEEKLY / WEEKLY.mean()
    after = days >= pd.Timestamp(BREAK_DATE)

    def draw_net(rate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gross_mean = rate * weekly[days.day_of_week] / (1 - DELETE_SHARE)
        gross = rng.poisson(gross_mean)
        deleted = rng.binomial(gross, DELETE_SHARE)
        return gross, deleted

    # pass 1 with the rate before the break everywhere, to place the level on the Nov 2009 milestone
    rate = np.full(len(days), RATE_BEFORE)
    gross, deleted = draw_net(rate)
    net = gross - deleted
    i_nov = days.get_loc(pd.Timestamp(MILESTONE_NOV09[0]))
    start_level = MILESTONE_NOV09[1] - int(net[: i_nov + 1].sum())

    # the rate after the break is whatever reaches the Dec 2010 milestone
    i_dec = days.get_loc(pd.Timestamp(MILESTONE_DEC10[0]))
    i_brk = days.get_loc(pd.Timestamp(BREAK_DATE))
    level_before_break = start_level + int(net[:i_brk].sum())
    rate_after = (MILESTONE_DEC10[1] - level_before_break) / (i_dec - i_brk + 1)
    rate[after] = rate_after
    g2, d2 = draw_net(rate)
    gross[after], deleted[after] = g2[after], d2[after]

    # hit the Dec 2010 milestone exactly: spread the remaining difference over the post-break sign-ups
    live = start_level + np.cumsum(gross - deleted)
    gap = MILESTONE_DEC10[1] - live[i_dec]
    window = np.arange(i_brk, i_dec + 1)
    gross[window] += np.diff(np.round(np.linspace(0, gap, len(window) + 1)).astype(int))
    live = start_level + np.cumsum(gross - deleted)

    truth = {"break_date": BREAK_DATE, "rate_before": RATE_BEFORE, "rate_after": rate_after,
             "start_level": start_level}
    frame = pd.DataFrame({"date": days.strftime("%Y-%m-%d"), "apps": live, "new_apps": gross})
    return frame, truth


def simulate_messaging(apps: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    hours = pd.date_range(START, pd.Timestamp(END) + pd.Timedelta(hours=23), freq="h")
    # live apps at each hour: linear between end-of-day counts (the count at the end of the day before)
    day_end = pd.to_datetime(apps["date"]) + pd.Timedelta(days=1)
    as_ns = lambda t: np.asarray(t, dtype="datetime64[ns]").astype(np.int64)  # noqa: E731
    n_apps = np.interp(as_ns(hours), as_ns(day_end), apps["apps"].to_numpy(float))

    components = BASE_COMPONENTS + np.ceil(n_apps / APPS_PER_HOST)
    targeted = hours >= SWITCH
    deliveries = np.where(targeted, K_TARGETED, components)

    daily = 1 + DAILY_AMPLITUDE * np.sin(2 * np.pi * (hours.hour.to_numpy() - 15) / 24)
    messages_per_s = MSG_PER_APP_S * n_apps * daily
    busy = BACKGROUND_CORES + messages_per_s * (COST_PER_MESSAGE_S + COST_PER_DELIVERY_S * deliveries)

    log_noise = np.empty(len(hours))
    shocks = rng.normal(0, NOISE_SD * np.sqrt(1 - NOISE_PHI**2), len(hours))
    log_noise[0] = rng.normal(0, NOISE_SD)
    for i in range(1, len(hours)):
        log_noise[i] = NOISE_PHI * log_noise[i - 1] + shocks[i]
    busy = busy * np.exp(log_noise - NOISE_SD**2 / 2)  # mean-preserving

    servers = np.where(hours >= SERVER_ADDED, 4, 3)
    rows = []
    for n_servers in (3, 4):
        in_force = servers == n_servers
        for s, share in enumerate(SERVER_SHARE[n_servers]):
            cpu = busy[in_force] / (n_servers * CORES_PER_SERVER) * share * 100
            cpu = cpu + rng.normal(0, MEASUREMENT_SD, in_force.sum())
            rows.append(pd.DataFrame({
                "timestamp": hours[in_force],
                "server": f"msg-{s + 1}",
                "cpu_percent": np.clip(cpu, 0, 100).round(2),
                "strategy": np.where(targeted[in_force], "targeted", "broadcast"),
                "servers": n_servers,
            }))
    samples = pd.concat(rows).sort_values(["timestamp", "server"], kind="stable")
    outage = (samples["timestamp"] >= MONITORING_OUTAGE[0]) & (
        samples["timestamp"] < pd.Timestamp(MONITORING_OUTAGE[1]) + pd.Timedelta(days=1))
    lost = rng.random(len(samples)) < MISSING_HOUR_SHARE
    samples = samples[~outage & ~lost]
    samples["timestamp"] = samples["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    return samples


def main() -> None:
    rng = np.random.default_rng(SEED)
    apps, growth_truth = simulate_apps(rng)
    samples = simulate_messaging(apps, rng)
    OUT.mkdir(parents=True, exist_ok=True)
    apps.to_csv(OUT / "apps.csv", index=False)
    samples.to_csv(OUT / "messaging.csv", index=False)
    truth = {
        "seed": SEED,
        "growth": growth_truth,
        "messaging": {
            "u0": BACKGROUND_CORES,
            "a": MSG_PER_APP_S * COST_PER_MESSAGE_S,
            "b": MSG_PER_APP_S * COST_PER_DELIVERY_S,
            "cores_per_server": CORES_PER_SERVER,
            "switch": SWITCH.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "server_added": SERVER_ADDED.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "strategies": {
                "broadcast": {"kind": "broadcast", "base_components": BASE_COMPONENTS,
                              "apps_per_component": APPS_PER_HOST},
                "targeted": {"kind": "targeted", "k": K_TARGETED},
            },
            "noise": {"ar1_phi": NOISE_PHI, "log_sd": NOISE_SD, "daily_amplitude": DAILY_AMPLITUDE,
                      "server_share": SERVER_SHARE, "measurement_sd_pct": MEASUREMENT_SD},
            "monitoring_outage": list(MONITORING_OUTAGE),
        },
    }
    (OUT / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


if __name__ == "__main__":
    main()
