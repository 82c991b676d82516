"""Run a gRPC server with grpc.health.v1 and a graceful SIGTERM stop."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import bind_host

Registration = Callable[[grpc.Server], None]


def serve(
    registrations: Sequence[Registration],
    port: int,
    *,
    health_services: Iterable[str] = ("",),
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    host: str | None = None,
    max_workers: int = 16,
    grace_seconds: float = 2.0,
    on_stop: Callable[[], None] | None = None,
    health_servicer: health.HealthServicer | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and flush telemetry.

    ``registrations`` are callables like ``lambda s: add_XServicer_to_server(impl, s)``.
    ``health_services`` are the service names reported SERVING (``""`` = whole server).
    ``host`` defaults to ``bind_host()`` (loopback).
    """
    host = host or bind_host()
    server = build_server(registrations, interceptors=interceptors, max_workers=max_workers)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind gRPC port {host}:{port}")
    health_servicer = health_servicer or health.HealthServicer()
    for name in health_services:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    stopped = threading.Event()

    def _stop(_signum: int, _frame: object) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    server.start()
    try:
        stopped.wait()
    finally:
        health_servicer.enter_graceful_shutdown()
        server.stop(grace_seconds).wait()
        if on_stop is not None:
            on_stop()
        telemetry.shutdown()


def build_server(
    registrations: Sequence[Registration],
    *,
    interceptors: Sequence[grpc.ServerInterceptor] = (),
    max_workers: int = 16,
) -> grpc.Server:
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers), interceptors=list(interceptors)
    )
    for register in registrations:
        register(server)
    return server
