"""telemetry-docs: the demo's nginx serving its Weaver-generated telemetry site (new at 3.0.0).

What the demo's nginx otel module does (demo-facts-3.0 §1.2, §1.3, §5.1, §5.3.14): one SERVER
span per request, named ``"<method> <route>"`` with the route mapped to
``/attributes/{business_domain}``, ``/services/{service_name}``, ``/index``, ``/`` or the raw
URI; static assets, ``/search/`` and ``/status`` untraced; trace context only (no baggage);
traces over OTLP/gRPC; a resource of ``service.name`` alone. Its compose healthcheck
(``wget --spider http://localhost:8000/`` every 5 s) is traced too: the service reproduces it
by GETting its own ``/`` every ``TRACEBED_HEALTHCHECK_INTERVAL_S`` seconds (0: never), since
nothing else repeats a healthcheck here.

The site itself is the stand-in's own static page, the same for every documented route: the
demo's is generated from its registry, which the stand-in does not ship.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler
from typing import Any

from opentelemetry import trace

from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env_int, env_port
from tracebed.reference.common.http import Handler, Reply, TracedHTTPServer
from tracebed.reference.services._runner import setup_logging

log = logging.getLogger(__name__)

SERVICE = "telemetry-docs"
#: Seconds between the healthcheck's requests (compose: ``interval: 5s``).
HEALTHCHECK_INTERVAL_S = 5
#: The User-Agent of the healthcheck's requests (busybox wget's).
HEALTHCHECK_AGENT = "Wget"

#: (path pattern, route) in the order nginx's map tries them.
ROUTES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"/attributes/[^/]+/?"), "/attributes/{business_domain}"),
    (re.compile(r"/services/[^/]+/?"), "/services/{service_name}"),
    (re.compile(r"/index(\.html)?"), "/index"),
    (re.compile(r"/"), "/"),
)
#: Paths the demo's nginx does not trace.
UNTRACED_PREFIXES = ("/status", "/search/", "/assets/")
STATIC_SUFFIXES = (".css", ".js", ".map", ".png", ".svg", ".ico", ".jpg", ".gif", ".woff2")

PAGE = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>OpenTelemetry Demo telemetry</title>
<link rel="stylesheet" href="assets/site.css"></head>
<body>
<h1>OpenTelemetry Demo telemetry</h1>
<p>The tracebed stand-in's page for the demo's telemetry documentation: the attributes of
each business domain and the telemetry of each service. The demo generates its site from its
telemetry registry with Weaver; the stand-in serves this one static page instead.</p>
<ul><li><a href="attributes/">Attributes</a></li><li><a href="services/">Services</a></li></ul>
</body>
</html>
"""
STYLE = b"body { font-family: sans-serif; margin: 2em; }\n"


def route_of(path: str) -> str | None:
    """The route a request's span is named after; None for a request that is not traced."""
    if path.startswith(UNTRACED_PREFIXES) or path.endswith(STATIC_SUFFIXES):
        return None
    for pattern, route in ROUTES:
        if pattern.fullmatch(path):
            return route
    return path  # the raw URI


def documented(path: str) -> bool:
    """A page of the site (everything else is 404)."""
    return path in ("/attributes/", "/services/") or any(
        pattern.fullmatch(path) for pattern, _ in ROUTES
    )


class DocsServer(TracedHTTPServer):
    """The site on ``port``; each traced request gets a SERVER span as the nginx module's."""

    methods = ("GET", "HEAD")
    server_header = "nginx"

    def __init__(
        self, port: int, *, host: str | None = None, tracer: trace.Tracer | None = None
    ) -> None:
        super().__init__({}, port, tracer_name="nginx", tracer=tracer, old_semconv=True, host=host)
        self.requests = 0  # for stub_status

    def resolve(self, method: str, path: str) -> tuple[str | None, Handler]:
        # every path gets a reply (a page, an asset, stub_status or nginx's 404); route_of says
        # which are traced
        path = path or "/"

        def page(body: Any, span: trace.Span) -> Reply:
            self.requests += 1
            return self.reply(path)

        return route_of(path), page

    def reply(self, path: str) -> Reply:
        if path == "/status":  # nginx stub_status
            n = self.requests
            body = (
                "Active connections: 1 \nserver accepts handled requests\n"
                f" {n} {n} {n} \nReading: 0 Writing: 1 Waiting: 0 \n"
            )
            return Reply(200, body.encode(), "text/plain")
        if path == "/assets/site.css":
            return Reply(200, STYLE, "text/css")
        if documented(path):
            return Reply(200, PAGE, "text/html")
        return Reply(404, b"<html><body><h1>404 Not Found</h1></body></html>\n", "text/html")

    def request_attrs(
        self, req: BaseHTTPRequestHandler, method: str, path: str, route: str
    ) -> dict[str, Any]:
        host = (req.headers.get("Host") or "").rsplit(":", 1)[0]
        peer_addr, peer_port = req.client_address[:2]
        attrs: dict[str, Any] = {
            "http.method": method,
            "http.target": req.path,
            "http.scheme": "http",
            "http.route": route,
            "http.flavor": req.request_version.removeprefix("HTTP/"),
            "http.request_content_length": int(req.headers.get("Content-Length") or 0),
            "net.host.name": host,
            "net.sock.peer.addr": str(peer_addr),
            "net.sock.peer.port": int(peer_port),
        }
        if self.port != 80:  # the module leaves out the scheme's default port
            attrs["net.host.port"] = self.port
        agent = req.headers.get("User-Agent")
        if agent:
            attrs["http.user_agent"] = agent
        return attrs

    def response_attrs(self, reply: Reply) -> dict[str, Any]:
        # the module's 1.16.0 semconv names; the collector renames by http.route
        return {"http.response_content_length": len(reply.body), **super().response_attrs(reply)}


def healthcheck(url: str, interval_s: float, stopped: threading.Event) -> None:
    """GET ``url`` every ``interval_s`` seconds until ``stopped``, as docker runs the compose
    healthcheck (first one an interval after the start); failures are only logged."""
    request = urllib.request.Request(url, headers={"User-Agent": HEALTHCHECK_AGENT})
    while not stopped.wait(interval_s):
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                response.read()
        except OSError as exc:
            log.warning("healthcheck %s failed: %s", url, exc)


def main() -> int:
    log = setup_logging(SERVICE)
    try:
        # trace context only, like the nginx otel module; service.name is its only resource
        telemetry.setup(SERVICE, baggage=False, resource_attributes=False)
        port = env_port("TELEMETRY_DOCS_PORT")
        interval = env_int("TRACEBED_HEALTHCHECK_INTERVAL_S", 0)
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    server = DocsServer(port)
    stopped = threading.Event()
    if interval > 0:
        url = f"http://127.0.0.1:{server.port}/"
        threading.Thread(target=healthcheck, args=(url, interval, stopped), daemon=True).start()
    log.info("telemetry-docs listening on port %d", server.port)
    server.serve_until_signal(stopped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
