"""Free TCP ports on 127.0.0.1 for a stack run.

Ports are chosen *below* the kernel's ephemeral range (``ip_local_port_range``). A port the
kernel hands out for ``bind(0)`` comes from that range, and so does the local port of every
outgoing connection. Between allocation and the service's own ``bind``, any client connection
on the host could take such a port. Ports below the range are never picked for outgoing
connections. Each candidate is test-bound before it is returned.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

#: Lowest port handed out (above the registered services most hosts run).
LOW = 20000


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_ports(count: int) -> list[int]:
    """``count`` distinct ports that nothing listens on now, outside the ephemeral range."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    eph_low, _ = _ephemeral_range()
    pool = list(range(LOW, eph_low))
    random.shuffle(pool)  # several stacks allocating at once rarely pick the same port
    chosen: list[int] = []
    for port in pool:
        if len(chosen) == count:
            break
        if _bindable(port):
            chosen.append(port)
    if len(chosen) < count:  # tiny or odd ephemeral range: let the kernel choose the rest
        socks = []
        try:
            while len(chosen) < count:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.bind(("127.0.0.1", 0))
                socks.append(s)
                if s.getsockname()[1] not in chosen:
                    chosen.append(s.getsockname()[1])
        finally:
            for s in socks:
                s.close()
    return chosen
