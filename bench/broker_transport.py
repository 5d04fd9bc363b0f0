"""The broker bench's TCP transport: a network of its own, and the kernel's segment counters.

Over loopback TCP the broker's CPU per delivery is mostly the cost of the TCP segments that carry
it (the receiver's kernel work runs in the sender's context and is billed to the broker). How many
segments a delivery takes is the transport's business, not the broker's: when a connection's
congestion window is full, the kernel appends the next writes to the segment still waiting and
sends them together. On loopback with BBR (the window is sized from a round trip of microseconds: a
few segments) and with the window reset after every idle gap between the bench's bursts, that
coalescing switches on and off between broker processes at the largest broadcast, and a pass's CPU
there moves by a factor of two with it (data/measured/README.md, "What the held-out point
measured").

:func:`private_network` moves the bench into a network namespace of its own where the window never
limits these rates: CUBIC (Reno only where the kernel has no CUBIC or will not let it be allowed;
see :data:`CONGESTION`), a loss-based congestion control whose window grows until a loss, and
loopback loses nothing; and no restart of the window after idle. Every delivery then leaves in a
segment of its own at every N, and the namespace's counters (:func:`data_segments`,
:func:`retransmitted_segments`) count only the bench's own traffic.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct
import threading
from collections.abc import Callable, Iterator

CLONE_NEWNET = 0x40000000  # <linux/sched.h>
TCP_SYSCTLS = "/proc/sys/net/ipv4"
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # <linux/sockios.h>, <net/if.h>
IFREQ = "16sh22x"  # struct ifreq on 64-bit Linux: the name, then ifr_flags in the 24-byte union

#: what :func:`private_network` sets inside its namespace (``/proc/sys`` paths)
TRANSPORT = {"net/ipv4/tcp_congestion_control": "cubic", "net/ipv4/tcp_slow_start_after_idle": "0"}
#: the congestion controls a namespace may take, in order. Only the host's own namespace may make an
#: algorithm the default that is not in the host's ``tcp_allowed_congestion_control`` (the kernel
#: answers EPERM), so :func:`private_network` adds CUBIC to that list while it sets the namespace up;
#: Reno, built into every kernel and always allowed, is the last resort. It is loss-based like CUBIC
#: but not the same transport as CUBIC, on which the cost form was validated (data/measured/README.md,
#: "Host D": there the largest broadcast cost 16.1-17.3 % of a core under Reno, 17.5-19.9 % under CUBIC).
CONGESTION = ("cubic", "reno")
ALLOWED = "net/ipv4/tcp_allowed_congestion_control"
AVAILABLE = "net/ipv4/tcp_available_congestion_control"

_private = False  # set once this process is in the namespace of private_network()


def private_network() -> dict[str, str]:
    """Move the calling thread into a new network namespace with loopback up and :data:`TRANSPORT` set.

    Processes it starts afterwards (the broker and the bench's clients) inherit the namespace; the
    host's network and settings are as they were (its ``tcp_allowed_congestion_control`` holds CUBIC
    for the moment the namespace's default is set, see :data:`CONGESTION`). Call it from the main
    thread before any other thread or process is started: ``unshare`` moves only the calling thread.

    Returns
    -------
    dict
        The namespace's settings, read back from ``/proc/sys``.

    Raises
    ------
    OSError
        When the kernel refuses (``unshare(CLONE_NEWNET)`` needs CAP_SYS_ADMIN), another thread runs,
        or a setting did not take; the thread is then back in the namespace it started in.
    """
    global _private
    if threading.active_count() != 1:
        raise OSError("private_network() must run before any other thread starts")
    libc = ctypes.CDLL(None, use_errno=True)
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        with _cubic_allowed(libc, home):
            if libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
            try:
                settings = _set_up()
            except OSError:
                # half set up: go back rather than run in it
                _setns(libc, home, "back to the host's network")
                raise
    finally:
        os.close(home)
    _private = True
    return settings


@contextlib.contextmanager
def _cubic_allowed(libc: ctypes.CDLL, home: int) -> Iterator[None]:
    """CUBIC in the host's ``tcp_allowed_congestion_control`` while the body runs (when the kernel has
    it and the list lacks it), then the host's list as it was, written in the host's namespace
    ``home`` (the list is the host's alone: a namespace can read it, not write it). A namespace keeps
    the default it was given; the list only limits what may be set."""
    original = _read(ALLOWED)
    available = (_read(AVAILABLE) or "").split()
    widen = original is not None and "cubic" not in original.split() and "cubic" in available
    if widen:
        try:
            _write(ALLOWED, f"{original} cubic")
        except OSError:  # e.g. root of a user namespace only: the namespace falls back to Reno
            widen = False
    try:
        yield
    finally:
        if widen:
            _in_namespace(libc, home, lambda: _write(ALLOWED, original))


def _in_namespace(libc: ctypes.CDLL, ns: int, action: Callable[[], None]) -> None:
    """Run ``action`` in the network namespace ``ns`` (a descriptor), then return to this one."""
    if os.fstat(ns).st_ino == os.stat("/proc/thread-self/ns/net").st_ino:
        action()
        return
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(libc, ns, "to the host's network")
        try:
            action()
        finally:
            _setns(libc, here, "back to the private network")
    finally:
        os.close(here)


def _setns(libc: ctypes.CDLL, ns: int, where: str) -> None:
    if libc.setns(ns, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns {where}: {os.strerror(err)}")


def _read(key: str) -> str | None:
    """One ``/proc/sys`` setting, whitespace collapsed; None when it cannot be read."""
    try:
        with open(f"/proc/sys/{key}") as f:
            return " ".join(f.read().split())
    except OSError:
        return None


def _set_up() -> dict[str, str]:
    """Loopback up and :data:`TRANSPORT` written in the current namespace (the congestion control the
    first of :data:`CONGESTION` the kernel takes); its settings, checked."""
    _loopback_up()
    key = "net/ipv4/tcp_congestion_control"
    for algorithm in CONGESTION:
        try:
            _write(key, algorithm)
            break
        except PermissionError:
            if algorithm == CONGESTION[-1]:
                raise
    wanted = TRANSPORT | {key: algorithm}
    for k, value in TRANSPORT.items():
        if k != key:
            _write(k, value)
    settings = transport_settings()
    wrong = {k: settings.get(k) for k in wanted if settings.get(k) != wanted[k]}
    if wrong:
        raise OSError(f"the private network did not take {wrong} (wanted {wanted})")
    return settings


def _write(key: str, value: str) -> None:
    """Write one ``/proc/sys`` setting; an error names it."""
    try:
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    except OSError as exc:
        raise type(exc)(exc.errno, f"setting {key.replace('/', '.')} = {value}: {exc.strerror}") from None


def in_private_network() -> bool:
    """Whether this process entered :func:`private_network`: only then do the counters of
    :func:`data_segments` and :func:`retransmitted_segments` hold the bench's own traffic alone."""
    return _private


def _loopback_up() -> None:
    """``ip link set lo up``, without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def transport_settings() -> dict[str, str]:
    """The current network namespace's values of the :data:`TRANSPORT` settings.

    Returns
    -------
    dict
        ``/proc/sys`` path to value; a setting that cannot be read is left out.
    """
    tcp = tcp_sysctls()
    names = {key: key.rsplit("/", 1)[1] for key in TRANSPORT}
    return {key: tcp[name] for key, name in names.items() if name in tcp}


def tcp_sysctls() -> dict[str, str]:
    """Every ``net.ipv4.tcp_*`` setting of the current namespace (a new namespace starts from the
    kernel's defaults, not the host's values), for the run's JSON.

    Returns
    -------
    dict
        Setting name to value, whitespace collapsed.
    """
    names = [name for name in sorted(os.listdir(TCP_SYSCTLS)) if name.startswith("tcp_")]
    values = {name: _read(f"net/ipv4/{name}") for name in names}
    return {name: value for name, value in values.items() if value is not None}


def _counters(path: str, prefix: str) -> dict[str, int]:
    """The counters of one protocol line pair (``prefix``) of ``/proc/thread-self/net/<path>``: the
    calling thread's namespace, which :func:`private_network` changed (``/proc/net`` would follow
    the main thread's)."""
    with open(f"/proc/thread-self/net/{path}") as f:
        lines = f.read().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=True):
        if header.startswith(prefix):
            return {k: int(v) for k, v in zip(header.split()[1:], values.split()[1:], strict=True)}
    raise OSError(f"/proc/thread-self/net/{path} has no {prefix} line")


def data_segments() -> int:
    """TCP segments with new data sent in this network namespace so far (``TCPOrigDataSent``).

    Retransmissions and pure acknowledgements are not counted (:func:`retransmitted_segments`).
    """
    return _counters("netstat", "TcpExt:")["TCPOrigDataSent"]


def retransmitted_segments() -> int:
    """TCP segments retransmitted in this network namespace so far (``RetransSegs``; loss probes
    included)."""
    return _counters("snmp", "Tcp:")["RetransSegs"]
