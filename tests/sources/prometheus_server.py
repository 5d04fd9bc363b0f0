"""A real Prometheus for the tests: the sample platform's series, backfilled into a fresh TSDB.

:func:`openmetrics` writes the sample's two inputs (loaded with :mod:`capacity.data`) as OpenMetrics
text; :func:`backfill` turns that into TSDB blocks with ``promtool tsdb create-blocks-from
openmetrics``; :class:`PrometheusServer` runs ``prometheus`` on a free loopback port against a copy of
the blocks and stops it by its PID. :func:`sample_blocks` and :func:`started` put them together;
:func:`sample_plan` is the sample's plan.toml reading both inputs from such a server.

The series
----------
- ``platform_live_apps`` (and ``platform_new_apps``): one sample per day at 23:00 UTC, the count at
  the end of that day (a nightly export). An instant selector evaluated at midnight does not see it
  (it is an hour old, beyond the 5-minute lookback); ``last_over_time(platform_live_apps[1d])``
  evaluated at 00:00 UTC returns the day that just ended, which is :data:`APPS_QUERY`.
- ``broker_cpu_percent{instance, strategy, servers}``: the hourly samples, with the strategy and
  the server count as labels (a change of either starts a new series), :data:`MESSAGING_QUERY`.
- ``broker_deliveries_per_message{instance}``: the broker's deliveries per message in each hour,
  :data:`DELIVERIES_QUERY` (the sample's ``deliveries`` column).

Prometheus 2.42's promtool takes ``--max-block-duration`` as a hidden flag: the backfill then
writes half-year blocks in well under a second, where the default two-hour blocks take minutes.

Imported by file path from the tests (``tests/`` is not a package).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import requests

import capacity

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "capacity" / "sample"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

APPS_QUERY = "last_over_time(platform_live_apps[1d])"
NEW_APPS_QUERY = "last_over_time(platform_new_apps[1d])"
MESSAGING_QUERY = "broker_cpu_percent"
DELIVERIES_QUERY = "broker_deliveries_per_message"
APPS_HOUR = 23  # the hour of day (UTC) the daily counts are stamped at
# the whole sample: daily evaluations at midnight from its first day to the midnight after its last
START = "2009-06-01"
END = "2011-01-01"


def missing() -> str | None:
    """Why a real Prometheus cannot run here (None: it can)."""
    for tool in (PROMETHEUS, PROMTOOL):
        if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
            return f"{Path(tool).name} not found (Debian: apt-get install prometheus)"
    return None


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def sample_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    """The sample's (apps, samples) as the file loaders return them."""
    return capacity.load_apps(SAMPLE / "apps.csv"), capacity.load_messaging(SAMPLE / "messaging.csv")


def _seconds(times: pd.Series | pd.Index) -> pd.Series:
    return pd.Series((pd.DatetimeIndex(times).astype("datetime64[ns]").asi8 // 10**9).astype(str))


def openmetrics(apps: pd.DataFrame, samples: pd.DataFrame) -> str:
    """The two frames as OpenMetrics text (families and series contiguous, times ascending, ``# EOF``)."""
    lines = []
    stamps = _seconds(apps.index + pd.Timedelta(hours=APPS_HOUR))
    for column, metric, help_text in (("apps", "platform_live_apps", "Live apps at the end of the day."),
                                      ("new_apps", "platform_new_apps", "Apps created that day.")):
        if column not in apps.columns:
            continue
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} gauge"]
        values = apps[column].astype("int64").astype(str).reset_index(drop=True)
        lines += (metric + " " + values + " " + stamps).tolist()
    lines += ["# HELP broker_cpu_percent CPU utilisation of one messaging server [%].",
              "# TYPE broker_cpu_percent gauge"]
    for (server, strategy, servers), group in samples.groupby(["server", "strategy", "servers"], sort=True):
        labels = f'broker_cpu_percent{{instance="{server}",servers="{servers}",strategy="{strategy}"}} '
        group = group.sort_values("timestamp")
        values = pd.Series([repr(float(v)) for v in group["cpu_percent"]])
        lines += (labels + values + " " + _seconds(group["timestamp"])).tolist()
    if "deliveries" in samples.columns:
        lines += ["# HELP broker_deliveries_per_message Deliveries per message the broker counted.",
                  "# TYPE broker_deliveries_per_message gauge"]
        for server, group in samples.groupby("server", sort=True):
            group = group.sort_values("timestamp")
            values = pd.Series([repr(float(v)) for v in group["deliveries"]])
            lines += (f'broker_deliveries_per_message{{instance="{server}"}} ' + values + " "
                      + _seconds(group["timestamp"])).tolist()
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


def sample_plan(url: str) -> str:
    """The sample's plan.toml with both inputs read from the Prometheus at ``url`` (the issue's tables)."""
    text = (SAMPLE / "plan.toml").read_text()
    kept = [line for line in text.splitlines()
            if not line.startswith(("apps = ", "messaging = "))]  # the [data] file paths
    tables = f"""
[data.apps]
prometheus = "{url}"
query = "{APPS_QUERY}"
step = "1d"

[data.messaging]
prometheus = "{url}"
query = "{MESSAGING_QUERY}"
step = "1h"
server_label = "instance"
strategy_label = "strategy"
servers_label = "servers"
deliveries_query = "{DELIVERIES_QUERY}"
"""
    return "\n".join(kept) + "\n" + tables


def backfill(text: str, blocks: Path) -> Path:
    """Write ``text`` (OpenMetrics) into TSDB blocks under ``blocks`` with promtool; returns ``blocks``."""
    blocks.mkdir(parents=True, exist_ok=True)
    source = blocks.parent / f"{blocks.name}.om"
    source.write_text(text)
    result = subprocess.run([PROMTOOL, "tsdb", "create-blocks-from", "openmetrics", "--quiet",
                             "--max-block-duration=8760h", str(source), str(blocks)],
                            capture_output=True, text=True, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"promtool backfill failed: {(result.stderr or result.stdout)[-2000:]}")
    return blocks


def sample_blocks(workdir: Path) -> Path:
    """The sample platform backfilled into ``workdir/blocks``."""
    return backfill(openmetrics(*sample_frames()), workdir / "blocks")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrometheusServer:
    """``prometheus`` on 127.0.0.1 against its own copy of a TSDB; :meth:`stop` ends it by its PID."""

    def __init__(self, blocks: Path, workdir: Path, *, port: int | None = None,
                 web_config: str | None = None) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.tsdb = workdir / "tsdb"
        shutil.copytree(blocks, self.tsdb, dirs_exist_ok=True)
        (workdir / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
        if web_config is not None:
            (workdir / "web.yml").write_text(web_config)
        self.web_config = web_config
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = workdir / "prometheus.log"

    def start(self) -> PrometheusServer:
        """Start the process (without waiting for it to be ready)."""
        command = [PROMETHEUS, f"--config.file={self.workdir / 'prometheus.yml'}",
                   f"--storage.tsdb.path={self.tsdb}", "--storage.tsdb.retention.time=100y",
                   f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        if self.web_config is not None:
            command.append(f"--web.config.file={self.workdir / 'web.yml'}")
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, cwd=self.workdir)
        return self

    def wait_ready(self, timeout: float = 60.0, auth: tuple[str, str] | None = None) -> PrometheusServer:
        """Poll ``/-/ready`` until it answers 200; fail with the log's tail if the process ends."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited early:\n{self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/-/ready", timeout=1, auth=auth).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"prometheus not ready after {timeout:g} s:\n{self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """Terminate the process by its PID, wait, and kill it if it does not end."""
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


@contextmanager
def started(blocks: Path, workdir: Path, *, web_config: str | None = None,
            ready_auth: tuple[str, str] | None = None) -> Iterator[PrometheusServer]:
    """A ready server for the ``with`` block, stopped afterwards (a port taken meanwhile is retried)."""
    for attempt in range(3):
        server = PrometheusServer(blocks, workdir / f"run{attempt}", web_config=web_config)
        try:
            server.start().wait_ready(auth=ready_auth)
        except RuntimeError:
            server.stop()
            if attempt == 2 or "address already in use" not in server.log.read_text():
                raise
            continue
        try:
            yield server
        finally:
            server.stop()
        return
