"""Where traces come from, and how one is waited for: the `TraceSource` protocol; where log
records and metric points come from: the `TelemetrySource` protocol (one signature for each
of its methods, whatever implements it).

A source is the span store in this process or a sink's HTTP query API in another one
(`tracebed.otlp.client.SinkClient`); tests, flows and reports depend only on this protocol.
A wait condition is any `Callable[[Trace], bool]`; the named ones in `tracebed.query.conditions`
also carry a `description` (used in timeout messages), an `explain(trace)` (what is missing),
and optionally `services` (which a sink can check on its side) and `quiet` (seconds without a
new span that the wait adds on top).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypedDict, Unpack

if TYPE_CHECKING:
    from tracebed.model.logs import LogPredicate, LogRecord
    from tracebed.model.metrics import MetricPredicate, MetricSelection
    from tracebed.model.span import Span
    from tracebed.model.trace import Trace

TracePredicate = Callable[["Trace"], bool]
DEFAULT_QUIET_S = 0.5  # a wait with no condition at all: complete once quiet for this long


class TraceSource(Protocol):
    """Traces by id, span links across traces, and the one wait for a trace to be complete."""

    def spans_linking_to(self, trace_id: str) -> list[Span]:
        """Spans (of any trace) that carry a span link into `trace_id` (async consumers)."""
        ...

    def get_trace(self, trace_id: str) -> Trace | None:
        """The trace as it stands now, or None when no span of it is held."""
        ...

    def traces(self) -> list[Trace]:
        """Every trace held."""
        ...

    def wait_for_trace(
        self,
        trace_id: str,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """Block until `until(trace)` holds and (with `quiet`) no span arrived for `quiet` s;
        with neither, until some span arrived and none for `DEFAULT_QUIET_S`. Raises
        `TraceTimeoutError` carrying what did arrive."""
        ...


@dataclass(frozen=True)
class Mark:
    """A point in a store's arrivals: logs and metric points stored after it are "since" it."""

    logs: int = 0
    metrics: int = 0


class LogFilters(TypedDict, total=False):
    """Which log records: those matching every filter given."""

    trace_id: str | None
    span_id: str | None
    service: str | None
    severity: str | int | None  # at least this level: a number or TRACE/DEBUG/INFO/WARN/...
    since: Mark | None  # stored after this mark


class MetricFilters(TypedDict, total=False):
    """Which points of a metric: of the series whose attributes include `attributes`, stored
    after `since` (with `since`, a selection also has each series' last point before it)."""

    attributes: dict[str, object] | None
    since: Mark | None


def described(filters: LogFilters) -> str:
    """`(trace_id=... service=...)` for messages (what a wait for logs waited on)."""
    shown = " ".join(
        f"{k}={filters[k]}"  # type: ignore[literal-required]
        for k in LogFilters.__annotations__
        if k != "since" and filters.get(k) is not None
    )
    return f"({shown})" if shown else "(any)"


class TelemetrySource(Protocol):
    """Log records and metric points, and the waits for them: the store (and so a sink) in
    this process, or a sink's HTTP API (`SinkClient`). What `Trace.logs()`,
    `FlowResult.logs()` and the report's metric changes use when their source has it."""

    def mark(self) -> Mark:
        """Now, in arrivals: pass as `since=` to see only what is stored after it."""
        ...

    def logs(self, *, limit: int | None = None, **filters: Unpack[LogFilters]) -> list[LogRecord]:
        """Log records matching every filter given, oldest first (`limit`: the newest N)."""
        ...

    def wait_for_logs(
        self,
        *,
        until: LogPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[LogFilters],
    ) -> list[LogRecord]:
        """Block until the matching records satisfy `until` (default: at least one arrived).
        Raises `LogTimeoutError` with the records that did arrive."""
        ...

    def metric_points(
        self,
        service: str | None = None,
        name: str | None = None,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """Points of the matching series (stored since `since`; all when None), with each
        series' last point before it (so `increase()` is right for cumulative counters)."""
        ...

    def metric_increase(self, service: str, name: str, **filters: Unpack[MetricFilters]) -> float:
        """How much a counter (or a histogram's count) went up since `since`, over the series
        whose attributes include `attributes`; cumulative and delta both understood."""
        ...

    def wait_for_metric(
        self,
        service: str,
        name: str,
        *,
        until: MetricPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """Block until the metric's points since `since` satisfy `until` (default: at least
        one point arrived). Raises `MetricTimeoutError` with the points that did arrive."""
        ...


LogSource = TelemetrySource  # its earlier name, when it had the logs only


def describe(until: TracePredicate | None) -> str:
    """A condition's description for messages (a plain function: its name)."""
    if until is None:
        return "any span"
    return str(getattr(until, "description", None) or getattr(until, "__name__", "predicate"))


def quiet_after_export_delay(export_delay: float, floor: float = DEFAULT_QUIET_S) -> float:
    """A quiet window that can only end once every process of the stack exported again since
    the last span arrived: longer than the export delay (the batch processors' schedule delay;
    each process exports on its own timer), plus the collector's batching; at least `floor`."""
    return max(floor, 1.1 * export_delay + 0.3)


def quiet_of(until: TracePredicate | None, quiet: float | None) -> float | None:
    """The quiet window a wait uses: the larger of the argument and the condition's own."""
    own = getattr(until, "quiet", None)
    if own is None:
        return quiet if quiet is not None or until is not None else DEFAULT_QUIET_S
    return own if quiet is None else max(own, quiet)


def why_not(until: TracePredicate | None, trace: Trace, quiet: float | None) -> str:
    """Why a wait for `trace` timed out, for `TraceTimeoutError`: the same words everywhere."""
    if not len(trace):
        return "no span of it arrived"
    if until is not None and not until(trace):
        explain = getattr(until, "explain", None)
        detail = explain(trace) if callable(explain) else ""
        return f"condition {describe(until)} never held" + (f": {detail}" if detail else "")
    return f"spans kept arriving (quiet window {quiet}s never passed)"
