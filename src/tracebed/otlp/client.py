"""`SinkClient`: a running sink's HTTP query API (`tracebed up` / `tracebed sink`) as a trace source.

`GET /api/traces/{id}?wait=S&quiet=Q&services=a,b` long-polls on the sink side (event-driven
there, through the store's one wait), so `wait_for_trace` makes one request in the common case.
When the condition asks for more than the sink can check (its `services`; e.g. a Kafka
publish span) and the sink's answer does not satisfy it, the client asks again after a short
exponential back-off (0.05 s doubling to 1 s), bounded by the deadline.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

import requests

from tracebed.errors import SinkError
from tracebed.model import Span, Trace, TraceTimeoutError
from tracebed.model.source import TracePredicate, quiet_of, why_not
from tracebed.otlp.otlp_json import spans_from_otlp_json

BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.05, 1.0


class SinkApiError(SinkError, RuntimeError):
    """The sink's HTTP API cannot be reached or answered something unexpected."""


class SinkClient:
    """A `TraceSource` over a sink's HTTP API, e.g. `SinkClient("http://127.0.0.1:4319")`."""

    def __init__(
        self, base_url: str, session: requests.Session | None = None, timeout: float = 10.0
    ):
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"sink URL must look like http://127.0.0.1:PORT, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else requests.Session()
        self.timeout = timeout  # per request, on top of a long poll's own wait

    def __repr__(self) -> str:
        return f"SinkClient({self.base_url!r})"

    def _get(self, path: str, params: dict[str, str] | None = None, wait: float = 0.0) -> Any:
        url = f"{self.base_url}{path}"
        try:
            return self.session.get(url, params=params, timeout=wait + self.timeout)
        except requests.RequestException as exc:
            raise SinkApiError(f"sink API at {self.base_url} not reachable: {exc}") from exc

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

    def trace_ids(self) -> list[str]:
        """`GET /api/traces`: the ids of the traces held, oldest first."""
        response = self._get("/api/traces")
        try:
            response.raise_for_status()
            return [str(t["trace_id"]) for t in response.json().get("traces", [])]
        except (requests.RequestException, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise SinkApiError(
                f"sink at {self.base_url} answered something unexpected: {exc}"
            ) from None

    def get_trace(
        self,
        trace_id: str,
        *,
        wait: float = 0.0,
        quiet: float | None = None,
        services: set[str] | None = None,
    ) -> Trace | None:
        """The trace as the sink holds it (None: unknown); with `wait`, the sink's long poll."""
        params: dict[str, str] = {}
        if wait > 0:
            params["wait"] = f"{wait:.3f}"
        if quiet is not None:
            params["quiet"] = f"{quiet:.3f}"
        if services:
            params["services"] = ",".join(sorted(services))
        trace_id = trace_id.lower()
        response = self._get(f"/api/traces/{trace_id}", params, wait)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise SinkApiError(
                f"GET {response.url}: HTTP {response.status_code}: {response.text[:200]}"
            )
        try:
            spans = spans_from_otlp_json(json.loads(response.content))
        except ValueError as exc:  # JSONDecodeError and the decoder's own errors
            raise SinkApiError(f"trace {trace_id}: not an OTLP/JSON document: {exc}") from exc
        return Trace(trace_id, spans, self)

    def trace(self, trace_id: str) -> Trace:
        """The trace as the sink holds it now (empty when nothing arrived)."""
        return self.get_trace(trace_id) or Trace(trace_id.lower(), (), self)

    def traces(self, limit: int | None = None) -> list[Trace]:
        """The traces held (the newest `limit` of them), one request each."""
        ids = self.trace_ids()
        if limit is not None:
            ids = ids[max(0, len(ids) - limit) :]
        traces = []
        for trace_id in ids:
            trace = self.get_trace(trace_id)
            if trace is not None:  # None: evicted between the listing and now
                traces.append(trace)
        return traces

    def spans_linking_to(self, trace_id: str) -> list[Span]:
        """Spans linking into `trace_id`. The API has no link index: this reads every trace."""
        wanted = trace_id.lower()
        return [
            span
            for trace in self.traces()
            for span in trace
            if any(link.trace_id == wanted for link in span.links)
        ]

    def wait_for_trace(
        self,
        trace_id: str,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """See `TraceSource.wait_for_trace`; the waiting itself happens in the sink."""
        quiet = quiet_of(until, quiet)
        services = set(getattr(until, "services", ()) or ()) or None
        trace_id = trace_id.lower()
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
            # The sink answered early (its services filter held) but the condition does not
            # hold yet: the sink cannot wait on it, so back off briefly and ask again.
            time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
            backoff = min(backoff * 2, BACKOFF_MAX_S)
        snapshot = trace if trace is not None else Trace(trace_id, (), self)
        raise TraceTimeoutError(trace_id, snapshot, timeout, why_not(until, snapshot, quiet))
