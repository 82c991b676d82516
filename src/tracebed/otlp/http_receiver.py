"""OTLP/HTTP receiver (`POST /v1/traces|metrics|logs`) and the sink's query API.

Query API: `GET /api/traces`, `GET /api/traces/{trace_id}` (OTLP/JSON; `?wait=S` blocks up to S
seconds for the trace, event-driven, with optional `quiet=S` and `services=a,b`; the answer's
`X-Tracebed-Wait` header says `met` or `timeout`), `GET /api/stats`; `GET /api/logs`,
`GET /api/metrics` (`tracebed.otlp.query_api`); Jaeger's query API under `/jaeger/api/`
(`tracebed.otlp.jaeger`).
"""

from __future__ import annotations

import io
import json
import re
import threading
import weakref
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from google.protobuf.message import Message
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracebed.model.store import SpanStore, StoreFullError, TraceTimeoutError
from tracebed.model.trace import Trace
from tracebed.otlp import codec, jaeger, query_api
from tracebed.otlp.encode import stored_spans_to_request
from tracebed.otlp.grpc_receiver import RETRY_AFTER_S
from tracebed.otlp.ingest import Ingest
from tracebed.query.conditions import has_services

_TRACE_PATH = re.compile(r"^/api/traces/([0-9a-fA-F]{32})$")
MAX_WAIT_S = 120.0
#: On `GET /api/traces/{id}?wait=S`: `met` (the condition held) or `timeout` (what arrived).
WAIT_HEADER = "X-Tracebed-Wait"
_HEX = re.compile(rb"[0-9a-fA-F]{1,16}")
_CHUNK_LINE_MAX = 4096
_TRAILERS_MAX = 64


def _content_codings(header: str | None) -> list[str]:
    """The Content-Encoding codings in order, `identity` dropped (it means none)."""
    codings = [c.strip().lower() for c in (header or "").split(",")]
    return [c for c in codings if c and c != "identity"]


def read_chunked(stream: io.BufferedIOBase, limit: int) -> bytes:
    """A `Transfer-Encoding: chunked` body (RFC 9112 7.1), refused past `limit` bytes.

    Chunk extensions and trailer fields are read and ignored. Raises `codec.BadPayload` for
    broken framing and `codec.PayloadTooLarge` as soon as the chunk sizes pass `limit`.
    """
    parts: list[bytes] = []
    total = 0
    while True:
        line = stream.readline(_CHUNK_LINE_MAX + 1)
        size_text = line.split(b";", 1)[0].strip()
        if not line.endswith(b"\n") or not size_text or not _HEX.fullmatch(size_text):
            raise codec.BadPayload("malformed chunked body: bad chunk size line")
        size = int(size_text, 16)
        if size == 0:
            break
        total += size
        if total > limit:
            raise codec.PayloadTooLarge(f"chunked body is over the limit of {limit} bytes")
        data = stream.read(size)
        if len(data) != size or stream.read(2) != b"\r\n":
            raise codec.BadPayload("malformed chunked body: truncated chunk")
        parts.append(data)
    for _ in range(_TRAILERS_MAX):  # trailer fields, then the empty line
        if stream.readline(_CHUNK_LINE_MAX + 1) in (b"\r\n", b"\n", b""):
            return b"".join(parts)
    raise codec.BadPayload("malformed chunked body: too many trailer lines")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], receiver: HttpReceiver):
        self.receiver = receiver
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    server_version = "tracebed-sink"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass  # a test run does not want a line per export

    # -- plumbing -------------------------------------------------------------------
    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if self.close_connection:
            # Say so: a keep-alive client (Node's exporters) would otherwise send its next
            # export on a socket we are closing, and see "socket hang up".
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, document: Any) -> None:
        self._send(status, json.dumps(document).encode(), codec.JSON)

    def _send_status(
        self,
        http_status: int,
        code: int,
        message: str,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        """An OTLP error response: a google.rpc.Status in the request's encoding."""
        status = status_pb2.Status(code=code, message=message)
        kind = content_type if content_type in codec.SUPPORTED_TYPES else codec.JSON
        self._send(http_status, codec.serialize(status, kind), kind, headers)

    # -- POST /v1/* ---------------------------------------------------------------------
    def do_POST(self) -> None:  # noqa: N802 - stdlib name
        receiver = self.server.receiver
        route = receiver.routes.get(urlsplit(self.path).path)
        content_type = codec.media_type(self.headers.get("Content-Type"))
        if route is None:
            self._drain()
            self._send_status(
                404, code_pb2.NOT_FOUND, f"no OTLP endpoint at {self.path}", content_type
            )
            return
        if content_type not in codec.SUPPORTED_TYPES:
            self._drain()
            self._send_status(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Type {content_type!r}; use {' or '.join(codec.SUPPORTED_TYPES)}",
                codec.JSON,
            )
            return
        encodings = _content_codings(self.headers.get("Content-Encoding"))
        if encodings not in ([], ["gzip"]):
            self._drain()
            self._send_status(
                415,
                code_pb2.INVALID_ARGUMENT,
                f"unsupported Content-Encoding {', '.join(encodings)!r}; use gzip or none",
                content_type,
            )
            return
        transfer = self.headers.get("Transfer-Encoding")
        length_header = self.headers.get("Content-Length")
        if transfer is not None:
            # RFC 9112 6.1: Transfer-Encoding overrides Content-Length; do not reuse the
            # connection of such a message (the framing may be an attack).
            self.close_connection = True
            if transfer.strip().lower() != "chunked":
                self._send_status(
                    501,
                    code_pb2.UNIMPLEMENTED,
                    f"unsupported Transfer-Encoding {transfer!r}; use chunked or Content-Length",
                    content_type,
                )
                return
        elif length_header is None or not length_header.isdigit():
            self.close_connection = True
            self._send_status(
                411, code_pb2.INVALID_ARGUMENT, "Content-Length is required", content_type
            )
            return
        elif int(length_header) > receiver.max_body_bytes:
            self.close_connection = True  # do not read a body we refuse
            self._send_status(
                413,
                code_pb2.INVALID_ARGUMENT,
                f"body of {length_header} bytes is over the limit of {receiver.max_body_bytes}",
                content_type,
            )
            return
        request_type, export = route
        try:
            if transfer is not None:
                body = read_chunked(self.rfile, receiver.max_body_bytes)
            else:
                body = self.rfile.read(int(length_header or 0))  # checked above
            length = len(body)
            if encodings:
                body = codec.gunzip(body, receiver.max_body_bytes)
            request = codec.parse(body, content_type, request_type())
        except codec.PayloadTooLarge as exc:
            self._send_status(413, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
            return
        except codec.BadPayload as exc:
            self._send_status(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
            return
        try:
            response = export(request, "http", length)
        except StoreFullError as exc:
            if exc.permanent:  # OTLP: permanent failure is 400, which clients do not retry
                self._send_status(400, code_pb2.INVALID_ARGUMENT, str(exc), content_type)
                return
            self._send_status(
                503,
                code_pb2.UNAVAILABLE,
                str(exc),
                content_type,
                {"Retry-After": str(RETRY_AFTER_S)},
            )
            return
        self._send(200, codec.serialize(response, content_type), content_type)

    def _drain(self) -> None:
        length = self.headers.get("Content-Length")
        if length and length.isdigit() and int(length) <= self.server.receiver.max_body_bytes:
            self.rfile.read(int(length))
        else:
            self.close_connection = True

    # -- GET /api/* ---------------------------------------------------------------------
    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        store = self.server.receiver.ingest.store
        url = urlsplit(self.path)
        answered = _signal_or_jaeger(store, url.path, url.query)
        if answered is not None:
            status, document, headers = answered
            self._send(status, json.dumps(document).encode(), codec.JSON, headers)
        elif url.path == "/api/traces":
            self._send_json(200, {"traces": [s.as_dict() for s in store.summaries()]})
        elif url.path == "/api/stats":
            self._send_json(200, store.stats_dict())
        elif match := _TRACE_PATH.match(url.path):
            self._get_trace(match.group(1).lower(), parse_qs(url.query))
        elif url.path.startswith("/api/traces/"):
            bad = url.path[len("/api/traces/") :]
            self._send_json(400, {"error": f"trace id must be 32 hex characters, got {bad!r}"})
        elif url.path in ("/", "/health", "/healthz"):
            self._send_json(200, {"status": "ok"})
        else:
            self._send_json(404, {"error": f"no such resource {url.path}"})

    def _get_trace(self, trace_id: str, query: dict[str, list[str]]) -> None:
        store = self.server.receiver.ingest.store
        try:
            wait = min(float(query.get("wait", ["0"])[0]), MAX_WAIT_S)
            quiet = float(query["quiet"][0]) if "quiet" in query else None
        except ValueError:
            self._send_json(400, {"error": "wait and quiet must be numbers of seconds"})
            return
        services = {s for v in query.get("services", []) for s in v.split(",") if s}
        trace: Trace | None
        # A wait says how it ended, so a client can tell a complete trace from a partial one.
        marks: dict[str, str] = {}
        if wait > 0:
            until = has_services(*sorted(services)) if services else None
            try:
                trace = store.wait_for_trace(trace_id, until=until, quiet=quiet, timeout=wait)
                marks[WAIT_HEADER] = "met"
            except TraceTimeoutError as exc:
                trace = exc.trace if len(exc.trace) else None
                marks[WAIT_HEADER] = "timeout"
        else:
            trace = store.get_trace(trace_id)
        if trace is None:
            body = json.dumps({"error": f"trace {trace_id} not found"}).encode()
            self._send(404, body, codec.JSON, marks)
            return
        self._send(200, self.server.receiver.trace_json(trace), codec.JSON, marks)


def _signal_or_jaeger(
    store: SpanStore, path: str, query: str
) -> tuple[int, Any, dict[str, str]] | None:
    """The logs/metrics routes and Jaeger's query API (None: some other path)."""
    params = parse_qs(query)
    answered = query_api.answer(store, path, params)
    if answered is not None:
        return answered
    jaeger_answer = jaeger.answer(store, path, params)
    return None if jaeger_answer is None else (*jaeger_answer, {})


class HttpReceiver:
    def __init__(
        self,
        ingest: Ingest,
        host: str = "127.0.0.1",
        port: int = 0,
        max_body_bytes: int = 64 * 1024 * 1024,
    ):
        self.ingest = ingest
        self.max_body_bytes = max_body_bytes
        self.routes: dict[str, tuple[type[Message], Callable[[Any, str, int], Message]]] = {
            "/v1/traces": (ExportTraceServiceRequest, ingest.traces),
            "/v1/metrics": (ExportMetricsServiceRequest, ingest.metrics),
            "/v1/logs": (ExportLogsServiceRequest, ingest.logs),
        }
        # The answer for each trace snapshot the store hands out (the store keeps one while the
        # trace does not change, so asking again costs nothing; a new span, a new snapshot).
        self._answers: weakref.WeakKeyDictionary[Trace, bytes] = weakref.WeakKeyDictionary()
        self._answers_lock = threading.Lock()
        self._server = _Server((host, port), self)
        self.host = host
        self.port: int = self._server.server_address[1]
        self._thread: threading.Thread | None = None

    def trace_json(self, trace: Trace) -> bytes:
        """`GET /api/traces/{id}`'s body: the trace as OTLP/JSON, from the protobuf it came in."""
        with self._answers_lock:
            body = self._answers.get(trace)
        if body is None:
            store = self.ingest.store
            request = stored_spans_to_request(trace, store.held_spans(trace))
            body = json.dumps(codec.to_otlp_json(request)).encode()
            with self._answers_lock:
                self._answers[trace] = body
        return body

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="tracebed-otlp-http", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
