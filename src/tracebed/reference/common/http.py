"""Small traced HTTP server and client for the demo's HTTP-speaking backends (quote, email,
shipping; telemetry-docs's site on a subclass).

The server runs on the standard library (these services answer a JSON route or a few);
each request gets a SERVER span parented on the W3C headers, and the client injects them.
"""

from __future__ import annotations

import json
import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import requests
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import bind_host

log = logging.getLogger(__name__)


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


#: A route handler gets the parsed JSON body (or None) and the server span (a non-recording one
#: for a request served untraced).
Handler = Callable[[Any, trace.Span], Reply]


class TracedHTTPServer:
    """``routes`` maps (method, path) to a handler; other requests get 404 untraced.

    A server shaped otherwise (routes by pattern, pages served untraced, another semconv)
    subclasses it and overrides `methods`, `server_header`, `resolve`, `request_attrs` and
    `response_attrs`.
    """

    #: The methods served; others get the standard library's 501.
    methods: tuple[str, ...] = ("GET", "POST")
    #: The Server header (None: the standard library's, which names Python).
    server_header: str | None = None

    def __init__(
        self,
        routes: dict[tuple[str, str], Handler],
        port: int,
        *,
        tracer_name: str,
        tracer: trace.Tracer | None = None,
        old_semconv: bool = False,
        host: str | None = None,
    ) -> None:
        self.routes = routes
        self.tracer = tracer or trace.get_tracer(tracer_name)
        self.old_semconv = old_semconv
        self.httpd = ThreadingHTTPServer((host or bind_host(), port), self._handler_class())
        self.httpd.daemon_threads = True

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug(format, *args)

        def serve(method: str) -> Callable[[BaseHTTPRequestHandler], None]:
            return lambda req: server._dispatch(req, method)

        for method in self.methods:
            setattr(_Handler, f"do_{method}", serve(method))
        if self.server_header is not None:
            # version_string() joins the two; the header names no Python version then
            _Handler.server_version, _Handler.sys_version = self.server_header, ""
        return _Handler

    def resolve(self, method: str, path: str) -> tuple[str | None, Handler] | None:
        """The request's route (its span's name and ``http.route``; None: served untraced) and
        its handler; None: 404, untraced."""
        handler = self.routes.get((method, path))
        return None if handler is None else (path, handler)

    def _dispatch(self, req: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(req.path).path
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        resolved = self.resolve(method, path)
        if resolved is None:
            self._send(req, Reply(404, b'{"error":"not found"}'))
            return
        route, handler = resolved
        if route is None:
            self._send(req, handler(_json_body(raw), trace.INVALID_SPAN))
            return
        carrier = {k.lower(): v for k, v in req.headers.items()}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            with self.tracer.start_as_current_span(
                f"{method} {route}",
                kind=SpanKind.SERVER,
                attributes=self.request_attrs(req, method, path, route),
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                body = _json_body(raw)
                try:
                    reply = handler(body, span)
                except Exception as exc:
                    log.exception("%s %s failed", method, path)
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    reply = Reply(500, json.dumps({"error": str(exc)}).encode())
                span.set_attributes(self.response_attrs(reply))
                if reply.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                self._send(req, reply)
        finally:
            otel_context.detach(token)

    def request_attrs(
        self, req: BaseHTTPRequestHandler, method: str, path: str, route: str
    ) -> dict[str, Any]:
        """The server span's attributes at its start."""
        host = req.headers.get("Host", "")
        if self.old_semconv:
            return {
                "http.method": method,
                "http.target": req.path,
                "http.host": host,
                "http.scheme": "http",
                "http.route": route,
            }
        return {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": "http",
            "http.route": route,
            "server.address": host.split(":")[0],
        }

    def response_attrs(self, reply: Reply) -> dict[str, Any]:
        """The server span's attributes once the handler has replied."""
        key = "http.status_code" if self.old_semconv else "http.response.status_code"
        return {key: reply.status}

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, reply: Reply) -> None:
        req.send_response(reply.status)
        req.send_header("Content-Type", reply.content_type)
        req.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            req.send_header(k, v)
        req.end_headers()
        if req.command != "HEAD":  # its headers say what a GET's body would be
            req.wfile.write(reply.body)

    def serve_until_signal(self, stopped: threading.Event | None = None) -> None:
        """Serve until SIGTERM/SIGINT, then stop and flush telemetry. `stopped` (set on the
        signal) lets the service's own threads stop with it."""
        stopped = stopped or threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        stopped.wait()
        self.httpd.shutdown()
        self.httpd.server_close()
        telemetry.shutdown()


def _json_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except json.JSONDecodeError:
        return None


def post_json(
    url: str,
    payload: Any,
    *,
    span_name: str = "HTTP POST",
    tracer_name: str = "tracebed.reference",
    timeout: float = 5.0,
    session: requests.Session | None = None,
) -> requests.Response:
    """POST JSON under a CLIENT span, with W3C context in the headers."""
    tracer = trace.get_tracer(tracer_name)
    parts = urlsplit(url)
    attrs: dict[str, Any] = {
        "http.request.method": "POST",
        "url.full": url,
        "server.address": parts.hostname or "",
    }
    if parts.port:
        attrs["server.port"] = parts.port
    with tracer.start_as_current_span(
        span_name, kind=SpanKind.CLIENT, attributes=attrs, set_status_on_exception=True
    ) as span:
        headers = {"Content-Type": "application/json"}
        propagate.inject(headers)
        sender = session or requests
        response = sender.post(url, data=json.dumps(payload), headers=headers, timeout=timeout)
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 400:
            span.set_status(Status(StatusCode.ERROR))
        return response
