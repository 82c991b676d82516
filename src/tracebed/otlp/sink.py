"""The sink: OTLP/gRPC and OTLP/HTTP receivers in front of one store (spans, logs, metrics)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from types import TracebackType
from typing import Any, Concatenate, Generic, ParamSpec, TypeVar, overload

from tracebed.model.store import FullPolicy, SpanStore
from tracebed.otlp.grpc_receiver import GrpcReceiver
from tracebed.otlp.http_receiver import HttpReceiver
from tracebed.otlp.ingest import Ingest

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_MAX_SPANS = 1_000_000
DEFAULT_MAX_BODY_BYTES = 64 * 1024 * 1024
DEFAULT_MAX_LOG_RECORDS = 1_000_000
DEFAULT_MAX_METRIC_POINTS = 1_000_000


class _FromStore(Generic[P, R]):
    """A method of the sink's store, read through the sink: `sink.logs(...)` is
    `sink.store.logs(...)`, with the store's signature (stated there, once)."""

    def __init__(self, method: Callable[Concatenate[SpanStore, P], R]):
        self.name = method.__name__
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, sink: None, owner: type[Any]) -> _FromStore[P, R]: ...

    @overload
    def __get__(self, sink: Sink, owner: type[Any]) -> Callable[P, R]: ...

    def __get__(self, sink: Sink | None, owner: type[Any]) -> _FromStore[P, R] | Callable[P, R]:
        if sink is None:
            return self
        method: Callable[P, R] = getattr(sink.store, self.name)
        return method


class Sink:
    """Receives the spans a stack's collector exports; port 0 picks free ports.

    >>> with Sink() as sink:                        # doctest: +SKIP
    ...     exporter_endpoint = sink.grpc_endpoint  # "127.0.0.1:PORT"
    ...     trace = sink.wait_for_trace(trace_id, quiet=0.3)
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        grpc_port: int = 0,
        http_port: int = 0,
        *,
        max_spans: int = DEFAULT_MAX_SPANS,
        when_full: FullPolicy = "evict",
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        store: SpanStore | None = None,
        max_log_records: int = DEFAULT_MAX_LOG_RECORDS,
        max_metric_points: int = DEFAULT_MAX_METRIC_POINTS,
    ):
        for what, port in (("grpc_port", grpc_port), ("http_port", http_port)):
            if not 0 <= port <= 65535:  # gRPC would wrap 99999 to another port
                raise ValueError(f"{what} {port} is not a TCP port (0-65535)")
        self.host = host
        self.store = (
            store
            if store is not None
            else SpanStore(
                max_spans,
                when_full,
                max_log_records=max_log_records,
                max_metric_points=max_metric_points,
            )
        )
        self.ingest = Ingest(self.store)
        self._requested = (grpc_port, http_port)
        self._max_body_bytes = max_body_bytes
        self._grpc: GrpcReceiver | None = None
        self._http: HttpReceiver | None = None

    def start(self) -> Sink:
        """Listen on both ports; a port that cannot be had is one `OSError` naming receiver
        and address (checked first: gRPC's C core would otherwise log its own lines to stderr)."""
        grpc_port, http_port = self._requested
        _check_free("OTLP/gRPC", self.host, grpc_port)
        _check_free("OTLP/HTTP", self.host, http_port)
        try:
            self._grpc = GrpcReceiver(self.ingest, self.host, grpc_port, self._max_body_bytes)
        except (OSError, RuntimeError) as exc:  # grpcio raises RuntimeError on a failed bind
            raise OSError(
                f"the OTLP/gRPC receiver cannot listen on {self.host}:{grpc_port}: {exc}"
            ) from None
        try:
            self._http = HttpReceiver(self.ingest, self.host, http_port, self._max_body_bytes)
        except OSError as exc:
            self._grpc.stop(0)
            raise OSError(
                f"the OTLP/HTTP receiver cannot listen on {self.host}:{http_port}: "
                f"{exc.strerror or exc}"
            ) from None
        self._grpc.start()
        self._http.start()
        return self

    def stop(self) -> None:
        if self._http is not None:
            self._http.stop()
            self._http = None
        if self._grpc is not None:
            self._grpc.stop()
            self._grpc = None

    def __enter__(self) -> Sink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._grpc is not None

    @property
    def grpc_port(self) -> int:
        if self._grpc is None:
            raise RuntimeError("sink is not started")
        return self._grpc.port

    @property
    def http_port(self) -> int:
        if self._http is None:
            raise RuntimeError("sink is not started")
        return self._http.port

    @property
    def grpc_endpoint(self) -> str:
        """`host:port` for an OTLP/gRPC exporter."""
        return f"{self.host}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        """Base URL of the OTLP/HTTP receiver and the query API."""
        return f"http://{self.host}:{self.http_port}"

    # `TraceSource` and `TelemetrySource`: the store's own methods (and signatures), so a sink
    # can be passed wherever a source is wanted (`span_sink` is a Sink).
    wait_for_trace = _FromStore(SpanStore.wait_for_trace)
    trace = _FromStore(SpanStore.trace)
    get_trace = _FromStore(SpanStore.get_trace)
    traces = _FromStore(SpanStore.traces)
    spans_linking_to = _FromStore(SpanStore.spans_linking_to)
    mark = _FromStore(SpanStore.mark)
    logs = _FromStore(SpanStore.logs)
    logs_for_span = _FromStore(SpanStore.logs_for_span)
    wait_for_logs = _FromStore(SpanStore.wait_for_logs)
    metric_points = _FromStore(SpanStore.metric_points)
    metric_increase = _FromStore(SpanStore.metric_increase)
    wait_for_metric = _FromStore(SpanStore.wait_for_metric)

    def __repr__(self) -> str:
        state = f"grpc={self.grpc_endpoint} http={self.http_url}" if self.running else "stopped"
        return f"Sink({state}, {len(self.store)} spans)"


def _check_free(what: str, host: str, port: int) -> None:
    """Can `host:port` be bound (port 0: can `host` be)? Else one clear `OSError`."""
    try:
        infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OSError(
            f"the {what} receiver cannot listen on {host}:{port}: {exc.strerror or exc}"
        ) from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as both servers do
        try:
            probe.bind(address)
        except OSError as exc:
            raise OSError(
                f"the {what} receiver cannot listen on {host}:{port}: {exc.strerror or exc}"
            ) from None
