"""A running stand-in listens on loopback only: nothing of it is reachable from the network."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import psutil

from tests.reference.infra.conftest import require_debian
from tracebed.otlp.sink import Sink
from tracebed.reference.spec import build_spec
from tracebed.stack.runner import Stack
from tracebed.stack.topology import Topology

BACKEND_SERVICES = {
    "ad",
    "cart",
    "checkout",
    "currency",
    "email",
    "payment",
    "product-catalog",
    "quote",
    "recommendation",
    "shipping",
}


def _listening(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP listener and bound UDP socket of `pid` and its children."""
    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []
    out = []
    for proc in procs:
        try:
            conns = proc.net_connections(kind="inet")
        except psutil.NoSuchProcess:
            continue
        for c in conns:
            tcp_listen = c.status == psutil.CONN_LISTEN
            udp_bound = c.type == 2 and not c.raddr  # SOCK_DGRAM, not connected
            if c.laddr and (tcp_listen or udp_bound):
                out.append((c.laddr.ip, c.laddr.port))
    return out


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    # gRPC binds 127.0.0.1 on a dual-stack socket: it shows as ::ffff:127.0.0.1.
    mapped = addr.ipv4_mapped if isinstance(addr, ipaddress.IPv6Address) else None
    return (mapped or addr).is_loopback


def test_every_listening_socket_of_the_stand_in_is_on_loopback(tmp_path: Path, sink: Sink) -> None:
    require_debian("redis-server", "nginx", "prometheus")
    spec = build_spec(tmp_path / "work", sink.grpc_endpoint)
    with Stack(Topology.from_spec(spec), "local", run_dir=tmp_path / "run") as stack:
        pids = {e.service: int(e.detail["pid"]) for e in stack.timeline.events(kind="up")}
        sockets = {name: _listening(pid) for name, pid in pids.items()}
    # Each backend service was seen listening (the check below is not vacuous) ...
    silent = sorted(n for n in BACKEND_SERVICES if not sockets.get(n))
    assert not silent, f"no listening socket found for {silent}"
    # ... and no process of the stand-in listens on anything but loopback.
    exposed = {
        name: [f"{ip}:{port}" for ip, port in socks if not _loopback(ip)]
        for name, socks in sockets.items()
    }
    assert {n: s for n, s in exposed.items() if s} == {}
