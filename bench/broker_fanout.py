"""Validate the messaging cost model ``busy_cores = u0 + a*N + b*N*F_s(N)`` on a real Redis broker.

Run: ``.venv/bin/python bench/broker_fanout.py`` (``make bench-broker``; about 16 min on 2 cores).
``--quick`` is a ~30 s smoke run (writes nothing unless ``--out``); ``--from-csv`` refits a saved run.

Experiment
----------
A private ``redis-server`` (Debian's package; apt-get installs it if missing) listens on a free
loopback port, persistence off (``--save '' --appendonly no``). For each app count N:

- **components**, one connection each: ``base_components`` routers plus one host per
  ``apps_per_host`` apps. All subscribe to the broadcast channel ``bcast``; app ``i``'s channel
  ``app:i`` is subscribed by its host and by router ``i mod base_components``.
- **publisher**: the apps publish ``rate_per_app * N`` messages/s in turn, one PUBLISH per round
  trip (no pipelining, so every message is its own event-loop turn and its own socket writes).
  *Broadcast* sends to ``bcast``: ``F(N) = base + N/apps_per_host`` deliveries
  (:class:`capacity.Broadcast`); *targeted* sends to ``app:i``: ``k = 2`` (:class:`capacity.Targeted`).
  PUBLISH's reply (the broker's own delivery count) is recorded and checked against ``F(N)``.
- **CPU**: per steady window, the server's on-CPU time from ``/proc/<pid>/task/*/schedstat`` (ns)
  over wall time = busy cores (the fit's measure); ``(utime + stime)`` from ``/proc/<pid>/stat``
  (ticks) is kept as a cross-check. Eight passes over N (descending, ascending, ...) replicate every
  (N, strategy) run, so drift in the machine's other load is not confounded with N, and each pass
  runs on a broker process of its own (:func:`measure_fresh`), so that one process's memory layout
  does not offset every reading at the largest N alike. A latency window follows the CPU windows of
  each run: the probe (router 0, a redis-py PubSub) then blocks on its socket and histograms
  publish-to-delivery times.

Three choices remove effects of the set-up that would make a message's or a delivery's cost depend
on N or on the broker process (all found by measuring; data/measured/README.md has the numbers and
what remains: over TCP a delivery still gets cheaper as each connection's message rate grows, which
``--unix`` shows is TCP's doing):

- **Bursts.** Messages are sent in ``tick_hz`` bursts per second instead of evenly spread. At these
  scaled-down rates (7-300 messages/s) an evenly paced broker goes idle between messages and each
  wake-up costs the message extra CPU, the more the longer the gap (targeted messages: ~80 us at
  37-75/s, ~50 us at 150-300/s; ~100 vs ~65 us on a loaded machine), so the per-message cost falls
  with N, which ``a*N`` cannot follow. In bursts the broker wakes ``tick_hz`` times a second at every
  N (a constant, in u0) and handles messages back to back, like a busy production broker; a targeted
  message then costs ~33 us at every rate.
- **Draining between bursts.** On loopback the receiver's TCP work runs in the sender's context
  unless the receiver holds the socket at that moment; subscribers that read while the broker
  writes take a load-dependent share of it off the broker's bill. The subscribers therefore poll
  their sockets half-way between bursts (and never block, so the broker never pays to wake them),
  with receive buffers large enough for a whole burst.
- **A network of its own** (``--private-network``, the default when root). The broker's cost is
  mostly per TCP segment, and on the host's loopback (BBR, the window restarted after each gap
  between bursts) the kernel coalesced half the largest broadcast's deliveries into shared segments
  in some broker processes and not in others, halving their CPU. In a network namespace of its own
  (:mod:`broker_transport`: CUBIC, and no restart after idle) every delivery takes a segment of its
  own; each window's ``segments_per_delivery`` shows it.

Two disturbances of a shared machine are measured and avoided rather than modelled: a window in
which the machine's other processes used more than ``quiet_cores``, or in which the hypervisor took
more than ``quiet_steal_cores`` (steal time: in such windows the same work took the broker and its
clients longer, up to 2.7 times in one pass of data/measured/host-c-eight/check2), is measured
again, at most twice (an episode of minutes outlasts that; the bench notes the windows kept).

The bulk subscribers speak RESP on raw sockets and only count what they drain: a redis-py PubSub
parses every message in Python, which at the largest broadcast (~70,000 deliveries/s) would cost
the clients more CPU than the broker. The publisher, the probe and administration use ``redis``.

Model fit
---------
Each window is one sample for :func:`capacity.fit_messaging` with ``servers = 1``,
``cores_per_server = 1``, the broker's delivery counts as measured fan-out and the per-connection
rate cost form (:func:`default_cost`): Redis executes commands on one thread, so one core is its capacity and
``cpu_percent = 100 * busy cores`` (a reading at 100 % would be saturation, i.e. censored). The
fit uses the smaller N of both strategies and predicts the largest. ``fit_messaging`` bootstraps
over calendar days; the windows of one run share its connections and the machine's load at the
time, so each run is one synthetic day (2000-01-01 + run, hour = window) with ``block_days = 1``:
the bootstrap resamples whole runs.

Output: ``<out>.csv`` (one row per window) and ``<out>.json`` (machine, versions, settings), see
``data/measured/README.md``; :func:`load_measured`, :func:`fit_measured`, :func:`compare`,
:func:`ratios` and :func:`chart` turn them into the printed tables and the notebook's chart.
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
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Worker processes are spawned and import this module: numpy, pandas, redis and capacity are imported
# inside the functions that need them, so that the workers start fast.
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:  # the bench's sibling module, also when this file is loaded by path (tests)
    sys.path.append(_HERE)
import broker_transport as transport  # noqa: E402

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

    from capacity.load.messaging import MessagingModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "data" / "measured" / "redis_fanout.csv"
HOST = "127.0.0.1"
BROADCAST_CHANNEL = "bcast"
STRATEGY_NAMES = ("broadcast", "targeted")
LAT_BINS_PER_DECADE = 40  # latency histogram: log-spaced bins from 1 us to 100 s
LAT_MIN_NS = 1_000
LAT_BINS = 8 * LAT_BINS_PER_DECADE
MESSAGE_MARK = b"$7\r\nmessage\r\n"
SUBSCRIBE_MARK = b"$9\r\nsubscribe\r\n"
NICE = -5
#: (epoch [s, time.monotonic], bursts per second, drain interval [s], drain phase [share of a burst period])
Clock = tuple[float, float, float, float]
#: apps per host in the runs of ``make bench-broker``. The runs of 2026-11-27 used 10 (``Design``'s
#: default); on the slower host of the validation runs that put the broker at 76 % of its core at
#: N = 2000, where each burst filled its whole period (data/measured/README.md, "The test rig's
#: limit"). With 20 the broadcast fan-out at N = 2000 is 120 instead of 220, while each broadcast
#: connection still carries 7.5-300 messages/s.
BENCH_APPS_PER_HOST = 20


@dataclass(frozen=True)
class Design:
    """Who subscribes to what: the simulated platform mapped onto Redis channels.

    Parameters
    ----------
    base_components : int
        Routers, present at any app count [components].
    apps_per_host : int
        Apps per host; one host component per ``apps_per_host`` apps [apps/component].
    """

    base_components: int = 20
    apps_per_host: int = 10
    #: components a targeted message reaches: the app's host and one router
    k: int = field(default=2, init=False)

    def hosts(self, apps: int) -> int:
        return math.ceil(apps / self.apps_per_host)

    def components(self, apps: int) -> list[list[str]]:
        """Channels of each component: routers first (router 0 is the latency probe), then hosts."""
        routers = [[BROADCAST_CHANNEL] for _ in range(self.base_components)]
        hosts = [[BROADCAST_CHANNEL] for _ in range(self.hosts(apps))]
        for app in range(apps):
            routers[app % self.base_components].append(f"app:{app}")
            hosts[app // self.apps_per_host].append(f"app:{app}")
        return routers + hosts

    def deliveries(self, apps: int, strategy: str) -> int:
        """Deliveries per message in the experiment."""
        if strategy == "broadcast":
            return self.base_components + self.hosts(apps)
        if strategy == "targeted":
            return self.k
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGY_NAMES)}")

    def strategy_tables(self) -> dict[str, dict[str, Any]]:
        """The strategies as config tables (``capacity.strategies.strategies_from_config``); exact
        when N is a multiple of ``apps_per_host``."""
        return {"broadcast": {"kind": "broadcast", "base_components": self.base_components,
                              "apps_per_component": self.apps_per_host},
                "targeted": {"kind": "targeted", "k": self.k}}

    def strategies(self) -> dict[str, Any]:
        """The same as :class:`capacity.Strategy` objects."""
        from capacity.load.strategies import strategies_from_config

        return strategies_from_config(self.strategy_tables())


@dataclass(frozen=True)
class Sweep:
    """How long and how hard to drive the broker (times in seconds)."""

    #: app counts N, ascending; the largest is held out of the fit and predicted
    apps: tuple[int, ...] = (50, 100, 250, 500, 1000, 2000)
    rate_per_app: float = 0.15  #: messages per app per second
    #: replicate passes over ``apps`` (descending, ascending, ...), each on a fresh broker; eight, because
    #: the machine's speed moves a pass's mean at N = 2000 by a standard error of 5-9 % in a run of four
    #: (data/measured/README.md), too close to the check's 10 %
    passes: int = 8
    windows: int = 2  #: CPU windows per (N, strategy) run
    window_s: float = 3.0  #: window length (rounded to whole bursts)
    warmup_s: float = 0.75  #: wait after the first message before the first window
    latency_s: float = 1.0  #: latency window after the CPU windows
    tick_hz: float = 4.0  #: bursts per second; 0 spreads the messages evenly (module docstring)
    payload_bytes: int = 64  #: message body
    drain_sleep_s: float = 0.02  #: subscribers' drain interval when ``tick_hz = 0``
    #: when the subscribers drain their sockets, as a share of the period from one burst to the next
    drain_phase: float = 0.5
    #: the rest of the machine counts as quiet below this load [cores]: a run waits for it, and a window
    #: taken while it is busier is measured again (other load makes the broker's deliveries dearer)
    quiet_cores: float = 0.35
    #: a window in which the hypervisor took more than this [cores] (steal time: another guest ran on
    #: this VM's CPUs, and the same work then takes the broker more CPU time) is measured again
    quiet_steal_cores: float = 0.02
    #: the longest one call of :func:`measure` spends waiting for quiet and re-measuring windows [s]:
    #: one pass, as :func:`measure_fresh` (the default) runs each pass on a broker of its own
    patience_s: float = 150.0
    #: the longest one run waits for quiet before it starts [s]
    wait_s: float = 5.0

    def __post_init__(self) -> None:
        if len(self.apps) < 2 or list(self.apps) != sorted(set(self.apps)) or self.apps[0] < 1:
            raise ValueError(f"apps must be >= 2 distinct ascending counts >= 1, not {self.apps}")
        if not (self.rate_per_app > 0 and self.window_s > 0 and self.warmup_s >= 0 and self.tick_hz >= 0):
            raise ValueError("rate_per_app and window_s must be > 0, warmup_s and tick_hz >= 0")
        if self.windows < 1 or self.passes < 1 or self.payload_bytes < 32:
            raise ValueError("windows and passes must be >= 1 and payload_bytes >= 32")

    def budget_s(self) -> float:
        """The wall time past which a sweep is aborted: twice what its runs should take, plus each
        pass's patience for quiet [s] (a run spends about 2 s starting its publisher and settling)."""
        run_s = self.warmup_s + self.windows * self.window_s + self.latency_s + 2.0
        return self.passes * (2 * len(self.apps) * 2 * run_s + self.patience_s)


QUICK = Sweep(apps=(50, 200, 600), passes=1, windows=3, window_s=1.0, warmup_s=0.5, latency_s=0.5)


# --------------------------------------------------------------------------------------------
# the server


def ensure_redis_server(*, install: bool = True) -> str:
    """Path of ``redis-server``, installing Debian's package with apt-get if it is missing.

    Raises
    ------
    RuntimeError
        Missing, and ``install`` is off or impossible (no apt-get; neither root nor sudo).
    """
    path = shutil.which("redis-server")
    if path:
        return path
    if not install:
        raise RuntimeError("redis-server is not installed (Debian: apt-get install redis-server)")
    if shutil.which("apt-get") is None:
        raise RuntimeError("redis-server is missing and apt-get is not available to install it")
    prefix = [] if os.geteuid() == 0 else ["sudo", "-n"]
    if prefix and shutil.which("sudo") is None:
        raise RuntimeError("redis-server is missing; installing it needs root (or sudo)")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing redis-server with apt-get ...", file=sys.stderr)
    for command in (["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "redis-server"]):
        subprocess.run([*prefix, *command], check=True, env=env, timeout=600, stdout=subprocess.DEVNULL)
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
    # nice -5 (root only; skipped otherwise): unrelated load delays the experiment's processes less.
    # Their CPU time, which is what is measured, does not depend on it.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, NICE)


def realtime(pid: int, priority: int = 10) -> bool:
    """Run ``pid`` (the broker's event-loop thread) under SCHED_FIFO, so that other work on the
    machine cannot preempt it in the middle of a burst (root only; False if refused). The kernel's
    real-time throttling still leaves 5 % of every second to other tasks; its CPU time, which is
    what is measured, is billed the same way."""
    try:
        os.sched_setscheduler(pid, os.SCHED_FIFO, os.sched_param(priority))
    except (OSError, AttributeError):
        return False
    return True


def _server_child() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): the server goes even if this process is SIGKILLed
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    _prioritise()


@dataclass(frozen=True)
class Server:
    """A running private redis-server; clients use its Unix socket if it has one, else TCP."""

    pid: int
    port: int
    version: str
    unix: str | None = None

    def client(self, **kwargs: Any) -> Any:
        """A ``redis.Redis`` connected to the server."""
        import redis

        if self.unix:
            return redis.Redis(unix_socket_path=self.unix, **kwargs)
        return redis.Redis(host=HOST, port=self.port, **kwargs)

    def connect(self) -> socket.socket:
        """A raw connection; big enough a receive buffer for a whole burst (small segments take
        ~1 kB of buffer each; a full queue would be collapsed by the kernel, billed to the broker)."""
        sock = socket.socket(socket.AF_UNIX if self.unix else socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 19)
        sock.settimeout(10)
        sock.connect(self.unix or (HOST, self.port))
        return sock


@contextlib.contextmanager
def redis_server(executable: str | None = None, *, unix: bool = False,
                 start_timeout: float = 10.0) -> Iterator[Server]:
    """Start a private redis-server on a free loopback port; always stop it on exit.

    No persistence, one I/O thread; its files live in a temporary directory removed afterwards.
    ``unix=True`` also opens a Unix socket there, which the clients then use (no TCP).
    """
    import redis

    executable = executable or ensure_redis_server()
    with tempfile.TemporaryDirectory(prefix="broker_fanout_") as tmp:
        proc, port = None, None
        try:
            for _attempt in range(5):  # a port found free may be taken before the server binds it
                port = free_port()
                proc = subprocess.Popen(
                    [executable, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no",
                     "--daemonize", "no", "--io-threads", "1", "--maxclients", "10000", "--dir", tmp,
                     "--logfile", os.path.join(tmp, "redis.log"),
                     *(["--unixsocket", os.path.join(tmp, "redis.sock"), "--unixsocketperm", "700"]
                       if unix else [])],
                    stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                    start_new_session=True,  # Ctrl-C reaches only us; we stop the server in order
                    preexec_fn=_server_child,
                )
                client = redis.Redis(host=HOST, port=port, socket_timeout=2)
                deadline = time.monotonic() + start_timeout
                while time.monotonic() < deadline and proc.poll() is None:
                    try:
                        version = str(client.info("server")["redis_version"])
                        break
                    except redis.ConnectionError:
                        time.sleep(0.05)
                else:
                    _stop(proc)
                    proc = None
                    continue
                client.close()
                yield Server(pid=proc.pid, port=port, version=version,
                             unix=os.path.join(tmp, "redis.sock") if unix else None)
                return
            log = Path(tmp, "redis.log")
            tail = log.read_text(errors="replace")[-600:] if log.exists() else ""
            raise RuntimeError(f"redis-server did not start on a loopback port: {tail}")
        finally:
            if proc is not None:
                _stop(proc, port=port)


def _stop(proc: subprocess.Popen, *, port: int | None = None) -> None:
    """SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL, each bounded in time."""
    if proc.poll() is None and port is not None:
        import redis

        with contextlib.suppress(redis.RedisError, OSError):
            redis.Redis(host=HOST, port=port, socket_timeout=2).shutdown(nosave=True)
    for sig in (None, signal.SIGTERM, signal.SIGKILL):
        if sig is not None and proc.poll() is None:
            proc.send_signal(sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
            return


# --------------------------------------------------------------------------------------------
# /proc


def cpu_ticks(pid: int) -> int:
    """utime + stime of a process, all threads [clock ticks], from ``/proc/<pid>/stat``."""
    with open(f"/proc/{pid}/stat") as f:
        text = f.read()
    fields = text[text.rindex(")") + 2:].split()  # the command name may hold spaces
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 in proc(5)


def cpu_ns(pid: int) -> int:
    """On-CPU time of all threads [ns] from ``/proc/<pid>/task/*/schedstat``: the same time as
    :func:`cpu_ticks` without the rounding to ticks (a cross-check)."""
    total = 0
    with contextlib.suppress(OSError):
        for tid in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


#: the first eight columns of /proc/stat's ``cpu`` line, in clock ticks
STAT_FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def machine_stat(path: str = "/proc/stat") -> dict[str, int]:
    """The whole machine's clock ticks by kind (:data:`STAT_FIELDS`), from ``/proc/stat``."""
    with open(path) as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return dict(zip(STAT_FIELDS, values, strict=True))


def machine_ticks(stat: dict[str, int] | None = None) -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine; idle and iowait are not busy."""
    stat = machine_stat() if stat is None else stat
    total = sum(stat.values())
    return total - stat["idle"] - stat["iowait"], total


# --------------------------------------------------------------------------------------------
# client processes (spawned; they ignore Ctrl-C and are stopped by the parent)


def _resp(*args: str) -> bytes:
    """A command in the Redis protocol."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)


def _until_gap(clock: Clock, phase: float | None = None) -> None:
    """Sleep until ``phase`` (default: the clock's drain phase) of the way from one burst to the next
    (without bursts: one drain interval)."""
    epoch, tick_hz, drain_sleep, drain_phase = clock
    phase = drain_phase if phase is None else phase
    if tick_hz <= 0:
        time.sleep(drain_sleep)
        return
    now = time.monotonic()
    k = math.floor((now - epoch) * tick_hz - phase) + 1
    time.sleep(max(epoch + (k + phase) / tick_hz - now, 0.0))


def _subscriber(server: Server, components: list[list[str]], ready: Any, stop: Any, received: Any,
                clock: Clock, max_seconds: float) -> None:
    """One connection per component; SUBSCRIBE; then drain between bursts, counting messages."""
    import selectors

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    deadline = time.monotonic() + max_seconds
    socks = []
    for channels in components:
        sock = server.connect()
        sock.sendall(_resp("SUBSCRIBE", *channels))
        socks.append((sock, len(channels)))
    sel = selectors.DefaultSelector()
    tails = {}
    for sock, expected in socks:  # every confirmation is in before we say ready
        seen, tail = 0, b""
        while seen < expected and time.monotonic() < deadline:
            data = tail + sock.recv(1 << 16)
            seen += data.count(SUBSCRIBE_MARK)
            tail = data[-(len(SUBSCRIBE_MARK) - 1):]
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        tails[sock] = b""
    ready.set()
    count = 0
    while not stop.is_set() and time.monotonic() < deadline:
        _until_gap(clock)
        for key, _ in sel.select(timeout=0):  # poll: arriving data never has to wake us
            sock = key.fileobj
            with contextlib.suppress(BlockingIOError):
                data = tails[sock] + sock.recv(1 << 18)
                count += data.count(MESSAGE_MARK)
                tails[sock] = data[-(len(MESSAGE_MARK) - 1):]
        received.value = count
    for sock, _ in socks:
        sock.close()


def _probe(server: Server, channels: list[str], ready: Any, stop: Any, blocking: Any, hist: Any,
           clock: Clock, max_seconds: float) -> None:
    """Router 0 as a redis-py PubSub. It drains between bursts like the others, except while
    ``blocking`` is set: then it blocks on its socket like a real component and histograms the
    publish-to-delivery latency (``hist[LAT_BINS]`` counts the messages received)."""

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    deadline = time.monotonic() + max_seconds
    client = server.client()
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
        latency = max(time.monotonic_ns() - int(message["data"].split(b":", 1)[0]), LAT_MIN_NS)
        hist[min(int(math.log(latency / LAT_MIN_NS) * scale), LAT_BINS - 1)] += 1
        hist[LAT_BINS] += 1
    pubsub.close()
    client.close()


def _publisher(server: Server, apps: int, strategy: str, rate: float, clock: Clock, payload_bytes: int,
               stop: Any, stats: Any, max_seconds: float) -> None:
    """Publish ``rate`` messages/s, app by app, one PUBLISH per round trip: in bursts at the clock's
    ticks (``time.monotonic`` is one clock for all processes on Linux) or, without ticks, evenly.

    stats: [published, deliveries (sum of PUBLISH replies), largest lag behind schedule in us].
    """

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _prioritise()
    client = server.client()
    epoch, tick_hz = clock[0], clock[1]
    per_tick = rate / tick_hz if tick_hz > 0 else 0.0
    start = time.monotonic()
    if per_tick:  # from the next tick on
        start = epoch + math.ceil((start - epoch) * tick_hz) / tick_hz
    deadline = start + max_seconds
    i = 0
    while not stop.is_set() and (now := time.monotonic()) < deadline:
        due = start + (math.floor(i / per_tick) / tick_hz if per_tick else i / rate)
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        app = i % apps
        head = b"%d:%d:" % (time.monotonic_ns(), app)
        stats[1] += client.publish(BROADCAST_CHANNEL if strategy == "broadcast" else f"app:{app}",
                                   head.ljust(payload_bytes, b"x"))
        stats[0] += 1
        stats[2] = max(stats[2], int((now - due) * 1e6))
        i += 1
    client.close()


# --------------------------------------------------------------------------------------------
# the sweep


def _latency_quantiles(counts: Sequence[int], qs: Sequence[float]) -> list[float]:
    """Quantiles [ms] from histogram counts (each bin's upper edge); NaN without samples."""
    total, out = sum(counts), []
    for q in qs:
        acc, value = 0, float("nan")
        for i, c in enumerate(counts if total else ()):
            acc += c
            if acc >= q * total:
                value = LAT_MIN_NS * 10 ** ((i + 1) / LAT_BINS_PER_DECADE) / 1e6
                break
        out.append(value)
    return out


def _stop_all(processes: Sequence[Any]) -> None:
    for proc in processes:
        if proc.pid is None:  # never started
            continue
        proc.join(timeout=5)
        if proc.is_alive():
            proc.terminate()
            proc.join(timeout=2)


def _progress_line(pass_: int, apps: int, strategy: str, new: list[dict[str, Any]], patience: float) -> str:
    mean = {k: sum(r[k] for r in new) / len(new) for k in ("cpu_percent", "rate", "client_cores")}
    # clock ticks against the processes' own ticks: a quiet machine can come out a tick below zero
    other = sum(r["machine_busy_cores"] - r["busy_cores"] - r["client_cores"] for r in new) / len(new)
    other = max(other, 0.0)
    steal = sum(r["machine_steal_cores"] for r in new) / len(new)
    retried = sum(r["attempts"] - 1 for r in new)
    return (f"pass {pass_ + 1} N={apps:>5} {strategy:<9} F={new[0]['fanout_design']:>4}  "
            f"cpu={mean['cpu_percent']:6.2f} %  rate={mean['rate']:6.1f}/s  p50="
            f"{new[0]['latency_p50_ms']:6.2f} ms  clients={mean['client_cores']:.2f} cores  "
            f"other={other:.2f} cores (steal {steal:.2f})  retried={retried}  patience left={patience:.0f} s")


def measure(sweep: Sweep = Sweep(), design: Design = Design(), *, server: Server,
            budget_s: float | None = None, progress: Callable[[str], None] | None = print,
            first_pass: int = 0, first_run: int = 0) -> pd.DataFrame:
    """Drive a running broker through the sweep: one row per CPU window.

    Parameters
    ----------
    sweep, design : Sweep, Design
    server : Server
        From :func:`redis_server`.
    budget_s : float or None
        Wall-clock budget [s]; past it a TimeoutError is raised (the workers are stopped). None:
        :meth:`Sweep.budget_s`.
    progress : callable or None
        Called with one line per (N, strategy) run.
    first_pass, first_run : int
        The index of the sweep's first pass and first run, when a sweep continues on another broker
        (:func:`measure_fresh`): the pass decides the order of N, the run the synthetic day.

    Returns
    -------
    DataFrame
        The columns described in ``data/measured/README.md``.
    """
    import pandas as pd

    budget_s = sweep.budget_s() if budget_s is None else budget_s
    end = time.monotonic() + budget_s

    def left(what: str) -> float:
        if time.monotonic() > end:
            raise TimeoutError(f"broker_fanout: time budget of {budget_s:g} s exceeded ({what})")
        return end - time.monotonic()

    ctx = mp.get_context("spawn")
    admin = server.client(socket_timeout=5)
    # waiting for quiet is shared by every run of this call, and never takes more than 15 % of the budget;
    # half of it is kept for the held-out runs, whose readings the check rests on
    initial = min(sweep.patience_s, 0.15 * budget_s)
    patience = [initial, 0.0]
    clock = (time.monotonic(), sweep.tick_hz, sweep.drain_sleep_s, sweep.drain_phase)  # one schedule for all
    rows: list[dict[str, Any]] = []
    # passes alternate descending and ascending N: a drift in other load is not confounded with N, and
    # the largest N (held out) and the next (which pins the delivery cost) are measured at both ends of
    # the sweep, so that their two passes see two independent states of a shared machine
    passes = range(first_pass, first_pass + sweep.passes)
    schedule = [(p, n) for p in passes for n in (sweep.apps if p % 2 else sweep.apps[::-1])]
    for step, (pass_, apps) in enumerate(schedule):
        components = design.components(apps)
        stop, ready_sub, ready_probe = ctx.Event(), ctx.Event(), ctx.Event()
        shared = {"received": ctx.Value("q", 0, lock=False), "blocking": ctx.Value("b", 0, lock=False),
                  "hist": ctx.Array("q", LAT_BINS + 1, lock=False)}
        workers = [
            ctx.Process(target=_subscriber, daemon=True, args=(
                server, components[1:], ready_sub, stop, shared["received"], clock, left("setup"))),
            ctx.Process(target=_probe, daemon=True, args=(
                server, components[0], ready_probe, stop, shared["blocking"], shared["hist"], clock,
                left("setup"))),
        ]
        try:
            for w in workers:
                w.start()
            for event, what in ((ready_sub, "subscribers"), (ready_probe, "latency probe")):
                if not event.wait(min(30.0, left(what))):
                    raise TimeoutError(f"broker_fanout: {what} not ready within 30 s")
            expected = {BROADCAST_CHANNEL.encode(): design.deliveries(apps, "broadcast"), b"app:0": design.k}
            for _ in range(100):  # a connection counts once the server has run its SUBSCRIBE
                numsub = dict(admin.pubsub_numsub(*expected))
                if numsub == expected:
                    break
                time.sleep(0.05)
            else:
                raise RuntimeError(f"N={apps}: subscriptions {numsub} do not match the design {expected}")
            for strategy in STRATEGY_NAMES[::-1] if step % 2 else STRATEGY_NAMES:
                patience[1] = 0.0 if apps == sweep.apps[-1] else initial / 2
                run = first_run + len(rows) // sweep.windows
                new = _measure_run(ctx, sweep, design, server, apps, strategy, run, clock, workers, shared,
                                   left, patience)
                for row in new:
                    row["pass"] = pass_
                rows += new
                if progress is not None:
                    progress(_progress_line(pass_, apps, strategy, new, patience[0]))
        finally:
            stop.set()
            _stop_all(workers)
    admin.close()
    return pd.DataFrame(rows)


def measure_fresh(sweep: Sweep, design: Design, *, start: Callable[[], Any], budget_s: float,
                  progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """:func:`measure`, each pass on a broker of its own (``start()`` gives a :func:`redis_server`).

    A broker process keeps its memory layout for life, and at the largest N (the most connections and
    buffers) that layout moves a delivery's cost by several per cent from one process to the next,
    the same at every window of the process. One broker per pass turns that into noise between passes,
    which the passes average out and the bootstrap (blocks of one run) sees.
    """
    import pandas as pd

    end, frames = time.monotonic() + budget_s, []
    for p in range(sweep.passes):
        with start() as server:
            if progress is not None:
                progress(f"pass {p + 1}: redis-server pid {server.pid}")
            runs = sum(len(f) for f in frames) // sweep.windows
            frames.append(measure(replace(sweep, passes=1), design, server=server,
                                  budget_s=end - time.monotonic(), progress=progress, first_pass=p,
                                  first_run=runs))
    return pd.concat(frames, ignore_index=True)


def _other_cores(pids: Sequence[int], seconds: float) -> float:
    """Cores the rest of the machine used over ``seconds`` (everything but ``pids``) [cores]."""
    clk = os.sysconf("SC_CLK_TCK")
    m0, own0, t0 = machine_ticks(), sum(cpu_ticks(p) for p in pids), time.monotonic()
    time.sleep(seconds)
    m1, own1, t1 = machine_ticks(), sum(cpu_ticks(p) for p in pids), time.monotonic()
    busy, total = m1[0] - m0[0], m1[1] - m0[1]
    machine = busy / max(total, 1) * (os.cpu_count() or 1)
    return max(machine - (own1 - own0) / clk / (t1 - t0), 0.0)


def _wait_quiet(sweep: Sweep, pids: Sequence[int], patience: list[float]) -> float:
    """Wait (at most ``wait_s``, from the sweep's ``patience`` shared by all runs: ``[left, floor]``, the
    floor being what this run must leave for the held-out runs) until the rest of the machine uses
    less than ``quiet_cores``; return the other load last seen [cores]."""
    other, waited = _other_cores(pids, 0.5), 0.0
    while other > sweep.quiet_cores and patience[0] > patience[1] and waited < sweep.wait_s:
        patience[0] -= 0.5
        waited += 0.5
        other = _other_cores(pids, 0.5)
    return other


def _window_row(a: dict[str, Any], b: dict[str, Any], *, design: Design, sweep: Sweep, apps: int,
                strategy: str, rate: float, run: int, window: int, measured_at: str, lag_ms: float) -> dict:
    """One CPU window's row (the columns in data/measured/README.md)."""
    import pandas as pd

    clk = os.sysconf("SC_CLK_TCK")
    wall = b["t"] - a["t"]
    cpu_s = (b["ticks"] - a["ticks"]) / clk
    published, deliveries = b["published"] - a["published"], b["deliveries"] - a["deliveries"]
    ticks = {k: b["machine"][k] - a["machine"][k] for k in STAT_FIELDS}
    busy, total = machine_ticks(ticks)
    cores = (os.cpu_count() or 1) / max(total, 1)  # a tick's share of the machine, in cores
    return {
        "timestamp": pd.Timestamp("2000-01-01") + pd.Timedelta(days=run, hours=window),
        "server": "redis", "cpu_percent": 100 * cpu_s / wall, "strategy": strategy, "servers": 1,
        "apps": apps, "run": run, "window": window, "in_fit": apps < sweep.apps[-1],
        "measured_at": measured_at, "window_s": wall, "cpu_seconds": cpu_s,
        "busy_cores": cpu_s / wall, "busy_cores_schedstat": (b["ns"] - a["ns"]) / 1e9 / wall,
        "rate_target": rate, "rate": published / wall, "published": published,
        "deliveries": deliveries,
        "deliveries_per_message": deliveries / published if published else float("nan"),
        "fanout_design": design.deliveries(apps, strategy), "received": b["received"] - a["received"],
        "cpu_us_per_message": 1e6 * cpu_s / published if published else float("nan"),
        "max_lag_ms": lag_ms, "client_cores": (b["clients"] - a["clients"]) / clk / wall,
        "machine_busy_cores": busy * cores,
        # where the rest of the machine's load went: interrupts, the hypervisor (steal), processes
        "machine_softirq_cores": (ticks["irq"] + ticks["softirq"]) * cores,
        "machine_steal_cores": ticks["steal"] * cores,
        "connections": design.base_components + design.hosts(apps),
        **_segments(a, b, published, deliveries),
    }


def _segments(a: dict[str, Any], b: dict[str, Any], published: int, deliveries: int) -> dict[str, float]:
    """A window's TCP segments (NaN where they were not counted, see :func:`_measure_run`)."""
    data = b["segments"] - a["segments"]
    # the publisher's PUBLISH and the broker's reply take a segment each (one round trip per message)
    per_delivery = (data - 2 * published) / deliveries if deliveries else math.nan
    return {"data_segments": data, "retransmitted_segments": b["retransmitted"] - a["retransmitted"],
            "segments_per_delivery": per_delivery}


def _disturbed(row: dict[str, Any], sweep: Sweep) -> bool:
    """Whether a window was taken while the rest of the machine, or the hypervisor, was busy."""
    other = row["machine_busy_cores"] - row["busy_cores"] - row["client_cores"]
    return other > sweep.quiet_cores or row["machine_steal_cores"] > sweep.quiet_steal_cores


def _measure_windows(sweep: Sweep, snapshot: Callable[[], dict[str, Any]], publisher: Any, stats: Any,
                     window_s: float, patience: list[float], left: Callable[[str], float],
                     **row: Any) -> list[dict[str, Any]]:
    """The run's CPU windows, back to back. A window in which the rest of the machine used more than
    ``quiet_cores``, or the hypervisor more than ``quiet_steal_cores``, is measured again (at most
    twice, while the sweep's patience lasts)."""
    rows, end = [], time.monotonic()
    for window in range(sweep.windows):
        for attempt in range(3):
            left(f"N={row['apps']} {row['strategy']} window {window}")
            if not publisher.is_alive():
                raise RuntimeError(f"N={row['apps']} {row['strategy']}: the publisher died "
                                   f"(exit {publisher.exitcode})")
            stats[2] = 0
            measured_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            a = snapshot()
            end += window_s
            time.sleep(max(end - time.monotonic(), 0))
            b = snapshot()
            new = _window_row(a, b, sweep=sweep, window=window, measured_at=measured_at,
                              lag_ms=stats[2] / 1000, **row)
            if not _disturbed(new, sweep) or attempt == 2 or patience[0] - patience[1] < window_s:
                break
            patience[0] -= window_s
        rows.append({**new, "attempts": attempt + 1})
    return rows


def _measure_run(ctx: Any, sweep: Sweep, design: Design, server: Server, apps: int, strategy: str,
                 run: int, clock: Clock, workers: list, shared: dict[str, Any],
                 left: Callable[[str], float], patience: list[float]) -> list[dict[str, Any]]:
    """One (N, strategy): wait for a quiet machine, publisher, warm-up, the CPU windows, then the
    latency window."""
    rate = sweep.rate_per_app * apps
    stop_pub, stats = ctx.Event(), ctx.Array("q", 3, lock=False)
    length = sweep.warmup_s + 3 * sweep.windows * sweep.window_s + sweep.latency_s + 30
    publisher = ctx.Process(target=_publisher, daemon=True, args=(
        server, apps, strategy, rate, clock, sweep.payload_bytes, stop_pub, stats,
        min(length, left(f"N={apps} {strategy}"))))
    hist, received = shared["hist"], shared["received"]
    other = _wait_quiet(sweep, [server.pid] + [w.pid for w in workers], patience)
    try:
        publisher.start()
        for _ in range(200):  # the warm-up starts with the first message (spawning takes a while)
            if stats[0] or not publisher.is_alive():
                break
            time.sleep(0.05)
        time.sleep(sweep.warmup_s)
        window_s = sweep.window_s
        if sweep.tick_hz > 0:  # whole bursts per window, boundaries in a quiet gap
            window_s = max(round(sweep.window_s * sweep.tick_hz), 1) / sweep.tick_hz
            _until_gap(clock, phase=0.75)
        clients = [publisher.pid] + [w.pid for w in workers]
        # the namespace's TCP counters are the bench's own only in its private network, and a Unix
        # socket sends no TCP segments at all
        tcp = transport.in_private_network() and not server.unix

        def snapshot() -> dict[str, Any]:
            return {"t": time.monotonic(), "ticks": cpu_ticks(server.pid), "ns": cpu_ns(server.pid),
                    "clients": sum(cpu_ticks(p) for p in clients), "machine": machine_stat(),
                    "published": stats[0], "deliveries": stats[1],
                    "received": received.value + hist[LAT_BINS],
                    "segments": transport.data_segments() if tcp else math.nan,
                    "retransmitted": transport.retransmitted_segments() if tcp else math.nan}

        rows = _measure_windows(sweep, snapshot, publisher, stats, window_s, patience, left, design=design,
                                apps=apps, strategy=strategy, rate=rate, run=run)
        before = list(hist[:LAT_BINS])
        shared["blocking"].value = 1
        time.sleep(sweep.latency_s)
        shared["blocking"].value = 0
        lat = [y - x for x, y in zip(before, hist[:LAT_BINS], strict=True)]
        p50, p99 = _latency_quantiles(lat, (0.5, 0.99))
        for row in rows:
            row.update(latency_p50_ms=p50, latency_p99_ms=p99, latency_samples=sum(lat),
                       other_cores_before=other)
    finally:
        stop_pub.set()
        _stop_all([publisher])
    return rows


# --------------------------------------------------------------------------------------------
# saving and loading


def environment(server: Server | None = None) -> dict[str, Any]:
    """Machine and software versions (for the JSON next to the CSV)."""
    import redis

    def first(path: str, prefix: str, sep: str) -> str:
        with contextlib.suppress(OSError), open(path) as f:
            return next((ln.split(sep, 1)[1].strip().strip('"') for ln in f if ln.startswith(prefix)), "")
        return ""

    return {
        "cpu_model": first("/proc/cpuinfo", "model name", ":"), "cores": os.cpu_count(),
        "memory_gb": round(int((first("/proc/meminfo", "MemTotal", ":") or "0 kB").split()[0]) / 2**20, 1),
        "kernel": platform.release(), "os": first("/etc/os-release", "PRETTY_NAME=", "="),
        "python": platform.python_version(), "redis_server": server.version if server else None,
        "redis_py": redis.__version__, "clock_ticks_per_s": os.sysconf("SC_CLK_TCK"),
        "broker_nice": os.getpriority(os.PRIO_PROCESS, server.pid) if server else None,
        "broker_policy": (("fifo" if os.sched_getscheduler(server.pid) == os.SCHED_FIFO else "other")
                          if server else None),

    }


def save(measured: pd.DataFrame, path: Path, *, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``path`` (CSV) and ``path.with_suffix('.json')``, each atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    side = path.with_suffix(".json")
    _replace(path, lambda p: measured.to_csv(p, index=False, float_format="%.6g",
                                             date_format="%Y-%m-%dT%H:%M:%S"))
    save_meta(side, meta)
    return path, side


def save_meta(side: Path, meta: dict[str, Any]) -> None:
    """Write a run's metadata JSON atomically."""
    _replace(side, lambda p: p.write_text(json.dumps(meta, indent=2, default=str) + "\n"))


def _replace(target: Path, write: Callable[[Path], Any]) -> None:
    tmp = target.with_name(f".{target.name}.tmp")
    write(tmp)
    os.replace(tmp, target)


def load_measured(path: str | Path = DEFAULT_OUT) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The measured windows (``timestamp`` parsed) and the run's metadata (the JSON beside the CSV)."""
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path, parse_dates=["timestamp"]), json.loads(path.with_suffix(".json").read_text())


def design_of(meta: dict[str, Any]) -> Design:
    """The :class:`Design` a saved run used."""
    return Design(**meta["design"])


# --------------------------------------------------------------------------------------------
# model vs measurement


#: the broker's CPU the fit uses: ``schedstat`` (ns, exact) or ``ticks`` (/proc/<pid>/stat, 10 ms)
CPU_MEASURES = ("schedstat", "ticks")
#: the per-connection rate at which the rate-dependent part of a delivery's cost has halved [messages/s]:
#: the candidate with the smallest held-out error over the selection runs (:func:`choose_form`); Linux's
#: delayed-ACK timer adapts between 40 and 200 ms, i.e. 5 to 25 acknowledgements a second
R0 = 10.0
#: the runs the cost form is chosen on: every committed run made before the validation runs
SELECTION_RUNS = (ROOT / "data" / "measured" / "redis_fanout_2026-11-27.csv",
                  *sorted((ROOT / "data" / "measured" / "design-runs").glob("*.csv")))


def default_cost() -> Any:
    """The cost form the bench fits: the per-delivery cost falls with each connection's message rate
    (``capacity.load.costs.PerConnectionRate(r0=10)``), chosen by held-out error on the committed
    selection runs (:data:`SELECTION_RUNS`, :func:`choose_form`; ``data/measured/README.md``,
    "Choosing the cost form")."""
    from capacity.load.costs import PerConnectionRate

    return PerConnectionRate(r0=R0)


def cpu_view(measured: pd.DataFrame, cpu: str = "schedstat") -> pd.DataFrame:
    """The windows with ``cpu_percent`` and ``busy_cores`` taken from the chosen measure.

    The tick counts of ``/proc/<pid>/stat`` sample which task runs at each clock tick; a broker that
    wakes in bursts a few times a second is caught by them unevenly (targeted at N = 50 in the
    reference run: 0.08 % by ticks, 0.24 % by schedstat), so the fit uses the on-CPU time in ns from
    ``/proc/<pid>/task/*/schedstat``. The ticks stay in ``cpu_percent_ticks`` and ``busy_cores_ticks``.
    """
    if cpu not in CPU_MEASURES:
        raise ValueError(f"cpu must be one of {', '.join(CPU_MEASURES)}, not {cpu!r}")
    if cpu == "ticks" or "busy_cores_ticks" in measured:
        return measured
    return measured.assign(cpu_percent_ticks=measured["cpu_percent"], busy_cores_ticks=measured["busy_cores"],
                           cpu_percent=100 * measured["busy_cores_schedstat"],
                           busy_cores=measured["busy_cores_schedstat"])


def samples_of(measured: pd.DataFrame, design: Design) -> pd.DataFrame:
    """The windows as :func:`capacity.fit_messaging` samples: the broker's delivery count per message
    as ``deliveries`` (the CSV's ``deliveries`` is the window's total), the achieved publish rate as
    ``messages`` [messages/s] and the subscriber connections (all components) as ``connections``."""
    connections = [design.base_components + design.hosts(int(n)) for n in measured["apps"]]
    return measured.assign(deliveries=measured["deliveries_per_message"], messages=measured["rate"],
                           connections=measured["connections"] if "connections" in measured else connections)


def fit_measured(measured: pd.DataFrame, design: Design, *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.9, cost: Any = None, cpu: str = "schedstat") -> MessagingModel:
    """:func:`capacity.fit_messaging` on the windows marked ``in_fit`` (the smaller N, both
    strategies): one server of one core, censored at 100 %, bootstrap blocks of one run, the fan-out
    measured from the broker's delivery counts, the cost form ``cost`` (default :func:`default_cost`;
    the fit keeps the plain form when the data cannot tell them apart, and says so in its notes)."""
    from capacity.load.messaging import fit_messaging

    samples = samples_of(cpu_view(measured, cpu), design)
    return fit_messaging(samples[samples["in_fit"].astype(bool)], strategies=design.strategies(),
                         cores_per_server=1, censor_at=100.0, block_days=1, n_boot=n_boot, seed=seed,
                         level=level, cost=default_cost() if cost is None else cost)


def compare(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9,
            cpu: str = "schedstat") -> pd.DataFrame:
    """Measured vs predicted broker CPU per (N, strategy).

    Returns
    -------
    DataFrame
        apps, strategy, in_fit, deliveries (per message), rate [messages/s], windows, measured (mean
        over windows) and measured_sd (between windows) [% of one core], predicted (the model's
        mean), mean_lower/mean_upper (interval of the mean: parameter uncertainty), lower/upper
        (interval for one window: parameters plus window-to-window noise), inside (measured within
        lower..upper), windows_inside (share of single windows within it), latency_p50_ms and
        latency_p99_ms (median over the runs), segments_per_delivery (mean; NaN for runs that did
        not count segments).
    """
    import pandas as pd

    measured = cpu_view(measured, cpu)
    if "segments_per_delivery" not in measured:
        measured = measured.assign(segments_per_delivery=float("nan"))
    table = measured.groupby(["apps", "strategy"], sort=True).agg(
        in_fit=("in_fit", "all"), deliveries=("deliveries_per_message", "mean"), rate=("rate", "mean"),
        windows=("cpu_percent", "size"), measured=("cpu_percent", "mean"),
        measured_sd=("cpu_percent", "std"), latency_p50_ms=("latency_p50_ms", "median"),
        latency_p99_ms=("latency_p99_ms", "median"), segments_per_delivery=("segments_per_delivery", "mean"),
    ).reset_index()
    pred = model.predict(table["apps"], strategy=table["strategy"].to_numpy(), servers=1, level=level)
    table["predicted"] = pred["mean"].to_numpy()
    for col in ("mean_lower", "mean_upper", "lower", "upper"):
        table[col] = pred[col].to_numpy()
    table["inside"] = table["measured"].between(table["lower"], table["upper"])
    merged = measured.merge(table[["apps", "strategy", "lower", "upper"]], on=["apps", "strategy"])
    table["windows_inside"] = (merged["cpu_percent"].between(merged["lower"], merged["upper"])
                               .groupby([merged["apps"], merged["strategy"]]).mean().to_numpy())
    return pd.DataFrame(table[["apps", "strategy", "in_fit", "deliveries", "rate", "windows", "measured",
                               "measured_sd", "predicted", "mean_lower", "mean_upper", "lower", "upper",
                               "inside", "windows_inside", "latency_p50_ms", "latency_p99_ms",
                               "segments_per_delivery"]])


def ratios(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9,
           cpu: str = "schedstat", seed: int = 0) -> pd.DataFrame:
    """Broadcast / targeted CPU at each N: measured (ratio of the window means) vs predicted, with an
    interval for the measured ratio.

    The measured ratio is a ratio of two sample means, so its interval has two parts, like the
    per-strategy intervals of :func:`compare`: the model's parameter uncertainty (its bootstrap
    replicates) and the sampling noise of each mean over the strategy's runs at that N (the windows
    of one run share its state, so a run, not a window, counts as one reading). That noise is the
    strategy's own (:func:`run_noise`): the spread of its run means around their N's mean in the
    fitted range, with Student's t for the runs it was estimated from. One noise law for both
    strategies would not do: with a broker per pass, targeted run means scatter by 15-30 % and
    broadcast ones by 2-10 % on host A. A strategy without two runs at a fitted N falls back to the
    model's noise law for one window (``sd = sqrt(abs_sd^2 + (rel_sd * mean)^2)``).

    Returns
    -------
    DataFrame
        apps, in_fit, measured, predicted, lower, upper, inside.
    """
    import numpy as np
    import pandas as pd

    from capacity.load.messaging import busy_cores

    measured = cpu_view(measured, cpu)
    groups = measured.groupby(["apps", "strategy"])
    means = groups["busy_cores"].mean().unstack("strategy")
    runs = groups["run"].nunique().unstack("strategy")
    apps = means.index.to_numpy(dtype=float)
    strategies = [model.strategies[s] for s in STRATEGY_NAMES]

    def ratio(params: Any, grid: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):  # a replicate may put every cost at 0
            return (busy_cores(grid, strategy=strategies[0], params=params)
                    / busy_cores(grid, strategy=strategies[1], params=params))

    rng = np.random.default_rng(seed)
    sampled = []
    for name, strategy in zip(STRATEGY_NAMES, strategies, strict=True):
        mean = busy_cores(apps[None, :], strategy=strategy, params=model.boot)  # replicates x N [cores]
        rel_sd, dof = run_noise(measured, name)
        if dof > 0:
            noise = rel_sd * mean * rng.standard_t(dof, mean.shape)
        else:
            sd = np.sqrt((model.noise["abs_sd"] / 100) ** 2 + (model.noise["rel_sd"] * mean) ** 2)
            noise = sd * rng.standard_normal(mean.shape)
        sampled.append(mean + noise / np.sqrt(runs[name].to_numpy(float)))
    with np.errstate(divide="ignore", invalid="ignore"):
        draws = sampled[0] / sampled[1]
    tail = (1 - level) / 2
    usable = np.where(np.isfinite(draws) & (draws > 0), draws, np.nan)
    lo, hi = np.nanquantile(usable, [tail, 1 - tail], axis=0)
    table = pd.DataFrame({
        "apps": means.index.to_numpy(), "in_fit": means.index.isin(measured.loc[measured["in_fit"], "apps"]),
        "measured": (means["broadcast"] / means["targeted"]).to_numpy(),
        "predicted": ratio(model.params, apps), "lower": lo, "upper": hi,
    })
    return table.assign(inside=table["measured"].between(table["lower"], table["upper"]))


def run_noise(measured: pd.DataFrame, strategy: str) -> tuple[float, int]:
    """The relative noise of one run's mean CPU for ``strategy``, from its runs in the fitted range.

    Parameters
    ----------
    measured : DataFrame
        The windows (:func:`cpu_view`), with ``in_fit``, ``strategy``, ``apps``, ``run`` and
        ``busy_cores``.
    strategy : str

    Returns
    -------
    rel_sd : float
        Pooled standard deviation of the run means relative to the mean of their N [1].
    dof : int
        Its degrees of freedom: runs minus one, summed over the fitted N (0: none to estimate from).
    """
    import numpy as np

    rows = measured[measured["in_fit"].astype(bool) & (measured["strategy"] == strategy)]
    run_means = rows.groupby(["apps", "run"])["busy_cores"].mean()
    by_n = run_means.groupby(level="apps")
    centre = by_n.transform("mean")
    usable = centre > 0
    dev = (run_means[usable] / centre[usable] - 1).to_numpy()
    dof = int((by_n.size()[by_n.mean() > 0] - 1).sum())
    return (float(np.sqrt(np.sum(dev**2) / dof)), dof) if dof > 0 else (float("nan"), 0)


def held_out(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9,
             cpu: str = "schedstat") -> dict[str, Any]:
    """The check on the held-out largest N, as written to the run's JSON.

    Returns
    -------
    dict
        ``held_out``: one ``{strategy, apps, measured_cores, predicted_cores, lower, upper}`` per
        strategy (mean busy cores of the windows, the model's mean, its interval for one window);
        ``held_out_ratio``: ``{apps, measured, predicted, lower, upper}`` for broadcast / targeted.
    """
    table = compare(measured, model, level=level, cpu=cpu)
    ratio = ratios(measured, model, level=level, cpu=cpu)
    rows = [{"strategy": r.strategy, "apps": int(r.apps), "measured_cores": round(r.measured / 100, 7),
             "predicted_cores": round(r.predicted / 100, 7), "lower": round(r.lower / 100, 7),
             "upper": round(r.upper / 100, 7)} for r in table[~table["in_fit"]].itertuples()]
    last = ratio[~ratio["in_fit"]].iloc[-1]
    keys = ("measured", "predicted", "lower", "upper")
    return {"held_out": rows, "held_out_ratio": {"apps": int(last["apps"])} | {k: round(float(last[k]), 4)
                                                                                for k in keys}}


def forms_table(measured: pd.DataFrame, design: Design, forms: dict[str, Any], *, level: float = 0.9,
                cpu: str = "schedstat", n_boot: int = 1000) -> pd.DataFrame:
    """Candidate cost forms judged on the held-out largest N (fitted on the others).

    Returns
    -------
    DataFrame
        form (the label), fitted (the form the fit kept: the plain one when it cannot tell), then
        at the held-out N: broadcast_error and targeted_error (predicted / measured - 1),
        targeted_inside (measured inside the interval for one window), ratio_measured,
        ratio_predicted, ratio_inside.
    """
    import pandas as pd

    rows = []
    for label, cost in forms.items():
        model = fit_measured(measured, design, n_boot=n_boot, level=level, cost=cost, cpu=cpu)
        table = compare(measured, model, level=level, cpu=cpu).set_index(["apps", "strategy"])
        held = table[~table["in_fit"]].droplevel("apps")
        ratio = ratios(measured, model, level=level, cpu=cpu).iloc[-1]
        error = held["predicted"] / held["measured"] - 1
        rows.append({"form": label, "fitted": model.cost.name,
                     "broadcast_error": error["broadcast"], "targeted_error": error["targeted"],
                     "targeted_inside": bool(held.loc["targeted", "inside"]),
                     "ratio_measured": ratio["measured"], "ratio_predicted": ratio["predicted"],
                     "ratio_inside": bool(ratio["inside"])})
    return pd.DataFrame(rows)


def candidate_forms() -> dict[str, Any]:
    """The forms compared in data/measured/README.md: plain, quadratic, and the rate form at five r0."""
    from capacity.load.costs import PerConnectionRate

    return {"plain": "plain", "quadratic": "quadratic",
            **{f"rate, r0 = {r0:g}/s": PerConnectionRate(r0=r0) for r0 in (5, 10, 25, 50, 100)}}


def choose_form(paths: Sequence[str | Path] = SELECTION_RUNS, forms: dict[str, Any] | None = None, *,
                level: float = 0.9, cpu: str = "schedstat", n_boot: int = 200) -> pd.DataFrame:
    """The candidate forms judged over several saved runs by their errors at each run's held-out N.

    Each run is fitted on its smaller N with every form (:func:`forms_table`); a form's score is the
    root-mean-square of its three relative errors at the held-out N over all runs: broadcast CPU,
    targeted CPU and the broadcast / targeted ratio. One run is too noisy to choose on (a sweep's
    largest reading moves by several percent from run to run), so the choice pools runs.

    Returns
    -------
    DataFrame
        One row per form, best first: form, runs, rms (the score), broadcast_rms, broadcast_bias
        (mean error), broadcast_within_10 (runs within 10 %), targeted_rms, targeted_inside and
        ratio_inside (runs whose measured value is inside the interval).
    """
    import numpy as np
    import pandas as pd

    forms = candidate_forms() if forms is None else forms
    tables = []
    for path in paths:
        measured, meta = load_measured(path)
        tables.append(forms_table(measured, design_of(meta), forms, level=level, cpu=cpu, n_boot=n_boot))
    runs = pd.concat(tables, ignore_index=True)
    runs["ratio_error"] = runs["ratio_predicted"] / runs["ratio_measured"] - 1
    errors = ["broadcast_error", "targeted_error", "ratio_error"]
    scores = runs.groupby("form", sort=False).apply(lambda g: pd.Series({
        "runs": len(g), "rms": float(np.sqrt(np.mean(g[errors].to_numpy() ** 2))),
        "broadcast_rms": float(np.sqrt(np.mean(g["broadcast_error"] ** 2))),
        "broadcast_bias": float(g["broadcast_error"].mean()),
        "broadcast_within_10": int((g["broadcast_error"].abs() < 0.1).sum()),
        "targeted_rms": float(np.sqrt(np.mean(g["targeted_error"] ** 2))),
        "targeted_inside": int(g["targeted_inside"].sum()), "ratio_inside": int(g["ratio_inside"].sum()),
    }), include_groups=False)
    return scores.sort_values("rms").reset_index().astype({"runs": int, "broadcast_within_10": int,
                                                           "targeted_inside": int, "ratio_inside": int})


def chart(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9,
          cpu: str = "schedstat") -> alt.LayerChart:
    """Broker CPU against apps, log-log: the model fitted on the smaller N with its interval for one
    window, and the measured windows (hollow squares: held out of the fit, predicted). Windows in
    which the broker used no CPU read 0 and cannot be drawn on a log axis."""
    import altair as alt
    import numpy as np
    import pandas as pd

    measured = cpu_view(measured, cpu)
    lo, hi = measured["apps"].min() * 0.8, measured["apps"].max() * 1.25
    curves = pd.concat([model.predict(np.geomspace(lo, hi, 60), strategy=s, servers=1, level=level)
                        .assign(strategy=s) for s in STRATEGY_NAMES], ignore_index=True)
    curves["lower"] = curves["lower"].clip(lower=curves["mean"] * 0.05)  # a log axis cannot show 0
    points = measured[measured["cpu_percent"] > 0].assign(
        window=lambda d: np.where(d["in_fit"], "fitted", "held out"))
    x = alt.X("apps:Q", scale=alt.Scale(type="log", domain=[lo, hi], nice=False), title="simulated apps N")
    y_scale, y_title = alt.Scale(type="log"), "redis-server CPU [% of one core]"
    color = alt.Color("strategy:N", title="strategy")
    band = alt.Chart(curves).mark_area(opacity=0.18, clip=True).encode(
        x=x, y=alt.Y("lower:Q", scale=y_scale, title=y_title), y2="upper:Q", color=color)
    line = alt.Chart(curves).mark_line(clip=True).encode(x=x, y=alt.Y("mean:Q", scale=y_scale), color=color)
    dots = alt.Chart(points).mark_point(size=45, strokeWidth=1.5).encode(
        x=x, y=alt.Y("cpu_percent:Q", scale=y_scale), color=color,
        shape=alt.Shape("window:N", scale=alt.Scale(range=["circle", "square"]), legend=None),
        fill=alt.condition("datum.in_fit", alt.Color("strategy:N", legend=None), alt.value("white")),
        tooltip=["strategy:N", "apps:Q", alt.Tooltip("cpu_percent:Q", format=".3f"),
                 alt.Tooltip("deliveries_per_message:Q", format=".0f"), alt.Tooltip("rate:Q", format=".0f")],
    )
    return alt.layer(band, line, dots).properties(title=alt.TitleParams(
        f"Redis fan-out: measured vs the model fitted on N < {int(measured['apps'].max()):,}",
        subtitle=f"dots: fitted windows; hollow squares: held out (predicted); band: {level:.0%} interval "
                 "for one window"))


# --------------------------------------------------------------------------------------------
# command line


def _print_tables(measured: pd.DataFrame, model: MessagingModel, level: float, cpu: str) -> pd.DataFrame:
    import pandas as pd

    def interval(lo: pd.Series, hi: pd.Series, fmt: str) -> list[str]:
        return [f"[{a:{fmt}}, {b:{fmt}}]" for a, b in zip(lo, hi, strict=True)]

    table = compare(measured, model, level=level, cpu=cpu)
    ratio = ratios(measured, model, level=level, cpu=cpu)
    fit = {True: "fit", False: "PREDICT"}
    show = pd.DataFrame({
        "N": table["apps"], "strategy": table["strategy"], "role": table["in_fit"].map(fit),
        "F": table["deliveries"].round(1), "msg/s": table["rate"].round(1),
        "measured %": table["measured"].round(3), "sd": table["measured_sd"].round(3),
        "predicted %": table["predicted"].round(3),
        f"mean {level:.0%}": interval(table["mean_lower"], table["mean_upper"], ".3f"),
        f"window {level:.0%}": interval(table["lower"], table["upper"], ".3f"),
        "in": table["inside"].map({True: "yes", False: "NO"}),
        "p50 ms": table["latency_p50_ms"].round(2), "p99 ms": table["latency_p99_ms"].round(2),
        "seg/del": table["segments_per_delivery"].round(2),
    })
    show_ratio = pd.DataFrame({
        "N": ratio["apps"], "role": ratio["in_fit"].map(fit), "measured b/t": ratio["measured"].round(2),
        "predicted b/t": ratio["predicted"].round(2),
        f"{level:.0%} interval": interval(ratio["lower"], ratio["upper"], ".2f"),
    })
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"\nbroker CPU [% of one core, {cpu}] per (N, strategy): mean of the windows vs the model "
              f"fitted on N < {int(measured['apps'].max())}")
        print(show.to_string(index=False))
        print("\nbroadcast / targeted CPU ratio")
        print(show_ratio.to_string(index=False))
        print(f"\n{model!r}")
        print(model.summary(level=level).to_string(index=False))
        print("\n".join(["", *model.notes]))
    return table


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="CSV to write, with a .json beside it "
                        f"(default {DEFAULT_OUT.relative_to(ROOT)}; none with --quick)")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: 3 N values, short windows")
    parser.add_argument("--apps", type=int, nargs="+", help="app counts N, ascending")
    parser.add_argument("--rate-per-app", type=float, help="messages/s per app")
    parser.add_argument("--tick-hz", type=float, help="bursts per second; 0 spreads messages evenly")
    parser.add_argument("--passes", type=int, help="replicate passes over N")
    parser.add_argument("--apps-per-host", type=int, default=BENCH_APPS_PER_HOST,
                        help=f"apps per host component (default {BENCH_APPS_PER_HOST})")
    parser.add_argument("--drain-phase", type=float,
                        help="when the subscribers drain, as a share of the period between bursts")
    parser.add_argument("--unix", action="store_true",
                        help="clients connect over a Unix socket instead of loopback TCP (a diagnostic)")
    parser.add_argument("--private-network", action=argparse.BooleanOptionalAction, default=True,
                        help="run in a network namespace of its own with the transport held fixed "
                             "(default; needs root): see bench/broker_transport.py")
    parser.add_argument("--budget-s", type=float,
                        help="abort after this many seconds (default: twice what the sweep should take)")
    parser.add_argument("--fresh-broker", action=argparse.BooleanOptionalAction, default=True,
                        help="start a new broker for each pass (default), or keep one for the sweep")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing redis-server")
    parser.add_argument("--from-csv", type=Path, help="no experiment: fit and print a saved CSV")
    parser.add_argument("--update-json", action="store_true",
                        help="with --from-csv: rewrite the analysis and held-out check in its JSON")
    parser.add_argument("--cost", choices=["rate", "plain", "quadratic", "auto"], default="rate",
                        help=f"cost form to fit (default: rate, per-connection rate with r0 = {R0:g}/s)")
    parser.add_argument("--cpu", choices=CPU_MEASURES, default="schedstat", help="the broker's CPU measure")
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=True,
                        help="run the broker's event loop under SCHED_FIFO (root), out of other work's way")
    parser.add_argument("--compare-forms", action="store_true",
                        help="also print the candidate cost forms' errors at the held-out N")
    parser.add_argument("--choose-form", nargs="*", type=Path, metavar="CSV",
                        help="no experiment: score the candidate cost forms over saved runs "
                             "(default: the selection runs) and print the table")
    return parser.parse_args(argv)


def _network(private: bool) -> dict[str, Any]:
    """Enter a private network (:func:`broker_transport.private_network`) if asked and allowed.

    Returns
    -------
    dict
        For the run's JSON: ``private`` (bool), ``settings`` (:data:`broker_transport.TRANSPORT`'s
        values) and ``tcp`` (every ``net.ipv4.tcp_*`` setting in force).
    """
    if private:
        try:
            settings = transport.private_network()
        except OSError as exc:
            print(f"broker_fanout: no private network ({exc}); the transport is the host's, and "
                  f"deliveries may share TCP segments (data/measured/README.md)", file=sys.stderr)
        else:
            print(f"broker_fanout: private network namespace, {settings}", flush=True)
            return {"private": True, "settings": settings, "tcp": transport.tcp_sysctls()}
    return {"private": False, "settings": transport.transport_settings(), "tcp": transport.tcp_sysctls()}


def _experiment(args: argparse.Namespace, started: float) -> tuple[pd.DataFrame, dict[str, Any], Design]:
    """Run the sweep on a private broker; the windows and the run's metadata."""
    # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the workers and the server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    given = {"apps": tuple(args.apps) if args.apps else None, "rate_per_app": args.rate_per_app,
             "tick_hz": args.tick_hz, "passes": args.passes, "drain_phase": args.drain_phase}
    sweep = Sweep(**{**asdict(QUICK if args.quick else Sweep()),
                     **{k: v for k, v in given.items() if v is not None}})
    design = Design(apps_per_host=args.apps_per_host)
    executable = ensure_redis_server(install=not args.no_install)
    network = _network(args.private_network)
    print(f"broker_fanout: N = {list(sweep.apps)}, {sweep.rate_per_app:g} msg/s per app in "
          f"{sweep.tick_hz:g} bursts/s; {sweep.passes} passes of {sweep.windows} x {sweep.window_s:g} s "
          f"windows per (N, strategy); {design}", flush=True)

    seen: list[dict[str, Any]] = []  # each broker's environment, taken while it runs

    @contextlib.contextmanager
    def start() -> Iterator[Server]:
        with redis_server(executable, unix=args.unix) as server:
            where = server.unix or f"{HOST}:{server.port}"
            policy = " (SCHED_FIFO)" if args.realtime and realtime(server.pid) else ""
            print(f"redis-server {server.version} pid {server.pid} on {where}{policy}", flush=True)
            seen.append(environment(server))
            yield server

    say = lambda line: print(line, flush=True)  # noqa: E731
    budget_s = args.budget_s if args.budget_s is not None else sweep.budget_s()
    if args.fresh_broker:
        measured = measure_fresh(sweep, design, start=start, budget_s=budget_s, progress=say)
    else:
        with start() as server:
            measured = measure(sweep, design, server=server, budget_s=budget_s, progress=say)
    meta = {"experiment": "bench/broker_fanout.py",
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "environment": seen[-1], "brokers": len(seen),
            "design": {"base_components": design.base_components, "apps_per_host": design.apps_per_host},
            "transport": "unix socket" if args.unix else "loopback TCP", "network": network,
            "strategies": design.strategy_tables(), "sweep": asdict(sweep),
            "fit": {"cores_per_server": 1, "servers": 1, "censor_at": 100.0, "block_days": 1,
                    "fit_apps": list(sweep.apps[:-1]), "predict_apps": sweep.apps[-1]}}
    meta["measure_seconds"] = round(time.monotonic() - started, 1)
    return measured, meta, design


def _notes(measured: pd.DataFrame, meta: dict[str, Any]) -> None:
    other = measured["machine_busy_cores"] - measured["busy_cores"] - measured["client_cores"]
    tick_hz = float(meta.get("sweep", {}).get("tick_hz", 0.0))
    half_period_ms = 500 / tick_hz if tick_hz > 0 else float("inf")
    checks = {
        "delivered another fan-out than designed":
            measured["deliveries_per_message"] != measured["fanout_design"],
        "fell >3 % short of the publish rate":
            measured["published"] + 1 < 0.97 * measured["rate_target"] * measured["window_s"],
        "had other processes using > 0.5 cores (noisier)": other > 0.5,
        # a burst that lasts more than half its period overlaps the subscribers' drain: a saturated rig
        "had bursts longer than half their period (the rig saturates; see data/measured/README.md)":
            measured["max_lag_ms"] > half_period_ms,
    }
    if "machine_steal_cores" in measured:  # runs before 2026-12-03 evening did not record steal time
        steal = float(meta.get("sweep", {}).get("quiet_steal_cores", Sweep().quiet_steal_cores))
        checks[f"were kept with the hypervisor taking > {steal:g} cores (steal time: their CPU reads "
               f"high; data/measured/README.md)"] = measured["machine_steal_cores"] > steal
    if "segments_per_delivery" in measured:  # runs before 2026-12-03 did not count segments
        checks["shared TCP segments between deliveries (< 0.9 segments per delivery): the transport "
               "coalesced writes (data/measured/README.md)"] = measured["segments_per_delivery"] < 0.9
    for what, bad in checks.items():
        if bad.any():
            print(f"note: {int(bad.sum())} of {len(measured)} windows {what}", file=sys.stderr)


def pass_spread(measured: pd.DataFrame) -> pd.DataFrame:
    """How far the passes (each on a broker of its own) disagree, per (N, strategy).

    Returns
    -------
    DataFrame
        apps, strategy, passes, low and high (the smallest and largest mean of a pass) and mean (of
        the windows) [% of one core], and rel_se: the standard error of the mean from the pass means,
        relative to it (the noise of the machine and of the broker processes that one run's held-out
        check carries).
    """
    import numpy as np
    import pandas as pd

    per_pass = measured.groupby(["apps", "strategy", "pass"])["cpu_percent"].mean()
    table = per_pass.groupby(level=["apps", "strategy"]).agg(["size", "min", "max", "std"])
    mean = measured.groupby(["apps", "strategy"])["cpu_percent"].mean()
    return pd.DataFrame({"passes": table["size"], "low": table["min"], "high": table["max"], "mean": mean,
                         "rel_se": table["std"] / np.sqrt(table["size"]) / mean}).reset_index()


def _verdicts(check: dict[str, Any], level: float, spread: pd.DataFrame) -> None:
    held = check["held_out"]
    se = spread.set_index(["apps", "strategy"])["rel_se"]
    inside = ", ".join(f"{h['strategy']} {'yes' if h['lower'] <= h['measured_cores'] <= h['upper'] else 'NO'}"
                       for h in held)
    print(f"\nheld-out N={held[0]['apps']}: measured mean inside the {level:.0%} interval for one window: "
          f"{inside}")
    for h in held:
        error = h["predicted_cores"] / h["measured_cores"] - 1
        close = "yes" if abs(error) <= 0.1 else "NO"
        noise = se.get((h["apps"], h["strategy"]), float("nan"))
        print(f"  {h['strategy']}: measured {100 * h['measured_cores']:.3f} % (standard error between "
              f"passes {noise:.1%}), predicted {100 * h['predicted_cores']:.3f} % ({error:+.1%}; "
              f"within 10 %: {close})")
    r = check["held_out_ratio"]
    inside = "inside" if r["lower"] <= r["measured"] <= r["upper"] else "OUTSIDE"
    print(f"  broadcast / targeted: measured {r['measured']:.1f}, predicted {r['predicted']:.1f} "
          f"[{r['lower']:.1f}, {r['upper']:.1f}]: {inside}")


def _analysed(meta: dict[str, Any], model: MessagingModel, check: dict[str, Any], *, cpu: str,
              level: float) -> dict[str, Any]:
    """The run's metadata with the fit (``analysis``) and the held-out check."""
    analysis = {"cpu": cpu, "cost_form": model.cost.describe(), "level": level,
                "params": {k: float(v) for k, v in model.params.items()}, "notes": list(model.notes)}
    return {**meta, "analysis": analysis, **check}


def main(argv: Sequence[str] | None = None) -> int:
    args = _arguments(argv)
    level, started = 0.9, time.monotonic()
    if args.choose_form is not None:
        scores = choose_form(args.choose_form or SELECTION_RUNS, level=level, cpu=args.cpu)
        print("candidate cost forms over the held-out N of each run (errors relative to measured)\n"
              + scores.round(3).to_string(index=False))
        print(f"chosen: {scores['form'].iloc[0]}")
        return 0
    if args.from_csv:
        measured, meta = load_measured(args.from_csv)
        design = design_of(meta)
    else:
        measured, meta, design = _experiment(args, started)
        out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
        if out is not None:  # saved before the fit, so that a failing fit loses no measurement
            csv, side = save(measured, out, meta=meta)
            print(f"wrote {csv} and {side.name}")
    _notes(measured, meta)
    cost = default_cost() if args.cost == "rate" else args.cost
    model = fit_measured(measured, design, level=level, cost=cost, cpu=args.cpu)
    _print_tables(measured, model, level, args.cpu)
    check = held_out(measured, model, level=level, cpu=args.cpu)
    _verdicts(check, level, pass_spread(cpu_view(measured, args.cpu)))
    if args.compare_forms:
        with_forms = forms_table(measured, design, candidate_forms(), level=level, cpu=args.cpu)
        print("\ncandidate cost forms at the held-out N\n" + with_forms.round(3).to_string(index=False))
    if not args.from_csv and out is not None:
        save(measured, out, meta=_analysed(meta, model, check, cpu=args.cpu, level=level))
        print(f"wrote the held-out check into {side.name}")
    elif args.from_csv and args.update_json:  # the windows stay as measured; only the analysis changes
        side = args.from_csv.with_suffix(".json")
        save_meta(side, _analysed(meta, model, check, cpu=args.cpu, level=level))
        print(f"wrote the analysis and the held-out check into {side}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    from capacity.errors import CapacityError

    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have stopped the workers and the server
        print("broker_fanout: interrupted; the broker and its clients are stopped", file=sys.stderr)
        sys.exit(130)
    except CapacityError as exc:  # e.g. a sweep too small to fit; what was measured is saved already
        print(f"broker_fanout: {exc}", file=sys.stderr)
        sys.exit(1)
