"""Small traced HTTP server and client for the demo's HTTP-speaking backends (quote, email).

The server runs on the standard library (these services answer one JSON route each);
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


#: A route handler gets the parsed JSON body (or None) and the server span.
Handler = Callable[[Any, trace.Span], Reply]


class TracedHTTPServer:
    """``routes`` maps (method, path) to a handler; other requests get 404 untraced."""

    def __init__(
        self,
        routes: dict[tuple[str, str], Handler],
        port: int,
        *,
        tracer_name: str,
        old_semconv: bool = False,
        host: str | None = None,
    ) -> None:
        self.routes = routes
        self.tracer = trace.get_tracer(tracer_name)
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

            def do_GET(self) -> None:
                server._dispatch(self, "GET")

            def do_POST(self) -> None:
                server._dispatch(self, "POST")

        return _Handler

    def _dispatch(self, req: BaseHTTPRequestHandler, method: str) -> None:
        path = urlsplit(req.path).path
        length = int(req.headers.get("Content-Length") or 0)
        raw = req.rfile.read(length) if length else b""
        handler = self.routes.get((method, path))
        if handler is None:
            self._send(req, Reply(404, b'{"error":"not found"}'))
            return
        carrier = {k.lower(): v for k, v in req.headers.items()}
        token = otel_context.attach(propagate.extract(carrier))
        try:
            with self.tracer.start_as_current_span(
                f"{method} {path}",
                kind=SpanKind.SERVER,
                attributes=self._request_attrs(req, method, path),
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = None
                try:
                    reply = handler(body, span)
                except Exception as exc:
                    log.exception("%s %s failed", method, path)
                    span.record_exception(exc)
                    span.set_status(Status(StatusCode.ERROR, str(exc)))
                    reply = Reply(500, json.dumps({"error": str(exc)}).encode())
                key = "http.status_code" if self.old_semconv else "http.response.status_code"
                span.set_attribute(key, reply.status)
                if reply.status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                self._send(req, reply)
        finally:
            otel_context.detach(token)

    def _request_attrs(self, req: BaseHTTPRequestHandler, method: str, path: str) -> dict[str, Any]:
        host = req.headers.get("Host", "")
        if self.old_semconv:
            return {
                "http.method": method,
                "http.target": req.path,
                "http.host": host,
                "http.scheme": "http",
                "http.route": path,
            }
        return {
            "http.request.method": method,
            "url.path": path,
            "url.scheme": "http",
            "http.route": path,
            "server.address": host.split(":")[0],
        }

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, reply: Reply) -> None:
        req.send_response(reply.status)
        req.send_header("Content-Type", reply.content_type)
        req.send_header("Content-Length", str(len(reply.body)))
        for k, v in reply.headers.items():
            req.send_header(k, v)
        req.end_headers()
        req.wfile.write(reply.body)

    def serve_until_signal(self) -> None:
        """Serve until SIGTERM/SIGINT, then stop and flush telemetry."""
        stopped = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stopped.set())
        signal.signal(signal.SIGINT, lambda *_: stopped.set())
        thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        thread.start()
        stopped.wait()
        self.httpd.shutdown()
        self.httpd.server_close()
        telemetry.shutdown()


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
