"""The whole pipeline in one place: config -> data -> models -> plan.

The command line, the report and the notebooks all call this module, so they agree by construction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from capacity.config import Config, load_config
from capacity.data import attach_apps, load_apps, load_messaging
from capacity.errors import InputDataError

__all__ = ["Inputs", "load_inputs", "run_inputs"]


@dataclass(frozen=True, eq=False)
class Inputs:
    """The validated inputs as known on ``as_of``."""

    config: Config
    as_of: pd.Timestamp  # the last day whose data is used (tz-naive UTC)
    apps: pd.DataFrame  # load_apps output, up to as_of
    samples: pd.DataFrame  # load_messaging output with an ``apps`` column, up to the end of as_of
    strategy: str  # fan-out strategy in force on as_of
    servers: int  # messaging servers in service on as_of

    def describe(self) -> str:
        """A few lines on what was read, for a terminal."""
        apps = self.apps["apps"]
        last28 = apps.loc[apps.index > self.as_of - pd.Timedelta(days=28)]
        rate = (last28.iloc[-1] - last28.iloc[0]) / max((last28.index[-1] - last28.index[0]).days, 1)
        day = self.samples[self.samples["timestamp"] >= self.as_of]
        cpu = day["cpu_percent"].quantile(0.95) if len(day) else float("nan")
        return "\n".join([
            f"as of {self.as_of.date()}: {apps.iloc[-1]:,} apps, "
            f"growing {rate:,.0f}/day over the last 28 days",
            f"messaging: {self.servers} servers under {self.strategy!r}; "
            f"p95 CPU on {self.as_of.date()}: {cpu:.0f}%",
            f"inputs: {self.config.apps.name} ({len(self.apps):,} days), "
            f"{self.config.messaging.name} ({len(self.samples):,} samples)",
        ])


def load_inputs(config: Config, *, as_of: dt.date | None = None) -> Inputs:
    """Load and validate the config's data, keeping only what was known on ``as_of``.

    Parameters
    ----------
    config : Config
    as_of : date, optional
        Overrides ``config.as_of``; default the last day of the app counts.
    """
    cols = config.apps_columns
    apps = load_apps(config.apps, date_col=cols.get("date", "date"), apps_col=cols.get("apps", "apps"),
                     new_apps_col=cols.get("new_apps"))
    mcols = {f"{k}_col" if k != "cpu_percent" else "cpu_col": v
             for k, v in config.messaging_columns.items()}
    samples = load_messaging(config.messaging, **mcols)
    as_of = as_of or config.as_of
    day = pd.Timestamp(as_of) if as_of else apps.index[-1]
    if day < apps.index[0]:
        raise InputDataError(f"{config.apps}: as-of date {day.date()} is before the first app count "
                             f"({apps.index[0].date()})")
    apps = apps.loc[:day]
    samples = samples[samples["timestamp"] < day + pd.Timedelta(days=1)]
    samples = attach_apps(samples, apps)
    if samples.empty:
        raise InputDataError(f"{config.messaging}: no messaging samples on or before {day.date()} "
                             "that fall within the app counts' dates")
    latest = samples[samples["timestamp"] == samples["timestamp"].max()].iloc[0]
    return Inputs(config=config, as_of=day, apps=apps, samples=samples,
                  strategy=config.strategy or str(latest["strategy"]),
                  servers=int(config.servers or latest["servers"]))


def run_inputs(config: str | Path | Config | None = None, *, as_of: dt.date | None = None) -> Inputs:
    """Load a config (path, object or the sample's default) and its inputs."""
    if not isinstance(config, Config):
        config = load_config(config)
    return load_inputs(config, as_of=as_of)
