"""Server-side spans shaped like the demo frontend's (Next.js 15 on the Node OTel SDK).

* one SERVER span per request named ``<METHOD> <url>`` where url is the request target
  *with* its query string, as Next.js names it (the demo's collector strips the query and
  renames ``GET /api/products/<id>``; its Tracetest overlay, like rotel here, does not);
* for API routes an INTERNAL span ``executing api route (pages) <page>`` around the
  handler (Next.js ``Node.runHandler``), under which the gRPC CLIENT spans hang;
* ``http.status_code`` is set on the server span; a handler exception is recorded on it
  with status ERROR and answered 500 (the demo's API middleware).
W3C ``traceparent``/``baggage`` of the incoming request are the parent context.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.reference.common import telemetry

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
TRACER = "tracebed.reference.frontend"


def _headers(environ: dict[str, Any]) -> dict[str, str]:
    out = {
        key[5:].replace("_", "-").lower(): value
        for key, value in environ.items()
        if key.startswith("HTTP_") and isinstance(value, str)
    }
    return out


class ServerSpans:
    """WSGI middleware: the Next.js ``BaseServer.handleRequest`` SERVER span."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app
        self.tracer = trace.get_tracer(TRACER)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        headers = _headers(environ)
        method = environ.get("REQUEST_METHOD", "GET")
        # the request target as sent (still percent-encoded), as Next.js's req.url
        target = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        if not target:
            query = environ.get("QUERY_STRING", "")
            target = (environ.get("PATH_INFO") or "/") + (f"?{query}" if query else "")
        name = f"{method} {target}"
        host = headers.get("host", "")
        attrs: dict[str, Any] = {
            "http.method": method,
            "http.target": target,
            "http.url": f"http://{host}{target}",
            "http.host": host,
            "http.scheme": "http",
            "http.flavor": environ.get("SERVER_PROTOCOL", "HTTP/1.1").split("/")[-1],
            "net.host.port": int(environ.get("SERVER_PORT", 0) or 0),
            "next.span_name": name,
            "next.span_type": "BaseServer.handleRequest",
        }
        if "user-agent" in headers:
            attrs["http.user_agent"] = headers["user-agent"]
        token = otel_context.attach(propagate.extract(headers))
        try:
            with self.tracer.start_as_current_span(
                name,
                kind=SpanKind.SERVER,
                attributes=attrs,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                status: list[int] = []

                def _start_response(
                    status_line: str, response_headers: list[tuple[str, str]], exc_info: Any = None
                ) -> Any:
                    status.append(int(status_line.split(" ", 1)[0]))
                    return start_response(status_line, response_headers, exc_info)

                result = self.app(environ, _start_response)
                try:
                    body = b"".join(result)
                finally:
                    close = getattr(result, "close", None)
                    if close is not None:
                        close()
                code = status[-1] if status else 500
                span.set_attribute("http.status_code", code)
                path = target.split("?", 1)[0]
                if path.startswith("/api/"):
                    # the API middleware's counter (InstrumentationMiddleware)
                    telemetry.count("requests", method=method, target=path, status=code)
                if code >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                return [body]
        finally:
            otel_context.detach(token)


def run_handler(page: str, handler: Callable[[], Any]) -> Any:
    """Run an API handler inside Next.js's ``executing api route (pages) <page>`` span.

    An exception is recorded on the SERVER span (as the demo's middleware does) and
    re-raised so the app answers 500.
    """
    server_span = trace.get_current_span()
    tracer = trace.get_tracer(TRACER)
    with tracer.start_as_current_span(
        f"executing api route (pages) {page}",
        kind=SpanKind.INTERNAL,
        attributes={"next.span_type": "Node.runHandler", "next.route": page},
    ):
        try:
            return handler()
        except Exception as exc:
            server_span.record_exception(exc)
            server_span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
