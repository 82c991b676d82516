"""Free TCP ports on 127.0.0.1 for a stack run.

Ports are chosen *below* the kernel's ephemeral range (``ip_local_port_range``). A port the
kernel hands out for ``bind(0)`` comes from that range, and so does the local port of every
outgoing connection. Between allocation and the service's own ``bind``, any client connection
on the host could take such a port. Ports below the range are never picked for outgoing
connections. Each candidate is test-bound before it is returned.

Several stacks may allocate at the same moment (parallel test sessions): a port handed out
but not yet bound by its service would pass another allocator's bind test. So handed-out
ports are also written to a small host-wide registry (a JSON file under a ``flock``) and not
handed out again for ``RESERVE_S`` seconds; by then their services have bound them.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

#: Lowest port handed out (above the registered services most hosts run).
LOW = 20000
#: How long a handed-out port stays reserved for its service to bind it.
RESERVE_S = 120.0
REGISTRY = Path(tempfile.gettempdir()) / f"tracebed-ports-{os.getuid()}.json"


@contextlib.contextmanager
def _registry() -> Iterator[dict[str, float]]:
    """The reservations (port -> expiry, wall clock), locked for the whole block."""
    with open(REGISTRY.with_suffix(".lock"), "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            try:
                data = json.loads(REGISTRY.read_text())
                if not isinstance(data, dict):
                    data = {}
            except (OSError, ValueError):
                data = {}
            now = time.time()
            live = {k: float(v) for k, v in data.items() if isinstance(v, int | float) and v > now}
            yield live
            tmp = REGISTRY.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(live))
            os.replace(tmp, REGISTRY)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


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
    random.shuffle(pool)  # several stacks allocating at once rarely even try the same port
    chosen: list[int] = []
    with _registry() as reserved:
        for port in pool:
            if len(chosen) == count:
                break
            if str(port) not in reserved and _bindable(port):
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
        expiry = time.time() + RESERVE_S
        reserved.update({str(p): expiry for p in chosen})
    return chosen
