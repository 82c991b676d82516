"""Start-up shared by the gRPC services: logging, telemetry, config errors, serving."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Sequence

from grpc_health.v1.health import HealthServicer

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env_port
from tracebed.reference.common.grpc_server import Registration, serve
from tracebed.reference.common.rpc_tracing import ServerTracing, Style


def setup_logging(service_name: str) -> logging.Logger:
    logging.basicConfig(
        level=logging.INFO,
        format=f"%(asctime)s {service_name} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    return logging.getLogger(service_name)


def run_grpc(
    service_name: str,
    style: Style,
    port_env: str,
    build: Callable[[], Sequence[Registration]],
    *,
    health_services: Iterable[str] = ("",),
    baggage: bool = True,
    on_stop: Callable[[], None] | None = None,
    health_servicer: Callable[[], HealthServicer] | None = None,
) -> int:
    """Configure telemetry, build the servicers and serve on ``$port_env`` until SIGTERM."""
    log = setup_logging(service_name)
    try:
        telemetry.setup(service_name, baggage=baggage)
        port = env_port(port_env)
        registrations = build()
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    log.info("%s listening on port %d", service_name, port)
    serve(
        registrations,
        port,
        health_services=health_services,
        interceptors=[ServerTracing(style, tracer_name=service_name)],
        on_stop=on_stop,
        health_servicer=health_servicer() if health_servicer is not None else None,
    )
    return 0
