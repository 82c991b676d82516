"""`tracebed sink`: run the OTLP sink on its own, with its query API."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import click

from tracebed.cli._params import PORT, POSITIVE, BadInput
from tracebed.otlp.sink import DEFAULT_MAX_SPANS, Sink


@click.command("sink")
@click.option(
    "--grpc-port",
    type=PORT,
    default=4317,
    show_default=True,
    help="OTLP/gRPC port (0: any free port).",
)
@click.option(
    "--http-port",
    type=PORT,
    default=4318,
    show_default=True,
    help="OTLP/HTTP + query API port (0: any).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--max-spans",
    type=POSITIVE,
    default=DEFAULT_MAX_SPANS,
    show_default=True,
    help="Memory bound in spans.",
)
@click.option(
    "--when-full",
    type=click.Choice(["evict", "reject"]),
    default="evict",
    show_default=True,
    help="At the limit: evict the oldest traces (counted) or refuse with a retryable error.",
)
@click.option(
    "--ready-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Write {grpc_port, http_port, pid} as JSON here once listening (for supervisors).",
)
def command(
    grpc_port: int,
    http_port: int,
    host: str,
    max_spans: int,
    when_full: str,
    ready_file: str | None,
) -> None:
    """Receive OTLP spans and answer queries about them.

    Point a collector's OTLP exporter at the gRPC port (or OTLP/HTTP at the HTTP port). The HTTP
    port also serves GET /api/traces, GET /api/traces/{trace_id} (OTLP/JSON; ?wait=SECONDS waits
    for it) and GET /api/stats. Runs until interrupted.

    \b
    Example:
      tracebed sink --grpc-port 4317 --http-port 4318
    """
    sink = Sink(host, grpc_port, http_port, max_spans=max_spans, when_full=when_full)  # type: ignore[arg-type]
    try:
        sink.start()
    except (OSError, RuntimeError) as exc:
        raise BadInput(f"cannot start the sink: {exc}") from None
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    if ready_file:
        document = {"grpc_port": sink.grpc_port, "http_port": sink.http_port, "pid": os.getpid()}
        tmp = Path(ready_file).with_suffix(".tmp")
        tmp.write_text(json.dumps(document))
        tmp.replace(ready_file)  # atomic: a reader never sees half a file
    click.echo(
        f"tracebed sink: OTLP/gRPC {sink.grpc_endpoint}  OTLP/HTTP + API {sink.http_url}", err=True
    )
    try:
        stop.wait()
    finally:
        sink.stop()
