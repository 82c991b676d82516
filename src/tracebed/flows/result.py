"""What a flow returns: each HTTP request with its trace id, and a way to wait for its trace."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from tracebed.errors import ExpectationFailed, SinkError
from tracebed.model import Trace, TraceTimeoutError
from tracebed.model.logs import LogPredicate, LogRecord
from tracebed.model.source import DEFAULT_QUIET_S, TracePredicate, TraceSource
from tracebed.query.conditions import entry_span

BODY_HEAD = 300  # characters of a request/response body shown in a result's repr


class NoSinkError(SinkError, RuntimeError):
    """`.trace()` was called on a result of a client that has no sink to wait in."""


def _head(text: str, limit: int = BODY_HEAD) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit] + f"… ({len(text)} chars)"


@dataclass(frozen=True, slots=True)
class FlowRequest:
    method: str
    url: str
    body: Any = None  # the JSON body sent, if any
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        line = f"{self.method} {self.url}"
        if self.body is not None:
            line += "\n  body: " + _head(json.dumps(self.body, separators=(",", ":")))
        return line


@dataclass(eq=False)
class FlowResult:
    """One HTTP request made with a trace id of the client's choosing.

    `status_code` is 0 when no response arrived (connection refused, timeout); `error` says why.
    """

    task: str  # the load-generator task (or direct call) that made the request
    name: str  # the route template, e.g. "GET /api/products/{productId}" (stats group by it)
    request: FlowRequest
    trace_id: str
    span_id: str  # the parent span id sent in traceparent (the server span's parent)
    status_code: int
    text: str
    elapsed: float  # seconds, request sent to body read
    error: str | None = None
    source: TraceSource | None = field(default=None, repr=False)
    fetched: Trace | None = field(default=None, repr=False)
    response_headers: dict[str, str] = field(default_factory=dict, repr=False)
    #: the quiet window of `.trace()` with no condition (the client's: see `ShopClient`)
    quiet: float = field(default=DEFAULT_QUIET_S, repr=False)

    # -- response ----------------------------------------------------------------------
    @property
    def ok(self) -> bool:
        return 200 <= self.status_code < 400

    @cached_property
    def json(self) -> Any:
        """The decoded JSON body (None when the body is empty or not JSON)."""
        if not self.text:
            return None
        try:
            return json.loads(self.text)
        except ValueError:
            return None

    @property
    def results(self) -> list[FlowResult]:
        return [self]

    @property
    def main(self) -> FlowResult:
        return self

    def raise_for_status(self) -> FlowResult:
        if not self.ok:
            raise ExpectationFailed(f"request failed:\n{self}")
        return self

    # -- trace ---------------------------------------------------------------------------
    def trace(
        self,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """Wait in the sink for this request's trace (see `SpanStore.wait_for_trace`).

        - `until`: a predicate on the trace (e.g. `ChainCheck()`); returns once it holds (and,
          with `quiet`, once no span arrived for `quiet` seconds);
        - neither: returns once the entry span (the server span whose parent is the span id
          we sent) is there and no span arrived for `self.quiet` (0.5 s; longer than the
          stack's export delay where the harness knows it) — so a front door that exports
          late (Envoy) is not missed;
        - only `quiet`: returns once no span arrived for `quiet` seconds.
        The trace is kept on the result (also what arrived, on timeout), so printing the
        result shows its tree.
        """
        if self.source is None:
            raise NoSinkError(
                f"no sink to wait for trace {self.trace_id} in: create the ShopClient with "
                "sink_store=<SpanStore or SinkClient> (the `shop` fixture does)"
            )
        if until is None and quiet is None:
            until, quiet = entry_span(self.span_id), self.quiet
        try:
            self.fetched = self.source.wait_for_trace(
                self.trace_id, until=until, quiet=quiet, timeout=timeout
            )
        except TraceTimeoutError as exc:
            self.fetched = exc.trace
            raise
        return self.fetched

    def logs(
        self,
        until: LogPredicate | None = None,
        *,
        service: str | None = None,
        severity: str | int | None = None,
        timeout: float = 30.0,
    ) -> list[LogRecord]:
        """Wait in the sink for this request's log records (those carrying its trace id) until
        `until(records)` holds (default: at least one arrived); see `SpanStore.wait_for_logs`."""
        wait = getattr(self.source, "wait_for_logs", None)
        if not callable(wait):
            raise NoSinkError(
                f"no sink that keeps logs to wait for trace {self.trace_id}'s logs in: create "
                "the ShopClient with sink_store=<SpanStore, Sink or SinkClient>"
            )
        records: list[LogRecord] = wait(
            trace_id=self.trace_id,
            service=service,
            severity=severity,
            until=until,
            timeout=timeout,
        )
        return records

    # -- printing ------------------------------------------------------------------------
    def describe(self, with_trace: bool = True) -> str:
        lines = [
            f"[{self.task}] {self.request}",
            f"  traceparent: 00-{self.trace_id}-{self.span_id}",
        ]
        if self.error is not None:
            lines.append(f"  -> no response after {self.elapsed * 1000:.1f} ms: {self.error}")
        else:
            lines.append(f"  -> {self.status_code} in {self.elapsed * 1000:.1f} ms")
            if self.text:
                lines.append("  response: " + _head(self.text))
        if with_trace:
            if self.fetched is not None:
                tree = self.fetched.render() if len(self.fetched) else "(no spans)"
                lines.append(f"  trace {self.trace_id}:")
                lines.extend("    " + line for line in tree.splitlines())
            else:
                lines.append(f"  trace {self.trace_id}: not fetched (call .trace())")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.describe()


@dataclass(eq=False)
class FlowRun:
    """A task that made several requests (e.g. checkout = add to cart, then place the order).

    Each request has its own trace id, as the demo's load generator makes separate requests;
    `main` is the one the task is about, and the shortcuts (`trace_id`, `status_code`, `json`,
    `.trace()`) refer to it. `steps` holds every request in order.
    """

    task: str
    steps: list[FlowResult]
    main_index: int = -1

    @property
    def main(self) -> FlowResult:
        if not self.steps:
            raise LookupError(
                f"{self.task} made no request (e.g. flood_home with its flag at 0): "
                "there is no main result; check len(run) or run.steps"
            )
        return self.steps[self.main_index]

    @property
    def results(self) -> list[FlowResult]:
        return list(self.steps)

    def __iter__(self) -> Iterator[FlowResult]:
        return iter(self.steps)

    def __len__(self) -> int:
        return len(self.steps)

    def __getitem__(self, index: int) -> FlowResult:
        return self.steps[index]

    @property
    def trace_id(self) -> str:
        return self.main.trace_id

    @property
    def trace_ids(self) -> list[str]:
        return [step.trace_id for step in self.steps]

    @property
    def status_code(self) -> int:
        return self.main.status_code

    @property
    def ok(self) -> bool:
        """Every step succeeded."""
        return all(step.ok for step in self.steps)

    @property
    def json(self) -> Any:
        return self.main.json

    @property
    def text(self) -> str:
        return self.main.text

    @property
    def elapsed(self) -> float:
        return sum(step.elapsed for step in self.steps)

    def raise_for_status(self) -> FlowRun:
        if not self.ok:
            raise ExpectationFailed(f"{self.task}: a step failed:\n{self}")
        return self

    def trace(
        self,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """The main request's trace (each step's own trace: `run.steps[i].trace()`)."""
        return self.main.trace(until=until, quiet=quiet, timeout=timeout)

    def logs(
        self,
        until: LogPredicate | None = None,
        *,
        service: str | None = None,
        severity: str | int | None = None,
        timeout: float = 30.0,
    ) -> list[LogRecord]:
        """The main request's log records (see `FlowResult.logs`)."""
        return self.main.logs(until, service=service, severity=severity, timeout=timeout)

    def describe(self, with_trace: bool = True) -> str:
        if not self.steps:
            return f"{self.task}: no requests"
        main = self.main
        lines = [f"{self.task}: {len(self.steps)} request(s); main = {main.name} ({main.trace_id})"]
        for i, step in enumerate(self.steps, 1):
            marker = "*" if step is main else " "
            body = step.describe(with_trace=with_trace and step.fetched is not None)
            lines.append(f"{marker}{i}. " + body.replace("\n", "\n    "))
        if with_trace and main.fetched is None:
            lines.append(f"  trace {main.trace_id}: not fetched (call .trace())")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.describe()

    def __repr__(self) -> str:
        return self.describe()


Flow = FlowResult | FlowRun
