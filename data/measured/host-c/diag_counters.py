"""The harness of host C's diagnostics ``diag-bbr-*``, ``diag-cubic`` and ``diag-private`` (2026-12-03).

It runs ``bench/broker_fanout.py`` (the version before its private network) with extra columns per
window: the ``ksoftirqd`` threads' CPU, ``/proc/stat``'s softirq, system, user and idle time per
CPU, NET_RX softirqs per second, the broker's context switches, and TCP counters per second from
``/proc/net/snmp`` and ``/proc/net/netstat``. Usage, from the repository's root:

    .venv/bin/python data/measured/host-c/diag_counters.py --apps 250 1000 2000 --passes 6 --out F

``diag-cubic`` ran with ``sysctl net.ipv4.tcp_congestion_control=cubic`` on the host; ``diag-private``
under ``unshare -n`` with loopback up, CUBIC and ``net.ipv4.tcp_slow_start_after_idle=0``.
``diag-bbr-1`` was made before the TCP counters were added.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
import broker_fanout as bf

TCP = ("OutSegs", "InSegs", "TCPAutoCorking", "DelayedACKs", "TCPHPAcks", "TCPPureAcks", "TCPOrigDataSent",
       "TCPSpuriousRtxHostQueues", "TCPFromZeroWindowAdv", "TCPToZeroWindowAdv", "TCPWantZeroWindowAdv",
       "TCPBacklogCoalesce", "TCPDelivered", "DelayedACKLost", "TCPRcvCoalesce", "TCPOFOQueue", "RetransSegs",
       "TCPLossProbes")


def _ksoftirqd() -> dict[str, int]:
    pids = {}
    for p in filter(str.isdigit, os.listdir("/proc")):
        try:
            name = Path(f"/proc/{p}/comm").read_text().strip()
        except OSError:
            continue
        if name.startswith("ksoftirqd/"):
            pids[name] = int(p)
    return pids


KSOFTIRQD = _ksoftirqd()
SNAPSHOTS: list[dict[str, int]] = []


def _counters(pid: int) -> dict[str, int]:
    d = {name: int(Path(f"/proc/{p}/schedstat").read_text().split()[0]) for name, p in KSOFTIRQD.items()}
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("cpu") and line[3] != " ":
            v = line.split()
            d.update({f"{v[0]}_user": int(v[1]), f"{v[0]}_sys": int(v[3]), f"{v[0]}_idle": int(v[4]),
                      f"{v[0]}_softirq": int(v[7])})
    for line in Path("/proc/softirqs").read_text().splitlines():
        if "NET_RX" in line:
            d.update({f"netrx{i}": int(x) for i, x in enumerate(line.split()[1:])})
    for path, prefix in (("snmp", "Tcp:"), ("netstat", "TcpExt:")):
        d.update({k: v for k, v in bf.transport._counters(path, prefix).items() if k in TCP})
    stat = Path(f"/proc/{pid}/stat").read_text()
    d["broker_cpu"] = int(stat[stat.rindex(")") + 2:].split()[36])
    for tid in os.listdir(f"/proc/{pid}/task"):
        for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
            if "ctxt_switches" in line:
                k, v = line.split(":")
                d[k] = d.get(k, 0) + int(v)
    return d


def cpu_ns(pid: int) -> int:  # called once per snapshot: take the extra counters with it
    SNAPSHOTS.append(_counters(pid))
    return _cpu_ns(pid)


def window_row(a: dict, b: dict, **kw) -> dict:
    row = _window_row(a, b, **kw)
    x, y, wall = SNAPSHOTS[-2], SNAPSHOTS[-1], row["window_s"]
    clk = os.sysconf("SC_CLK_TCK")
    row["ksoftirqd_cores"] = sum(y[n] - x[n] for n in KSOFTIRQD) / 1e9 / wall
    row.update({n.replace("/", ""): (y[n] - x[n]) / 1e9 / wall for n in KSOFTIRQD})
    row.update({f"{c}_{k}": (y[f"{c}_{k}"] - x[f"{c}_{k}"]) / clk / wall
                for c in ("cpu0", "cpu1") for k in ("sys", "softirq", "user", "idle")})
    row.update({f"netrx{i}_per_s": (y[f"netrx{i}"] - x[f"netrx{i}"]) / wall for i in (0, 1)})
    row["broker_cpu_end"] = y["broker_cpu"]
    row["vol_cs_per_s"] = (y["voluntary_ctxt_switches"] - x["voluntary_ctxt_switches"]) / wall
    row["invol_cs_per_s"] = (y["nonvoluntary_ctxt_switches"] - x["nonvoluntary_ctxt_switches"]) / wall
    row.update({k: (y[k] - x[k]) / wall for k in TCP if k in y})
    return row


_cpu_ns, _window_row = bf.cpu_ns, bf._window_row
bf.cpu_ns, bf._window_row = cpu_ns, window_row

if __name__ == "__main__":
    sys.exit(bf.main(sys.argv[1:]))
