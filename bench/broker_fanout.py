"""Validate the messaging cost model ``busy_cores = u0 + a*N + b*N*F_s(N)`` on a real Redis broker.

Run: ``.venv/bin/python bench/broker_fanout.py`` (``make bench-broker``; about 3.5 minutes on 2 cores).
``--help`` lists the options; ``--quick`` is a ~30 s smoke run that writes nothing unless ``--out``.

Experiment
----------
A private ``redis-server`` (Debian's package, installed with apt-get if missing) listens on a free
loopback port with persistence off (``--save '' --appendonly no``). For each app count N:

- **components** subscribe, one connection each: ``base_components`` platform components (routers)
  plus one host per ``apps_per_host`` apps. Every component subscribes to the broadcast channel
  ``bcast``; app ``i``'s channel ``app:i`` is subscribed by its host and by router ``i mod base``.
- **publisher**: the N apps together publish ``rate_per_app * N`` messages/s (paced, one PUBLISH
  per round trip, so every message is its own event-loop turn in the broker). Under *broadcast*
  each message goes to ``bcast`` and reaches every component, ``F(N) = base + N/apps_per_host``
  (:class:`capacity.Broadcast`); under *targeted* it goes to ``app:i`` and reaches ``k = 2``
  components (:class:`capacity.Targeted`). The broker's own count of deliveries (PUBLISH's
  reply) is recorded and checked against ``F(N)``.
- **measurement**: after a warm-up, several steady windows per (N, strategy); in each, the broker's
  CPU is ``(utime + stime)`` from ``/proc/<pid>/stat`` (delta in clock ticks / ``SC_CLK_TCK``)
  divided by the window's wall time: busy cores. A latency probe (router 0, a redis-py PubSub)
  timestamps deliveries; publisher lag, subscriber backlog and the clients' own CPU are recorded
  so that a client-side bottleneck would show.

Why raw sockets for the bulk subscribers: a redis-py PubSub parses every message in Python, which at
the largest broadcast (~10^5 deliveries/s) costs more CPU than the broker and would make the clients
the bottleneck on two cores. They subscribe with plain RESP and only count the messages they drain;
the publisher, the probe and the administration use the ``redis`` client.

Model fit
---------
Each window becomes one sample for :func:`capacity.fit_messaging` with ``servers = 1``,
``cores_per_server = 1`` (Redis executes commands on one thread, so one core is its real capacity
and ``cpu_percent = 100 * busy cores``; a reading at 100 % would be saturation, i.e. censored). The
fit uses the smaller N of both strategies and predicts the largest. ``fit_messaging`` bootstraps
over calendar days; windows of one (N, strategy) run share its setup (connections, memory layout,
machine load at that time), so each run gets its own synthetic day (2000-01-01 + run index, hour =
window) and ``block_days = 1``: the bootstrap resamples whole runs, not windows within a run.

Outputs ``<out>.csv`` (one row per window) and ``<out>.json`` (machine, versions, settings); see
``data/measured/README.md``. Functions :func:`load_measured`, :func:`fit_measured`,
:func:`compare`, :func:`ratios` and :func:`chart` turn the CSV into the tables and the chart.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import multiprocessing as mp
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Worker processes are spawned and import this module, so heavy imports (numpy, pandas, capacity)
# happen inside the functions that need them, never at module level.
if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from capacity.messaging import MessagingModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "measured" / "redis_fanout.csv"
HOST = "127.0.0.1"
BROADCAST_CHANNEL = "bcast"
STRATEGY_NAMES = ("broadcast", "targeted")
#: latency histogram: 40 log-spaced bins per decade from 1 us to 100 s
LAT_BINS_PER_DECADE = 40
LAT_MIN_NS = 1_000
LAT_BINS = 8 * LAT_BINS_PER_DECADE
MESSAGE_MARK = b"$7\r\nmessage\r\n"
SUBSCRIBE_MARK = b"$9\r\nsubscribe\r\n"
NICE = -5


# --------------------------------------------------------------------------------------------
# the experiment's design


@dataclass(frozen=True)
class Design:
    """Who subscribes to what: the mapping from the simulated platform to Redis channels.

    Parameters
    ----------
    base_components : int
        Platform components (routers) that exist at any app count [components].
    apps_per_host : int
        Apps per runtime host; one host component per ``apps_per_host`` apps [apps/component].
    """

    base_components: int = 20
    apps_per_host: int = 10

    #: components that receive a targeted message: the app's host and one router
    k: int = field(default=2, init=False)

    def hosts(self, apps: int) -> int:
        return math.ceil(apps / self.apps_per_host)

    def components(self, apps: int) -> list[list[str]]:
        """Channels of each component (routers first; router 0 is the latency probe)."""
        routers = [[BROADCAST_CHANNEL] for _ in range(self.base_components)]
        hosts = [[BROADCAST_CHANNEL] for _ in range(self.hosts(apps))]
        for app in range(apps):
            routers[app % self.base_components].append(f"app:{app}")
            hosts[app // self.apps_per_host].append(f"app:{app}")
        return routers + hosts

    def deliveries(self, apps: int, strategy: str) -> int:
        """Exact deliveries per message in the experiment."""
        if strategy == "broadcast":
            return self.base_components + self.hosts(apps)
        if strategy == "targeted":
            return self.k
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGY_NAMES)}")

    def strategies(self) -> dict[str, Any]:
        """The capacity Strategy objects with the same fan-out (exact when N is a multiple of
        ``apps_per_host``)."""
        from capacity.strategies import Broadcast, Targeted

        return {
            "broadcast": Broadcast(base_components=self.base_components,
                                   apps_per_component=self.apps_per_host),
            "targeted": Targeted(k=self.k),
        }

    def strategy_tables(self) -> dict[str, dict[str, Any]]:
        """The strategies as config tables (for ``capacity.strategies.strategies_from_config``)."""
        return {
            "broadcast": {"kind": "broadcast", "base_components": self.base_components,
                          "apps_per_component": self.apps_per_host},
            "targeted": {"kind": "targeted", "k": self.k},
        }


@dataclass(frozen=True)
class Sweep:
    """How long and how hard to drive the broker.

    Parameters
    ----------
    apps : tuple of int
        App counts N, ascending; the largest is predicted from the others.
    rate_per_app : float
        Messages each app publishes [messages/s].
    passes : int
        Replicate passes over ``apps`` (alternately ascending and descending).
    windows : int
        Steady windows per (N, strategy).
    window_s : float
        Length of one window [s].
    warmup_s : float
        Time after the publisher starts before the first window [s].
    latency_s : float
        Length of the latency window after the CPU windows [s].
    payload_bytes : int
        Message body size [bytes].
    drain_sleep_s : float
        Pause of the bulk subscribers between drain rounds [s] (batches their reads; the broker's
        writes do not depend on it).
    """

    apps: tuple[int, ...] = (50, 100, 250, 500, 1000, 2000)
    rate_per_app: float = 0.15
    passes: int = 2
    windows: int = 2
    window_s: float = 3.0
    warmup_s: float = 0.75
    latency_s: float = 1.0
    tick_hz: float = 4.0
    payload_bytes: int = 64
    drain_sleep_s: float = 0.02

    def __post_init__(self) -> None:
        if len(self.apps) < 2 or list(self.apps) != sorted(set(self.apps)) or self.apps[0] < 1:
            raise ValueError(f"apps must be >= 2 distinct ascending counts >= 1, not {self.apps}")
        if not (self.rate_per_app > 0 and self.window_s > 0 and self.warmup_s >= 0):
            raise ValueError("rate_per_app and window_s must be > 0 and warmup_s >= 0")
        if self.windows < 1 or self.passes < 1 or self.payload_bytes < 32:
            raise ValueError("windows and passes must be >= 1 and payload_bytes >= 32")


QUICK = Sweep(apps=(50, 200, 600), passes=1, windows=3, window_s=1.0, warmup_s=0.5, latency_s=0.5)


# --------------------------------------------------------------------------------------------
# the server


def ensure_redis_server(*, install: bool = True) -> str:
    """Path of ``redis-server``; installs Debian's package with apt-get if it is missing.

    Raises
    ------
    RuntimeError
        It is missing and cannot be installed (no apt-get, not root and no password-less sudo).
    """
    path = shutil.which("redis-server")
    if path or not install:
        if path:
            return path
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    if shutil.which("apt-get") is None:
        raise RuntimeError("redis-server is missing and apt-get is not available to install it")
    prefix: list[str] = []
    if os.geteuid() != 0:
        if shutil.which("sudo") is None:
            raise RuntimeError("redis-server is missing; installing it needs root (or sudo)")
        prefix = ["sudo", "-n"]
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing redis-server with apt-get ...", file=sys.stderr)
    subprocess.run([*prefix, "apt-get", "update", "-qq"], check=True, env=env, timeout=300,
                   stdout=subprocess.DEVNULL)
    subprocess.run([*prefix, "apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"],
                   check=True, env=env, timeout=600, stdout=subprocess.DEVNULL)
    path = shutil.which("redis-server")
    if path is None:
        raise RuntimeError("apt-get install redis-server finished but redis-server is not on PATH")
    return path


def free_port() -> int:
    """A TCP port on the loopback interface that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def _prioritise() -> None:
    """Run ahead of unrelated work on the machine (nice -5; needs root, silently skipped otherwise),
    so that other load delays the experiment's processes less (their CPU time is unaffected)."""
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def _server_child() -> None:
    # Linux prctl(PR_SET_PDEATHSIG, SIGTERM): the server goes away even if we are SIGKILLed
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    _prioritise()


@dataclass(frozen=True)
class Server:
    """A running private redis-server."""

    pid: int
    port: int
    version: str


@contextlib.contextmanager
def redis_server(executable: str | None = None, *, start_timeout: float = 10.0) -> Iterator[Server]:
    """Start a private redis-server on a free loopback port; always stop it on exit.

    Persistence is off (``--save '' --appendonly no``), one I/O thread, its files live in a
    temporary directory that is removed afterwards.
    """
    import redis

    executable = executable or ensure_redis_server()
    with tempfile.TemporaryDirectory(prefix="broker_fanout_") as tmp:
        proc, port = None, None
        try:
            for _attempt in range(5):  # a port picked free may be taken before the server binds it
                port = free_port()
                proc = subprocess.Popen(
                    [executable, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--io-threads", "1", "--maxclients", "10000",
                     "--dir", tmp, "--logfile", os.path.join(tmp, "redis.log")],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches us, and we stop it in order
                    preexec_fn=_server_child,
                )
                client = redis.Redis(host=HOST, port=port, socket_timeout=2)
                deadline = time.monotonic() + start_timeout
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        info = client.info("server")
                        break
                    except redis.ConnectionError:
                        time.sleep(0.05)
                else:
                    _stop(proc)
                    proc = None
                    continue
                client.close()
                yield Server(pid=proc.pid, port=port, version=str(info["redis_version"]))
                return
            log = Path(tmp, "redis.log")
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise RuntimeError(f"redis-server did not start on a loopback port: {tail}")
        finally:
            if proc is not None:
                _stop(proc, port=port)


def _stop(proc: subprocess.Popen, *, port: int | None = None) -> None:
    """SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL: each bounded in time."""
    if proc.poll() is None and port is not None:
        import redis

        with contextlib.suppress(redis.RedisError, OSError):
            redis.Redis(host=HOST, port=port, socket_timeout=2).shutdown(nosave=True)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        try:
            proc.wait(timeout=3)
            return
        except subprocess.TimeoutExpired:
            continue


# --------------------------------------------------------------------------------------------
# /proc readings


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process (all its threads) [clock ticks] from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()  # the command name may contain spaces
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)


def cpu_ns(pid: int) -> int:
    """On-CPU time of all threads of a process [ns] from ``/proc/<pid>/task/*/schedstat``.

    The same quantity as :func:`cpu_ticks` without the 10 ms rounding; a cross-check only.
    """
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)  # idle + iowait
    total = sum(values[:8])  # user..steal; guest time is already inside user
    return total - idle, total


# --------------------------------------------------------------------------------------------
# client processes (spawned; each ignores Ctrl-C and is stopped by the parent)


def _resp(*args: str) -> bytes:
    """A command in the Redis protocol (RESP)."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def _until_gap(clock: tuple[float, float, float], phase: float = 0.5) -> None:
    """Sleep until the next gap between two bursts (``phase`` of the way from one tick to the next);
    without ticks (even pacing), for the drain interval."""
    epoch, tick_hz, drain_sleep = clock
    if tick_hz <= 0:
        time.sleep(drain_sleep)
        return
    now = time.monotonic()
    k = math.floor((now - epoch) * tick_hz - phase) + 1
    time.sleep(max(epoch + (k + phase) / tick_hz - now, 0.0))


def _subscriber(port: int, components: list[list[str]], ready: Any, stop: Any, received: Any,
                clock: tuple[float, float, float], max_seconds: float) -> None:
    """One connection per component, SUBSCRIBE to its channels, then drain and count messages.

    The sockets are drained between bursts, never while the broker writes to them: on loopback the
    receive side's TCP work runs in the sender's context unless the receiver holds the socket at
    that moment, so draining during bursts would move a load-dependent share of it off the broker.
    Data arriving never wakes this process (it polls), so the broker pays no wake-ups either.
    """
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    deadline = time.monotonic() + max_seconds
    socks = []
    for channels in components:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # room for a whole burst (small segments cost ~1 kB of buffer each), so the kernel never
        # has to collapse a full receive queue, which would be billed to the broker
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 19)
        sock.settimeout(10)
        sock.connect((HOST, port))
        sock.sendall(_resp("SUBSCRIBE", *channels))
        socks.append((sock, len(channels)))
    for sock, expected in socks:  # wait for every confirmation before saying ready
        seen, tail = 0, b""
        while seen < expected and time.monotonic() < deadline:
            data = tail + sock.recv(1 << 16)
            seen += data.count(SUBSCRIBE_MARK)
            tail = data[-(len(SUBSCRIBE_MARK) - 1):]
        sock.setblocking(False)
    ready.set()
    sel = selectors.DefaultSelector()
    tails = {}
    for sock, _ in socks:
        sel.register(sock, selectors.EVENT_READ)
        tails[sock] = b""
    count = 0
    while not stop.is_set() and time.monotonic() < deadline:
        _until_gap(clock)
        for key, _ in sel.select(timeout=0):
            sock = key.fileobj
            try:
                data = tails[sock] + sock.recv(1 << 18)
            except BlockingIOError:
                continue
            count += data.count(MESSAGE_MARK)
            tails[sock] = data[-(len(MESSAGE_MARK) - 1):]
        received.value = count
    for sock, _ in socks:
        sock.close()


def _probe(port: int, channels: list[str], ready: Any, stop: Any, blocking: Any, hist: Any,
           clock: tuple[float, float, float], max_seconds: float) -> None:
    """Router 0 as a redis-py PubSub; while ``blocking`` is set, a histogram of delivery latency.

    Outside the latency window it drains between bursts like the bulk subscribers; inside it blocks
    on its socket like a real component.
    """
    import redis

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    deadline = time.monotonic() + max_seconds
    client = redis.Redis(host=HOST, port=port)
    pubsub = client.pubsub()
    pubsub.subscribe(*channels)
    confirmed = 0
    while confirmed < len(channels) and time.monotonic() < deadline:
        message = pubsub.get_message(timeout=0.5)
        confirmed += message is not None and message["type"] == "subscribe"
    ready.set()
    scale = LAT_BINS_PER_DECADE / math.log(10)
    while not stop.is_set() and time.monotonic() < deadline:
        if not blocking.value:
            _until_gap(clock)
            while (message := pubsub.get_message(timeout=0)) is not None:
                hist[LAT_BINS] += message["type"] == "message"
            continue
        message = pubsub.get_message(timeout=0.1)
        if message is None or message["type"] != "message":
            continue
        now = time.monotonic_ns()
        hist[LAT_BINS] += 1
        sent = int(message["data"].split(b":", 1)[0])
        latency = max(now - sent, LAT_MIN_NS)
        hist[min(int(math.log(latency / LAT_MIN_NS) * scale), LAT_BINS - 1)] += 1
    pubsub.close()
    client.close()


def _publisher(port: int, apps: int, strategy: str, rate: float, clock: tuple[float, float, float],
               payload_bytes: int, stop: Any, stats: Any, max_seconds: float) -> None:
    """Publish ``rate`` messages/s, app by app in turn, one PUBLISH per round trip.

    With ticks (``clock = (epoch, tick_hz, _)``, ``tick_hz > 0``; ``time.monotonic`` is one clock for
    all processes on Linux) the messages due in each tick are sent back to back at its start;
    without, they are spread evenly.

    stats: [published, deliveries (sum of PUBLISH replies), max lag behind schedule in us].
    """
    import redis

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    client = redis.Redis(host=HOST, port=port)
    epoch, tick_hz, _ = clock
    period = 1.0 / rate
    per_tick = rate / tick_hz if tick_hz > 0 else 0.0
    start = time.monotonic()
    if per_tick:  # start at the next tick
        start = epoch + math.ceil((start - epoch) * tick_hz) / tick_hz
    deadline = start + max_seconds
    i = 0
    while not stop.is_set():
        now = time.monotonic()
        if now > deadline:
            break
        due = start + (math.floor(i / per_tick) / tick_hz if per_tick else i * period)
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        app = i % apps
        channel = BROADCAST_CHANNEL if strategy == "broadcast" else f"app:{app}"
        head = b"%d:%d:" % (time.monotonic_ns(), app)
        stats[1] += client.publish(channel, head.ljust(payload_bytes, b"x"))
        stats[0] += 1
        stats[2] = max(stats[2], int((now - due) * 1e6))
        i += 1
    client.close()


# --------------------------------------------------------------------------------------------
# the sweep


def _latency_quantiles(counts: Sequence[int], qs: Sequence[float]) -> list[float]:
    """Quantiles [ms] from histogram counts (upper edge of the bin; NaN without samples)."""
    total = sum(counts)
    out = []
    for q in qs:
        if total == 0:
            out.append(float("nan"))
            continue
        target, acc = q * total, 0
        for i, c in enumerate(counts):
            acc += c
            if acc >= target:
                out.append(LAT_MIN_NS * 10 ** ((i + 1) / LAT_BINS_PER_DECADE) / 1e6)
                break
    return out


class _Budget:
    """Wall-clock budget of the whole run; every wait checks it."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self.seconds = seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def check(self, what: str) -> None:
        if self.left() <= 0:
            raise TimeoutError(f"broker_fanout: time budget of {self.seconds:g} s exceeded ({what})")


def _wait(event: Any, budget: _Budget, timeout: float, what: str) -> None:
    if not event.wait(min(timeout, max(budget.left(), 0.01))):
        raise TimeoutError(f"broker_fanout: {what} not ready within {timeout:g} s")


def measure(sweep: Sweep = Sweep(), design: Design = Design(), *, server: Server,
            budget_s: float = 280.0, progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Drive a running broker through the sweep; one row per steady window.

    Parameters
    ----------
    sweep : Sweep
    design : Design
    server : Server
        From :func:`redis_server`.
    budget_s : float
        Wall-clock budget [s]; exceeding it raises TimeoutError (workers are stopped).
    progress : callable or None
        Called with one line per (N, strategy) run.

    Returns
    -------
    DataFrame
        Columns as described in ``data/measured/README.md``.
    """
    import pandas as pd
    import redis

    budget = _Budget(budget_s)
    ctx = mp.get_context("spawn")
    admin = redis.Redis(host=HOST, port=server.port, socket_timeout=5)
    clk = os.sysconf("SC_CLK_TCK")
    day0 = pd.Timestamp("2000-01-01")
    clock = (time.monotonic(), sweep.tick_hz, sweep.drain_sleep_s)  # one tick schedule for all
    rows: list[dict[str, Any]] = []
    run = 0
    # replicate passes, ascending then descending N, so that a drift in the machine's other load
    # is not confounded with N; each (N, strategy) run is its own synthetic day
    schedule = [(p, apps) for p in range(sweep.passes)
                for apps in (sweep.apps if p % 2 == 0 else sweep.apps[::-1])]
    for step, (pass_, apps) in enumerate(schedule):
        components = design.components(apps)
        stop = ctx.Event()
        ready_sub, ready_probe = ctx.Event(), ctx.Event()
        received = ctx.Value("q", 0, lock=False)
        blocking = ctx.Value("b", 0, lock=False)
        hist = ctx.Array("q", LAT_BINS + 1, lock=False)  # latency bins + messages received
        workers = [
            ctx.Process(target=_subscriber, daemon=True, args=(
                server.port, components[1:], ready_sub, stop, received, clock, budget.left())),
            ctx.Process(target=_probe, daemon=True, args=(
                server.port, components[0], ready_probe, stop, blocking, hist, clock, budget.left())),
        ]
        try:
            for w in workers:
                w.start()
            _wait(ready_sub, budget, 30, "subscribers")
            _wait(ready_probe, budget, 30, "latency probe")
            expected = design.deliveries(apps, "broadcast")
            # NUMSUB counts a connection once its SUBSCRIBE is processed: poll until all are in
            for _ in range(100):
                numsub = dict(admin.pubsub_numsub(BROADCAST_CHANNEL, "app:0"))
                if numsub.get(BROADCAST_CHANNEL.encode()) == expected:
                    break
                time.sleep(0.05)
            if numsub.get(BROADCAST_CHANNEL.encode()) != expected or numsub.get(b"app:0") != design.k:
                raise RuntimeError(f"N={apps}: subscriptions {numsub} do not match the design "
                                   f"({expected} on {BROADCAST_CHANNEL}, {design.k} on app:0)")
            for strategy in STRATEGY_NAMES if step % 2 == 0 else STRATEGY_NAMES[::-1]:
                rows += _measure_run(ctx, sweep, design, server, apps, strategy, run, day0, clk, clock,
                                     workers, received, blocking, hist, budget)
                for row in rows[-sweep.windows:]:
                    row["pass"] = pass_
                last = rows[-sweep.windows:]
                if progress is not None:
                    progress(
                        f"pass {pass_ + 1} N={apps:>5} {strategy:<9} "
                        f"F={last[0]['deliveries_per_message']:>6.1f}  "
                        f"cpu={100 * sum(r['busy_cores'] for r in last) / len(last):6.2f} %  "
                        f"rate={last[0]['rate']:7.1f}/s  p50={last[-1]['latency_p50_ms']:.2f} ms  "
                        f"clients={sum(r['client_cores'] for r in last) / len(last):.2f} cores"
                    )
                run += 1
        finally:
            stop.set()
            for w in workers:
                if w.pid is None:  # never started
                    continue
                w.join(timeout=5)
                if w.is_alive():
                    w.terminate()
                    w.join(timeout=2)
    admin.close()
    return pd.DataFrame(rows)


def _measure_run(ctx: Any, sweep: Sweep, design: Design, server: Server, apps: int, strategy: str,
                 run: int, day0: Any, clk: int, clock: tuple[float, float, float], workers: list,
                 received: Any, blocking: Any, hist: Any, budget: _Budget) -> list[dict[str, Any]]:
    """One (N, strategy): start the publisher, wait out the warm-up, record the CPU windows, then
    a latency window (its quantiles are repeated on every row of the run)."""
    import pandas as pd

    rate = sweep.rate_per_app * apps
    stop_pub = ctx.Event()
    stats = ctx.Array("q", 3, lock=False)
    length = sweep.warmup_s + sweep.windows * sweep.window_s + sweep.latency_s
    budget.check(f"before N={apps} {strategy}")
    publisher = ctx.Process(target=_publisher, daemon=True, args=(
        server.port, apps, strategy, rate, clock, sweep.payload_bytes, stop_pub, stats, length + 30))
    publisher.start()
    clients = [publisher.pid] + [w.pid for w in workers]
    for _ in range(200):  # the warm-up starts with the first message (spawning takes a while)
        if stats[0] or not publisher.is_alive():
            break
        time.sleep(0.05)

    def snapshot() -> dict[str, Any]:
        return {"t": time.monotonic(), "ticks": cpu_ticks(server.pid), "ns": cpu_ns(server.pid),
                "clients": sum(cpu_ticks(p) for p in clients), "machine": machine_ticks(),
                "published": stats[0], "deliveries": stats[1],
                "received": received.value + hist[LAT_BINS]}

    rows = []
    try:
        time.sleep(sweep.warmup_s)
        window_s = sweep.window_s
        if sweep.tick_hz > 0:
            # whole ticks per window, starting in a gap between bursts (after the drain), so that
            # every window holds the same number of bursts and none is cut in two
            window_s = max(round(sweep.window_s * sweep.tick_hz), 1) / sweep.tick_hz
            _until_gap(clock, phase=0.75)
        next_start = time.monotonic()
        for window in range(sweep.windows):
            budget.check(f"N={apps} {strategy} window {window}")
            if not publisher.is_alive():
                raise RuntimeError(f"N={apps} {strategy}: the publisher died (exit {publisher.exitcode})")
            stats[2] = 0
            measured_at = datetime.now(UTC)
            a = snapshot()
            next_start += window_s
            time.sleep(max(next_start - time.monotonic(), 0))
            b = snapshot()
            wall = b["t"] - a["t"]
            cpu_s = (b["ticks"] - a["ticks"]) / clk
            published = b["published"] - a["published"]
            deliveries = b["deliveries"] - a["deliveries"]
            machine = (b["machine"][0] - a["machine"][0]) / max(b["machine"][1] - a["machine"][1], 1)
            rows.append({
                "timestamp": day0 + pd.Timedelta(days=run, hours=window),
                "server": "redis",
                "cpu_percent": 100 * cpu_s / wall,
                "strategy": strategy,
                "servers": 1,
                "apps": apps,
                "run": run,
                "window": window,
                "in_fit": apps < sweep.apps[-1],
                "measured_at": measured_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "window_s": wall,
                "cpu_seconds": cpu_s,
                "busy_cores": cpu_s / wall,
                "busy_cores_schedstat": (b["ns"] - a["ns"]) / 1e9 / wall,
                "rate_target": rate,
                "rate": published / wall,
                "published": published,
                "deliveries": deliveries,
                "deliveries_per_message": deliveries / published if published else float("nan"),
                "fanout_design": design.deliveries(apps, strategy),
                "received": b["received"] - a["received"],
                "cpu_us_per_message": 1e6 * cpu_s / published if published else float("nan"),
                "max_lag_ms": stats[2] / 1000,
                "client_cores": (b["clients"] - a["clients"]) / clk / wall,
                "machine_busy_cores": machine * (os.cpu_count() or 1),
            })
        before = list(hist[:LAT_BINS])
        blocking.value = 1
        time.sleep(sweep.latency_s)
        blocking.value = 0
        lat = [y - x for x, y in zip(before, hist[:LAT_BINS], strict=True)]
        p50, p99 = _latency_quantiles(lat, (0.5, 0.99))
        for row in rows:
            row.update(latency_p50_ms=p50, latency_p99_ms=p99, latency_samples=sum(lat))
    finally:
        stop_pub.set()
        publisher.join(timeout=5)
        if publisher.is_alive():
            publisher.terminate()
            publisher.join(timeout=2)
    return rows


# --------------------------------------------------------------------------------------------
# metadata, saving, loading


def environment(server: Server | None = None) -> dict[str, Any]:
    """Machine and software versions, for the JSON next to the CSV."""
    import redis

    cpu_model = ""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        cpu_model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), "")
    os_name = ""
    with contextlib.suppress(OSError), open("/etc/os-release") as f:
        os_name = next((line.split("=", 1)[1].strip().strip('"') for line in f
                        if line.startswith("PRETTY_NAME=")), "")
    mem_kb = 0
    with contextlib.suppress(OSError), open("/proc/meminfo") as f:
        mem_kb = int(next(line.split()[1] for line in f if line.startswith("MemTotal")))
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gb": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "os": os_name,
        "python": platform.python_version(),
        "redis_server": server.version if server else None,
        "redis_py": redis.__version__,
        "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
    }


def save(measured: pd.DataFrame, path: Path, *, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``path`` (CSV) and ``path.with_suffix('.json')`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    side = path.with_suffix(".json")
    for target, write in (
        (path, lambda p: measured.to_csv(p, index=False, float_format="%.6g",
                                         date_format="%Y-%m-%dT%H:%M:%S")),
        (side, lambda p: p.write_text(json.dumps(meta, indent=2, default=str) + "\n")),
    ):
        tmp = target.with_name(f".{target.name}.tmp")
        write(tmp)
        os.replace(tmp, target)
    return path, side


def load_measured(path: str | Path = DEFAULT_OUT) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The measured windows (timestamp parsed) and the run's metadata (the JSON next to the CSV)."""
    import pandas as pd

    path = Path(path)
    measured = pd.read_csv(path, parse_dates=["timestamp"])
    meta = json.loads(path.with_suffix(".json").read_text())
    return measured, meta


def design_of(meta: dict[str, Any]) -> Design:
    return Design(**meta["design"])


# --------------------------------------------------------------------------------------------
# model vs measurement


def fit_measured(measured: pd.DataFrame, design: Design, *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.9) -> MessagingModel:
    """``fit_messaging`` on the windows marked ``in_fit`` (the smaller N of both strategies).

    One server of one core (see the module docstring), censoring at 100 %, bootstrap blocks of
    one synthetic day = one (N, strategy) run.
    """
    from capacity.messaging import fit_messaging

    rows = measured[measured["in_fit"].astype(bool)]
    return fit_messaging(rows, strategies=design.strategies(), cores_per_server=1, censor_at=100.0,
                         block_days=1, n_boot=n_boot, seed=seed, level=level)


def compare(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> pd.DataFrame:
    """Measured vs predicted busy cores per (N, strategy).

    Returns
    -------
    DataFrame
        apps, strategy, in_fit, deliveries (per message), rate [msg/s], windows, measured (mean busy
        cores [% of one core]), measured_sd (between windows), predicted (model mean),
        mean_lower/mean_upper (interval of the mean from parameter uncertainty), lower/upper
        (interval for one window: parameters plus window-to-window noise), inside (the measured mean
        lies in the interval for one window), windows_inside (share of windows inside it),
        latency_p50_ms, latency_p99_ms (median over windows).
    """
    import pandas as pd

    groups = measured.groupby(["apps", "strategy"], sort=True)
    table = groups.agg(
        in_fit=("in_fit", "all"),
        deliveries=("deliveries_per_message", "mean"),
        rate=("rate", "mean"),
        windows=("cpu_percent", "size"),
        measured=("cpu_percent", "mean"),
        measured_sd=("cpu_percent", "std"),
        latency_p50_ms=("latency_p50_ms", "median"),
        latency_p99_ms=("latency_p99_ms", "median"),
    ).reset_index()
    pred = model.predict(table["apps"], strategy=table["strategy"].to_numpy(), servers=1, level=level)
    table["predicted"] = pred["mean"].to_numpy()
    for col in ("mean_lower", "mean_upper", "lower", "upper"):
        table[col] = pred[col].to_numpy()
    table["inside"] = (table["measured"] >= table["lower"]) & (table["measured"] <= table["upper"])
    merged = measured.merge(table[["apps", "strategy", "lower", "upper"]], on=["apps", "strategy"])
    share = (merged["cpu_percent"].between(merged["lower"], merged["upper"])
             .groupby([merged["apps"], merged["strategy"]]).mean())
    table["windows_inside"] = share.to_numpy()
    order = ["apps", "strategy", "in_fit", "deliveries", "rate", "windows", "measured", "measured_sd",
             "predicted", "mean_lower", "mean_upper", "lower", "upper", "inside", "windows_inside",
             "latency_p50_ms", "latency_p99_ms"]
    return pd.DataFrame(table[order])


def ratios(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> pd.DataFrame:
    """Broadcast / targeted CPU per N: measured (ratio of window means) vs predicted (with the
    percentile interval over the model's bootstrap replicates)."""
    import numpy as np
    import pandas as pd

    from capacity.messaging import busy_cores

    means = measured.groupby(["apps", "strategy"])["busy_cores"].mean().unstack("strategy")
    apps = means.index.to_numpy(dtype=float)
    b, t = (model.strategies[s] for s in STRATEGY_NAMES)
    grid = apps[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):  # a replicate may put every cost at 0
        draws = busy_cores(grid, strategy=b, params=model.boot) / busy_cores(grid, strategy=t,
                                                                             params=model.boot)
    tail = (1 - level) / 2
    lo, hi = np.nanquantile(np.where(np.isfinite(draws), draws, np.nan), [tail, 1 - tail], axis=0)
    predicted = busy_cores(apps, strategy=b, params=model.params) / busy_cores(apps, strategy=t,
                                                                               params=model.params)
    fit_n = measured.loc[measured["in_fit"].astype(bool), "apps"]
    return pd.DataFrame({
        "apps": means.index.to_numpy(),
        "in_fit": means.index.isin(fit_n),
        "measured": (means["broadcast"] / means["targeted"]).to_numpy(),
        "predicted": predicted,
        "lower": lo,
        "upper": hi,
    })


def chart(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> alt.LayerChart:
    """Broker CPU vs apps, log-log: the model (fitted on the smaller N) with its interval for one
    window, and every measured window (hollow: held out of the fit)."""
    import altair as alt
    import numpy as np
    import pandas as pd

    apps = measured["apps"]
    grid = np.geomspace(apps.min() * 0.8, apps.max() * 1.25, 60)
    curves = pd.concat([
        model.predict(grid, strategy=s, servers=1, level=level).assign(strategy=s) for s in STRATEGY_NAMES
    ], ignore_index=True)
    curves["lower"] = curves["lower"].clip(lower=curves["mean"] * 0.05)  # a log axis cannot show 0
    points = measured.assign(
        used=np.where(measured["in_fit"].astype(bool), "fitted", "held out (predicted)"),
        cpu_percent=measured["cpu_percent"].clip(lower=0.01),
    )
    x = alt.X("apps:Q", scale=alt.Scale(type="log"), title="simulated apps N")
    y = alt.Y("mean:Q", scale=alt.Scale(type="log"), title="redis-server CPU [% of one core]")
    color = alt.Color("strategy:N", title="strategy")
    band = alt.Chart(curves).mark_area(opacity=0.18).encode(x=x, y=alt.Y("lower:Q").scale(type="log")
                                                             .title(y.title), y2="upper:Q", color=color)
    line = alt.Chart(curves).mark_line().encode(x=x, y=y, color=color)
    dots = alt.Chart(points).mark_point(size=40).encode(
        x=x, y=alt.Y("cpu_percent:Q").scale(type="log"), color=color,
        shape=alt.Shape("used:N", title="window"),
        fill=alt.condition("datum.in_fit", alt.Color("strategy:N", legend=None), alt.value("white")),
        tooltip=["strategy:N", "apps:Q", alt.Tooltip("cpu_percent:Q", format=".3f"),
                 alt.Tooltip("deliveries_per_message:Q", format=".0f"), alt.Tooltip("rate:Q", format=".0f"),
                 alt.Tooltip("latency_p50_ms:Q", format=".2f")],
    )
    return alt.layer(band, line, dots).properties(
        title=f"Redis fan-out: measured windows vs the cost model fitted on N < {int(apps.max())} "
              f"({level:.0%} interval for one window)",
        width=520, height=340,
    )


# --------------------------------------------------------------------------------------------
# command line


def _print_tables(measured: pd.DataFrame, model: MessagingModel, level: float) -> tuple[Any, Any]:
    import pandas as pd

    table = compare(measured, model, level=level)
    show = pd.DataFrame({
        "N": table["apps"],
        "strategy": table["strategy"],
        "fit": table["in_fit"].map({True: "fit", False: "PREDICT"}),
        "F": table["deliveries"].round(1),
        "msg/s": table["rate"].round(0),
        "measured %": table["measured"].round(3),
        "sd": table["measured_sd"].round(3),
        "predicted %": table["predicted"].round(3),
        f"mean {level:.0%}": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(table["mean_lower"],
                                                                          table["mean_upper"], strict=True)],
        f"window {level:.0%}": [f"[{lo:.3f}, {hi:.3f}]" for lo, hi in zip(table["lower"], table["upper"],
                                                                            strict=True)],
        "in": table["inside"].map({True: "yes", False: "NO"}),
        "p50 ms": table["latency_p50_ms"].round(2),
        "p99 ms": table["latency_p99_ms"].round(2),
    })
    ratio = ratios(measured, model, level=level)
    show_ratio = pd.DataFrame({
        "N": ratio["apps"],
        "fit": ratio["in_fit"].map({True: "fit", False: "PREDICT"}),
        "measured b/t": ratio["measured"].round(2),
        "predicted b/t": ratio["predicted"].round(2),
        f"{level:.0%} interval": [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(ratio["lower"], ratio["upper"],
                                                                             strict=True)],
    })
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print("\nbroker CPU [% of one core] per (N, strategy): mean of the windows vs the model fitted on "
              f"N < {int(measured['apps'].max())}")
        print(show.to_string(index=False))
        print("\nbroadcast / targeted CPU ratio")
        print(show_ratio.to_string(index=False))
        print("\n" + repr(model))
        print(model.summary(level=level).to_string(index=False))
    return table, ratio


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=None,
                        help=f"CSV to write (and .json next to it); default {DEFAULT_OUT.relative_to(ROOT)}, "
                             "none with --quick")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: 3 N values, short windows")
    parser.add_argument("--apps", type=int, nargs="+", help="app counts N (ascending)")
    parser.add_argument("--rate-per-app", type=float, help="messages/s per app")
    parser.add_argument("--windows", type=int, help="steady windows per (N, strategy)")
    parser.add_argument("--window-s", type=float, help="window length [s]")
    parser.add_argument("--budget-s", type=float, default=280.0, help="abort after this many seconds")
    parser.add_argument("--no-install", action="store_true", help="fail instead of apt-get installing redis")
    parser.add_argument("--from-csv", type=Path, help="skip the experiment: fit and print a saved CSV")
    args = parser.parse_args(argv)
    level = 0.9

    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the workers and the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    if args.from_csv:
        measured, meta = load_measured(args.from_csv)
        design = design_of(meta)
    else:
        base = QUICK if args.quick else Sweep()
        overrides = {k: v for k, v in {"apps": tuple(args.apps) if args.apps else None,
                                       "rate_per_app": args.rate_per_app, "windows": args.windows,
                                       "window_s": args.window_s}.items() if v is not None}
        sweep = Sweep(**{**asdict(base), **overrides})
        design = Design()
        executable = ensure_redis_server(install=not args.no_install)
        print(f"broker_fanout: N = {list(sweep.apps)}, {sweep.rate_per_app:g} msg/s per app in "
              f"{sweep.tick_hz:g} bursts/s, {sweep.passes} passes of {sweep.windows} x {sweep.window_s:g} s "
              f"windows per (N, strategy); {design}", flush=True)
        with redis_server(executable) as server:
            print(f"redis-server {server.version} pid {server.pid} on {HOST}:{server.port}")
            measured = measure(sweep, design, server=server, budget_s=args.budget_s,
                               progress=lambda line: print(line, flush=True))
            meta = {
                "experiment": "bench/broker_fanout.py",
                "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "environment": environment(server),
                "design": {"base_components": design.base_components, "apps_per_host": design.apps_per_host},
                "strategies": design.strategy_tables(),
                "sweep": asdict(sweep),
                "fit": {"cores_per_server": 1, "servers": 1, "censor_at": 100.0, "block_days": 1,
                        "fit_apps": list(sweep.apps[:-1]), "predict_apps": sweep.apps[-1]},
            }
        measure_s = time.monotonic() - started
        meta["measure_seconds"] = round(measure_s, 1)
        out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
        if out is not None:
            csv, side = save(measured, out, meta=meta)
            print(f"wrote {csv} and {side.name}")
    bad = measured[(measured["deliveries_per_message"] - measured["fanout_design"]).abs() > 1e-9]
    if len(bad):
        print(f"WARNING: {len(bad)} windows delivered a different fan-out than designed", file=sys.stderr)
    short = measured[measured["published"] + 1 < 0.97 * measured["rate_target"] * measured["window_s"]]
    if len(short):
        print(f"WARNING: {len(short)} windows fell >3 % short of the target publish rate", file=sys.stderr)
    model = fit_measured(measured, design, level=level)
    table, _ = _print_tables(measured, model, level)
    held = table[~table["in_fit"]]
    verdicts = ", ".join(f"{s} {'yes' if ok else 'NO'}" for s, ok in zip(held["strategy"], held["inside"],
                                                                           strict=True))
    print(f"\nheld-out N={int(held['apps'].iloc[0])}: measured mean inside the {level:.0%} interval for one "
          f"window: {verdicts}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
