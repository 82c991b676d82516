"""Waiting for traces through a running sink's HTTP query API (`tracebed up` / `tracebed sink`).

`GET /api/traces/{id}?wait=S&quiet=Q&services=a,b` long-polls on the sink side (event-driven
there), so this client makes one request per wait in the common case; when the caller's
predicate asks for more than services (e.g. a Kafka publish span) and the sink's answer does
not satisfy it, it asks again after a short exponential back-off (0.05 s doubling to 1 s),
bounded by the deadline.
"""

from __future__ import annotations

import json
import time
from urllib.parse import urlsplit

import requests

from tracebed.errors import SinkError
from tracebed.flows.result import TracePredicate
from tracebed.model import Trace, TraceTimeoutError
from tracebed.report.otlp_json import spans_from_otlp_json

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.05, 1.0


def trace_from_otlp_json(trace_id: str, body: bytes) -> Trace:
    """A trace from an OTLP/JSON `ExportTraceServiceRequest` document."""
    try:
        document = json.loads(body)
        spans = spans_from_otlp_json(document)
    except ValueError as exc:  # JSONDecodeError and the decoder's own errors
        raise SinkApiError(f"trace {trace_id}: not an OTLP/JSON document: {exc}") from exc
    return Trace(trace_id, spans)


class SinkApiError(SinkError, RuntimeError):
    """The sink's HTTP API cannot be reached or answered something unexpected."""


class HttpTraceSource:
    """A `TraceSource` over a sink's HTTP API, e.g. `HttpTraceSource("http://127.0.0.1:4319")`."""

    def __init__(self, base_url: str, session: requests.Session | None = None):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"sink URL must look like http://127.0.0.1:PORT, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else requests.Session()

    def __repr__(self) -> str:
        return f"HttpTraceSource({self.base_url!r})"

    def check(self, timeout: float = 5.0) -> dict[str, object]:
        """`GET /api/stats`: raises `SinkApiError` when the sink is not there."""
        try:
            response = self.session.get(f"{self.base_url}/api/stats", timeout=timeout)
            response.raise_for_status()
            stats = response.json()
        except (requests.RequestException, ValueError) as exc:
            raise SinkApiError(f"sink API at {self.base_url} not usable: {exc}") from exc
        if not isinstance(stats, dict):
            raise SinkApiError(f"sink API at {self.base_url}: /api/stats is not an object")
        return stats

    def get_trace(
        self,
        trace_id: str,
        *,
        wait: float = 0.0,
        quiet: float | None = None,
        services: set[str] | None = None,
    ) -> Trace | None:
        params: dict[str, str] = {}
        if wait > 0:
            params["wait"] = f"{wait:.3f}"
        if quiet is not None:
            params["quiet"] = f"{quiet:.3f}"
        if services:
            params["services"] = ",".join(sorted(services))
        url = f"{self.base_url}/api/traces/{trace_id.lower()}"
        try:
            response = self.session.get(url, params=params, timeout=wait + 10.0)
        except requests.RequestException as exc:
            raise SinkApiError(f"sink API at {self.base_url} not reachable: {exc}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SinkApiError(f"GET {url}: HTTP {response.status_code}: {response.text[:200]}")
        return trace_from_otlp_json(trace_id.lower(), response.content)

    def trace(self, trace_id: str) -> Trace:
        """The trace as the sink holds it now (empty when nothing arrived)."""
        return self.get_trace(trace_id) or Trace(trace_id.lower(), ())

    def wait_for_trace(
        self,
        trace_id: str,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        if until is None and quiet is None:
            quiet = 0.5
        services = set(getattr(until, "services", ()) or ()) or None
        deadline = time.monotonic() + timeout
        backoff = BACKOFF_FIRST_S
        trace: Trace | None = None
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            trace = self.get_trace(trace_id, wait=remaining, quiet=quiet, services=services)
            if trace is not None and (until is None or until(trace)):
                return trace
            # The sink answered early (its services filter held) but our predicate does not
            # hold yet: the sink cannot wait on it, so back off briefly and ask again.
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        snapshot = trace if trace is not None else Trace(trace_id.lower(), ())
        reason = (
            "no span of it arrived"
            if not len(snapshot)
            else (f"condition {getattr(until, 'description', 'predicate')} never held")
        )
        raise TraceTimeoutError(trace_id.lower(), snapshot, timeout, reason)
