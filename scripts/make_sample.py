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
  Each reading also carries the broker's count of deliveries per message in that hour (``deliveries``):
  the components a message reached, which is what the CPU above was simulated with.

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
COST_PER_MESSAGE_S = 700e-6  # CPU-seconds to parse, route and persist one message
COST_PER_DELIVERY_S = 4.5e-6  # CPU-seconds per delivery to one component
BACKGROUND_CORES = 1.7  # timers, state sync: busy cores independent of apps
BASE_COMPONENTS = 40  # routers, schedulers, API nodes
APPS_PER_HOST = 100  # runtime hosts are provisioned per 100 apps
K_TARGETED = 3  # components that need a given message under targeted routing
DAILY_AMPLITUDE = 0.15  # message rate peaks in the US afternoon (21:00 UTC), 15 % above the day's mean
NOISE_PHI, NOISE_SD = 0.7, 0.04  # AR(1) of log load, hourly
# the split across servers: msg-1 also hosts the router's hot partitions
SERVER_SHARE = {3: [1.15, 0.95, 0.90], 4: [1.15, 0.96, 0.90, 0.99]}
MEASUREMENT_SD = 0.5  # percentage points
MONITORING_OUTAGE = ("2010-02-10", "2010-02-12")  # all servers, whole days, no samples
MISSING_HOUR_SHARE = 0.002
LIMIT = 0.9  # the sample config's limit.cpu, for the crossings written to truth.json


def hourly_load(apps: pd.DataFrame, switch: pd.Timestamp | None = SWITCH
                ) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray, np.ndarray]:
    """Hours, live apps, deliveries per message and busy cores of the whole tier before any noise;
    targeted routing from ``switch`` on (None: broadcast throughout)."""
    hours = pd.date_range(START, pd.Timestamp(END) + pd.Timedelta(hours=23), freq="h")
    # live apps at each hour: linear between end-of-day counts (the count at the end of the day before)
    day_end = pd.to_datetime(apps["date"]) + pd.Timedelta(days=1)
    as_ns = lambda t: np.asarray(t, dtype="datetime64[ns]").astype(np.int64)  # noqa: E731
    n_apps = np.interp(as_ns(hours), as_ns(day_end), apps["apps"].to_numpy(float))
    components = BASE_COMPONENTS + np.ceil(n_apps / APPS_PER_HOST)
    deliveries = components if switch is None else np.where(hours >= switch, K_TARGETED, components)
    daily = 1 + DAILY_AMPLITUDE * np.sin(2 * np.pi * (hours.hour.to_numpy() - 15) / 24)
    messages_per_s = MSG_PER_APP_S * n_apps * daily
    busy = BACKGROUND_CORES + messages_per_s * (COST_PER_MESSAGE_S + COST_PER_DELIVERY_S * deliveries)
    return hours, n_apps, deliveries, busy


def crossings(apps: pd.DataFrame) -> dict[str, object]:
    """First days on which broadcast (had it stayed in force) reaches LIMIT on four servers, by metric:
    the daily mean and the busiest hour of the average server, and the busiest hour of the hottest."""
    hours, _, _, busy = hourly_load(apps, switch=None)
    util = pd.Series(busy / (4 * CORES_PER_SERVER), index=hours)
    by_day = util.groupby(util.index.floor("D"))
    hottest = max(SERVER_SHARE[4])

    def first(values: pd.Series) -> str:
        over = values.index[(values >= LIMIT) & (values.index >= SERVER_ADDED)]
        return over[0].strftime("%Y-%m-%d")

    return {"limit": LIMIT, "strategy": "broadcast", "servers": 4,
            "daily_mean": first(by_day.mean()), "busiest_hour": first(by_day.max()),
            "busiest_hour_hottest": first(by_day.max() * hottest),
            "busiest_hour_spare_1": first(by_day.max() * 4 / 3)}


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
    hours, n_apps, deliveries, busy = hourly_load(apps)
    targeted = hours >= SWITCH

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
                # the broker's receiver count (whole components); no random draw, so the other
                # columns are as they were before this one was added
                "deliveries": deliveries[in_force].astype(np.int64),
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
            # what the deliveries column measures: hosts come whole, F = 40 + ceil(N / 100), whose
            # least-squares line over many hosts' worth of apps is 40.5 + N / 100
            "fanout": {
                "broadcast": {"law": f"{BASE_COMPONENTS} + ceil(apps / {APPS_PER_HOST})",
                              "base_components": BASE_COMPONENTS + 0.5, "apps_per_component": APPS_PER_HOST},
                "targeted": {"law": f"{K_TARGETED}", "k": K_TARGETED},
            },
            "noise": {"ar1_phi": NOISE_PHI, "log_sd": NOISE_SD, "daily_amplitude": DAILY_AMPLITUDE,
                      "server_share": SERVER_SHARE, "measurement_sd_pct": MEASUREMENT_SD},
            "monitoring_outage": list(MONITORING_OUTAGE),
            # the intraday profile of the load above u0: 1 + amplitude * sin(2 pi (hour - 15) / 24)
            "profile": {"peak_hour_utc": 21, "busiest_hour_factor": 1 + DAILY_AMPLITUDE},
            "crossings": crossings(apps),
        },
    }
    (OUT / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


if __name__ == "__main__":
    main()
