"""Validate the messaging cost model ``busy_cores = u0 + a*N + b*N*F_s(N)`` on a real Redis broker.

Run: ``.venv/bin/python bench/broker_fanout.py`` (``make bench-broker``; about 3.5 min on 2 cores).
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
- **CPU**: per steady window, ``(utime + stime)`` of the server from ``/proc/<pid>/stat`` (ticks /
  ``SC_CLK_TCK``) over wall time = busy cores; ``/proc/<pid>/task/*/schedstat`` (ns) is kept as a
  cross-check. Two passes over N (ascending, then descending) replicate every (N, strategy) run, so
  drift in the machine's other load is not confounded with N. A latency window follows the CPU
  windows of each run: the probe (router 0, a redis-py PubSub) then blocks on its socket and
  histograms publish-to-delivery times.

Two choices remove effects of the set-up that would make a message's or a delivery's cost depend
on N (both found by measuring; data/measured/README.md has the numbers and what remains: over TCP
a delivery still gets cheaper as each connection's message rate grows, which ``--unix`` shows is
TCP's doing):

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

The bulk subscribers speak RESP on raw sockets and only count what they drain: a redis-py PubSub
parses every message in Python, which at the largest broadcast (~70,000 deliveries/s) would cost
the clients more CPU than the broker. The publisher, the probe and administration use ``redis``.

Model fit
---------
Each window is one sample for :func:`capacity.fit_messaging` with ``servers = 1`` and
``cores_per_server = 1``: Redis executes commands on one thread, so one core is its capacity and
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Worker processes are spawned and import this module: numpy, pandas, redis and capacity are imported
# inside the functions that need them, so that the workers start fast.
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
Clock = tuple[float, float, float]  # (epoch [s, time.monotonic], bursts per second, drain interval [s])


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
    passes: int = 2  #: replicate passes over ``apps`` (ascending, descending, ...)
    windows: int = 2  #: CPU windows per (N, strategy) run
    window_s: float = 3.0  #: window length (rounded to whole bursts)
    warmup_s: float = 0.75  #: wait after the first message before the first window
    latency_s: float = 1.0  #: latency window after the CPU windows
    tick_hz: float = 4.0  #: bursts per second; 0 spreads the messages evenly (module docstring)
    payload_bytes: int = 64  #: message body
    drain_sleep_s: float = 0.02  #: subscribers' drain interval when ``tick_hz = 0``

    def __post_init__(self) -> None:
        if len(self.apps) < 2 or list(self.apps) != sorted(set(self.apps)) or self.apps[0] < 1:
            raise ValueError(f"apps must be >= 2 distinct ascending counts >= 1, not {self.apps}")
        if not (self.rate_per_app > 0 and self.window_s > 0 and self.warmup_s >= 0 and self.tick_hz >= 0):
            raise ValueError("rate_per_app and window_s must be > 0, warmup_s and tick_hz >= 0")
        if self.windows < 1 or self.passes < 1 or self.payload_bytes < 32:
            raise ValueError("windows and passes must be >= 1 and payload_bytes >= 32")


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


def machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of the whole machine, from ``/proc/stat``."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:9]]
    return sum(values) - values[3] - values[4], sum(values)  # idle and iowait are not busy


# --------------------------------------------------------------------------------------------
# client processes (spawned; they ignore Ctrl-C and are stopped by the parent)


def _resp(*args: str) -> bytes:
    """A command in the Redis protocol."""
    return b"*%d\r\n" % len(args) + b"".join(b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)


def _until_gap(clock: Clock, phase: float = 0.5) -> None:
    """Sleep until ``phase`` of the way from one burst to the next (without bursts: one drain
    interval)."""
    epoch, tick_hz, drain_sleep = clock
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
    epoch, tick_hz, _ = clock
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


def measure(sweep: Sweep = Sweep(), design: Design = Design(), *, server: Server,
            budget_s: float = 280.0, progress: Callable[[str], None] | None = print) -> pd.DataFrame:
    """Drive a running broker through the sweep: one row per CPU window.

    Parameters
    ----------
    sweep, design : Sweep, Design
    server : Server
        From :func:`redis_server`.
    budget_s : float
        Wall-clock budget [s]; past it a TimeoutError is raised (the workers are stopped).
    progress : callable or None
        Called with one line per (N, strategy) run.

    Returns
    -------
    DataFrame
        The columns described in ``data/measured/README.md``.
    """
    import pandas as pd

    end = time.monotonic() + budget_s

    def left(what: str) -> float:
        if time.monotonic() > end:
            raise TimeoutError(f"broker_fanout: time budget of {budget_s:g} s exceeded ({what})")
        return end - time.monotonic()

    ctx = mp.get_context("spawn")
    admin = server.client(socket_timeout=5)
    clock = (time.monotonic(), sweep.tick_hz, sweep.drain_sleep_s)  # one burst schedule for all
    rows: list[dict[str, Any]] = []
    # passes alternate ascending and descending N: a drift in other load is not confounded with N
    schedule = [(p, n) for p in range(sweep.passes) for n in (sweep.apps[::-1] if p % 2 else sweep.apps)]
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
                new = _measure_run(ctx, sweep, design, server, apps, strategy, len(rows) // sweep.windows,
                                   clock, workers, shared, left)
                for row in new:
                    row["pass"] = pass_
                rows += new
                if progress is not None:
                    mean = {k: sum(r[k] for r in new) / len(new) for k in ("cpu_percent", "rate",
                                                                            "client_cores")}
                    progress(f"pass {pass_ + 1} N={apps:>5} {strategy:<9} F={new[0]['fanout_design']:>4}  "
                             f"cpu={mean['cpu_percent']:6.2f} %  rate={mean['rate']:6.1f}/s  p50="
                             f"{new[0]['latency_p50_ms']:6.2f} ms  clients={mean['client_cores']:.2f} cores")
        finally:
            stop.set()
            _stop_all(workers)
    admin.close()
    return pd.DataFrame(rows)


def _measure_run(ctx: Any, sweep: Sweep, design: Design, server: Server, apps: int, strategy: str,
                 run: int, clock: Clock, workers: list, shared: dict[str, Any],
                 left: Callable[[str], float]) -> list[dict[str, Any]]:
    """One (N, strategy): publisher, warm-up, the CPU windows, then the latency window."""
    import pandas as pd

    clk = os.sysconf("SC_CLK_TCK")
    rate = sweep.rate_per_app * apps
    stop_pub, stats = ctx.Event(), ctx.Array("q", 3, lock=False)
    length = sweep.warmup_s + sweep.windows * sweep.window_s + sweep.latency_s + 30
    publisher = ctx.Process(target=_publisher, daemon=True, args=(
        server, apps, strategy, rate, clock, sweep.payload_bytes, stop_pub, stats,
        min(length, left(f"N={apps} {strategy}"))))
    hist, received = shared["hist"], shared["received"]
    rows = []
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

        def snapshot() -> dict[str, Any]:
            return {"t": time.monotonic(), "ticks": cpu_ticks(server.pid), "ns": cpu_ns(server.pid),
                    "clients": sum(cpu_ticks(p) for p in clients), "machine": machine_ticks(),
                    "published": stats[0], "deliveries": stats[1],
                    "received": received.value + hist[LAT_BINS]}

        start = time.monotonic()
        for window in range(sweep.windows):
            left(f"N={apps} {strategy} window {window}")
            if not publisher.is_alive():
                raise RuntimeError(f"N={apps} {strategy}: the publisher died (exit {publisher.exitcode})")
            stats[2] = 0
            measured_at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            a = snapshot()
            time.sleep(max(start + (window + 1) * window_s - time.monotonic(), 0))
            b = snapshot()
            wall = b["t"] - a["t"]
            cpu_s = (b["ticks"] - a["ticks"]) / clk
            published, deliveries = b["published"] - a["published"], b["deliveries"] - a["deliveries"]
            busy, total = (y - x for x, y in zip(a["machine"], b["machine"], strict=True))
            rows.append({
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
                "max_lag_ms": stats[2] / 1000, "client_cores": (b["clients"] - a["clients"]) / clk / wall,
                "machine_busy_cores": busy / max(total, 1) * (os.cpu_count() or 1),
            })
        before = list(hist[:LAT_BINS])
        shared["blocking"].value = 1
        time.sleep(sweep.latency_s)
        shared["blocking"].value = 0
        lat = [y - x for x, y in zip(before, hist[:LAT_BINS], strict=True)]
        p50, p99 = _latency_quantiles(lat, (0.5, 0.99))
        for row in rows:
            row.update(latency_p50_ms=p50, latency_p99_ms=p99, latency_samples=sum(lat))
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
    }


def save(measured: pd.DataFrame, path: Path, *, meta: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``path`` (CSV) and ``path.with_suffix('.json')``, each atomically."""
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
    """The measured windows (``timestamp`` parsed) and the run's metadata (the JSON beside the CSV)."""
    import pandas as pd

    path = Path(path)
    return pd.read_csv(path, parse_dates=["timestamp"]), json.loads(path.with_suffix(".json").read_text())


def design_of(meta: dict[str, Any]) -> Design:
    """The :class:`Design` a saved run used."""
    return Design(**meta["design"])


# --------------------------------------------------------------------------------------------
# model vs measurement


def fit_measured(measured: pd.DataFrame, design: Design, *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.9) -> MessagingModel:
    """:func:`capacity.fit_messaging` on the windows marked ``in_fit`` (the smaller N, both
    strategies): one server of one core, censored at 100 %, bootstrap blocks of one run."""
    from capacity.load.messaging import fit_messaging

    return fit_messaging(measured[measured["in_fit"].astype(bool)], strategies=design.strategies(),
                         cores_per_server=1, censor_at=100.0, block_days=1, n_boot=n_boot, seed=seed,
                         level=level)


def compare(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> pd.DataFrame:
    """Measured vs predicted broker CPU per (N, strategy).

    Returns
    -------
    DataFrame
        apps, strategy, in_fit, deliveries (per message), rate [messages/s], windows, measured (mean
        over windows) and measured_sd (between windows) [% of one core], predicted (the model's
        mean), mean_lower/mean_upper (interval of the mean: parameter uncertainty), lower/upper
        (interval for one window: parameters plus window-to-window noise), inside (measured within
        lower..upper), windows_inside (share of single windows within it), latency_p50_ms and
        latency_p99_ms (median over the runs).
    """
    import pandas as pd

    table = measured.groupby(["apps", "strategy"], sort=True).agg(
        in_fit=("in_fit", "all"), deliveries=("deliveries_per_message", "mean"), rate=("rate", "mean"),
        windows=("cpu_percent", "size"), measured=("cpu_percent", "mean"),
        measured_sd=("cpu_percent", "std"), latency_p50_ms=("latency_p50_ms", "median"),
        latency_p99_ms=("latency_p99_ms", "median"),
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
                               "inside", "windows_inside", "latency_p50_ms", "latency_p99_ms"]])


def ratios(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> pd.DataFrame:
    """Broadcast / targeted CPU at each N: measured (ratio of the window means) vs predicted, with
    the percentile interval over the model's bootstrap replicates.

    Returns
    -------
    DataFrame
        apps, in_fit, measured, predicted, lower, upper.
    """
    import numpy as np
    import pandas as pd

    from capacity.load.messaging import busy_cores

    means = measured.groupby(["apps", "strategy"])["busy_cores"].mean().unstack("strategy")
    apps = means.index.to_numpy(dtype=float)
    broadcast, targeted = (model.strategies[s] for s in STRATEGY_NAMES)

    def ratio(params: Any, grid: Any) -> Any:
        with np.errstate(divide="ignore", invalid="ignore"):  # a replicate may put every cost at 0
            return (busy_cores(grid, strategy=broadcast, params=params)
                    / busy_cores(grid, strategy=targeted, params=params))

    draws = ratio(model.boot, apps[None, :])
    tail = (1 - level) / 2
    lo, hi = np.nanquantile(np.where(np.isfinite(draws), draws, np.nan), [tail, 1 - tail], axis=0)
    return pd.DataFrame({
        "apps": means.index.to_numpy(), "in_fit": means.index.isin(measured.loc[measured["in_fit"], "apps"]),
        "measured": (means["broadcast"] / means["targeted"]).to_numpy(),
        "predicted": ratio(model.params, apps), "lower": lo, "upper": hi,
    })


def chart(measured: pd.DataFrame, model: MessagingModel, *, level: float = 0.9) -> alt.LayerChart:
    """Broker CPU against apps, log-log: the model fitted on the smaller N with its interval for one
    window, and the measured windows (hollow squares: held out of the fit, predicted). Windows in
    which the broker used less than one clock tick read 0 and cannot be drawn on a log axis."""
    import altair as alt
    import numpy as np
    import pandas as pd

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


def _print_tables(measured: pd.DataFrame, model: MessagingModel, level: float) -> pd.DataFrame:
    import pandas as pd

    def interval(lo: pd.Series, hi: pd.Series, fmt: str) -> list[str]:
        return [f"[{a:{fmt}}, {b:{fmt}}]" for a, b in zip(lo, hi, strict=True)]

    table, ratio = compare(measured, model, level=level), ratios(measured, model, level=level)
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
    })
    show_ratio = pd.DataFrame({
        "N": ratio["apps"], "role": ratio["in_fit"].map(fit), "measured b/t": ratio["measured"].round(2),
        "predicted b/t": ratio["predicted"].round(2),
        f"{level:.0%} interval": interval(ratio["lower"], ratio["upper"], ".2f"),
    })
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(f"\nbroker CPU [% of one core] per (N, strategy): mean of the windows vs the model fitted "
              f"on N < {int(measured['apps'].max())}")
        print(show.to_string(index=False))
        print("\nbroadcast / targeted CPU ratio")
        print(show_ratio.to_string(index=False))
        print(f"\n{model!r}")
        print(model.summary(level=level).to_string(index=False))
    return table


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, help="CSV to write, with a .json beside it "
                        f"(default {DEFAULT_OUT.relative_to(ROOT)}; none with --quick)")
    parser.add_argument("--quick", action="store_true", help="a ~30 s smoke run: 3 N values, short windows")
    parser.add_argument("--apps", type=int, nargs="+", help="app counts N, ascending")
    parser.add_argument("--rate-per-app", type=float, help="messages/s per app")
    parser.add_argument("--tick-hz", type=float, help="bursts per second; 0 spreads messages evenly")
    parser.add_argument("--passes", type=int, help="replicate passes over N")
    parser.add_argument("--unix", action="store_true",
                        help="clients connect over a Unix socket instead of loopback TCP (a diagnostic)")
    parser.add_argument("--budget-s", type=float, default=280.0, help="abort after this many seconds")
    parser.add_argument("--no-install", action="store_true", help="fail instead of installing redis-server")
    parser.add_argument("--from-csv", type=Path, help="no experiment: fit and print a saved CSV")
    args = parser.parse_args(argv)
    level = 0.9

    started = time.monotonic()
    if args.from_csv:
        measured, meta = load_measured(args.from_csv)
        design = design_of(meta)
    else:
        # SIGTERM unwinds like Ctrl-C, so the finally blocks stop the workers and the server
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        given = {"apps": tuple(args.apps) if args.apps else None, "rate_per_app": args.rate_per_app,
                 "tick_hz": args.tick_hz, "passes": args.passes}
        sweep = Sweep(**{**asdict(QUICK if args.quick else Sweep()),
                         **{k: v for k, v in given.items() if v is not None}})
        design = Design()
        executable = ensure_redis_server(install=not args.no_install)
        print(f"broker_fanout: N = {list(sweep.apps)}, {sweep.rate_per_app:g} msg/s per app in "
              f"{sweep.tick_hz:g} bursts/s; {sweep.passes} passes of {sweep.windows} x {sweep.window_s:g} s "
              f"windows per (N, strategy); {design}", flush=True)
        with redis_server(executable, unix=args.unix) as server:
            where = server.unix or f"{HOST}:{server.port}"
            print(f"redis-server {server.version} pid {server.pid} on {where}", flush=True)
            measured = measure(sweep, design, server=server, budget_s=args.budget_s,
                               progress=lambda line: print(line, flush=True))
            meta = {"experiment": "bench/broker_fanout.py",
                    "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "environment": environment(server),
                    "design": {"base_components": design.base_components,
                               "apps_per_host": design.apps_per_host},
                    "transport": "unix socket" if args.unix else "loopback TCP",
                    "strategies": design.strategy_tables(), "sweep": asdict(sweep),
                    "fit": {"cores_per_server": 1, "servers": 1, "censor_at": 100.0, "block_days": 1,
                            "fit_apps": list(sweep.apps[:-1]), "predict_apps": sweep.apps[-1]}}
        meta["measure_seconds"] = round(time.monotonic() - started, 1)
        out = args.out if args.out is not None else (None if args.quick else DEFAULT_OUT)
        if out is not None:
            csv, side = save(measured, out, meta=meta)
            print(f"wrote {csv} and {side.name}")
    checks = {
        "delivered another fan-out than designed":
            measured["deliveries_per_message"] != measured["fanout_design"],
        "fell >3 % short of the publish rate":
            measured["published"] + 1 < 0.97 * measured["rate_target"] * measured["window_s"],
        "had other processes using > 0.5 cores (noisier)":
            measured["machine_busy_cores"] - measured["busy_cores"] - measured["client_cores"] > 0.5,
    }
    for what, bad in checks.items():
        if bad.any():
            print(f"note: {int(bad.sum())} of {len(measured)} windows {what}", file=sys.stderr)
    table = _print_tables(measured, fit_measured(measured, design, level=level), level)
    held = table[~table["in_fit"]]
    verdicts = ", ".join(f"{s} {'yes' if ok else 'NO'}" for s, ok in zip(held["strategy"], held["inside"],
                                                                           strict=True))
    print(f"\nheld-out N={int(held['apps'].iloc[0])}: measured mean inside the {level:.0%} interval for one "
          f"window: {verdicts}")
    print(f"total {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # the finally blocks have stopped the workers and the server
        print("broker_fanout: interrupted; the broker and its clients are stopped", file=sys.stderr)
        sys.exit(130)
