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
limits these rates: CUBIC, and no restart of the window after idle. Every delivery then leaves in a
segment of its own at every N, as it does on a busy production connection whose window has
grown, and the namespace's counters (:func:`data_segments`) count only the bench's own traffic.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import os
import socket
import struct

CLONE_NEWNET = 0x40000000  # <linux/sched.h>
SIOCGIFFLAGS, SIOCSIFFLAGS, IFF_UP = 0x8913, 0x8914, 0x1  # <linux/sockios.h>, <net/if.h>
IFREQ = "16sh22x"  # struct ifreq on 64-bit Linux: the name, then ifr_flags in the 24-byte union

#: what :func:`private_network` sets inside its namespace (``/proc/sys`` paths)
TRANSPORT = {"net/ipv4/tcp_congestion_control": "cubic", "net/ipv4/tcp_slow_start_after_idle": "0"}


def private_network() -> dict[str, str]:
    """Move this process into a new network namespace with loopback up and :data:`TRANSPORT` set.

    Processes started afterwards (the broker and the bench's clients) inherit the namespace; the
    host's network and settings are untouched. Call it before starting any of them.

    Returns
    -------
    dict
        The namespace's settings, read back from ``/proc/sys``.

    Raises
    ------
    OSError
        When the kernel refuses (``unshare(CLONE_NEWNET)`` needs root or CAP_SYS_ADMIN), or a
        setting did not take.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET): {os.strerror(err)}")
    _loopback_up()
    for key, value in TRANSPORT.items():
        with open(f"/proc/sys/{key}", "w") as f:
            f.write(value)
    settings = transport_settings()
    wrong = {k: v for k, v in settings.items() if v != TRANSPORT[k]}
    if wrong:
        raise OSError(f"the private network did not take {wrong} (wanted {TRANSPORT})")
    return settings


def _loopback_up() -> None:
    """``ip link set lo up``, without needing iproute2."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        flags = struct.unpack(IFREQ, fcntl.ioctl(s, SIOCGIFFLAGS, struct.pack(IFREQ, b"lo", 0)))[1]
        fcntl.ioctl(s, SIOCSIFFLAGS, struct.pack(IFREQ, b"lo", flags | IFF_UP))


def transport_settings() -> dict[str, str]:
    """The current network namespace's values of the :data:`TRANSPORT` settings."""
    values = {}
    for key in TRANSPORT:
        with contextlib.suppress(OSError), open(f"/proc/sys/{key}") as f:
            values[key] = f.read().strip()
    return values


def data_segments() -> int:
    """TCP segments with new data sent in this network namespace since it began (``TCPOrigDataSent``
    of ``/proc/net/netstat``; retransmissions and pure acknowledgements are not counted)."""
    with open("/proc/net/netstat") as f:
        lines = f.read().splitlines()
    for header, values in zip(lines[::2], lines[1::2], strict=True):
        if header.startswith("TcpExt:"):
            return int(dict(zip(header.split()[1:], values.split()[1:], strict=True))["TCPOrigDataSent"])
    raise OSError("/proc/net/netstat has no TcpExt line")
