"""Named wait conditions: when a trace counts as complete, said once for every waiter.

Each is a `Callable[[Trace], bool]` for `TraceSource.wait_for_trace(until=...)` with a
`description` (timeout messages say which condition never held) and `explain(trace)` (what is
still missing). `services` is what a sink can check on its own side (the HTTP API's
`services=`), `quiet` the seconds without a new span the wait adds. Combine with `&`:

    source.wait_for_trace(tid, until=has_services("cart", "payment") & quiet(0.3))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING

from tracebed.model import Span, Trace
from tracebed.model.logs import LogRecord
from tracebed.model.metrics import MetricSelection
from tracebed.model.source import TracePredicate, describe

if TYPE_CHECKING:
    from tracebed.query.chains import Call, ChainMatcher


class Condition:
    """A trace predicate with a name; see the module docstring."""

    def __init__(
        self,
        test: TracePredicate,
        description: str,
        *,
        services: Iterable[str] = (),
        quiet: float | None = None,
        explain: Callable[[Trace], str] | None = None,
    ):
        self._test = test
        self.description = description
        self.services: tuple[str, ...] = tuple(services)
        self.quiet = quiet
        self._explain = explain

    def __call__(self, trace: Trace) -> bool:
        return bool(self._test(trace))

    def explain(self, trace: Trace) -> str:
        """What is missing for the condition to hold ('' when it holds or cannot say)."""
        if self(trace):
            return ""
        return self._explain(trace) if self._explain is not None else ""

    def __and__(self, other: TracePredicate) -> Condition:
        return all_of(self, other)

    def __rand__(self, other: TracePredicate) -> Condition:
        return all_of(other, self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.description})"


def as_condition(until: TracePredicate) -> Condition:
    """A plain predicate as a `Condition` (its name becomes the description)."""
    return until if isinstance(until, Condition) else Condition(until, describe(until))


def all_of(*conditions: TracePredicate) -> Condition:
    """Every condition holds; quiet windows take the longest, services add up."""
    parts = [as_condition(c) for c in conditions]
    quiets = [p.quiet for p in parts if p.quiet is not None]

    def explain(trace: Trace) -> str:
        return "; ".join(e for p in parts if (e := p.explain(trace)))

    return Condition(
        lambda trace: all(p(trace) for p in parts),
        " and ".join(p.description for p in parts),
        services=dict.fromkeys(s for p in parts for s in p.services),
        quiet=max(quiets) if quiets else None,
        explain=explain,
    )


def quiet(seconds: float) -> Condition:
    """No span of the trace arrived for `seconds` (a wait's quiet window, as a condition)."""
    return Condition(lambda trace: True, f"no new span for {seconds}s", quiet=seconds)


class ShapeCondition(Condition):
    """Every named service has a span, and every named kind of span is there."""

    def __init__(
        self,
        services: Iterable[str] = (),
        spans: Mapping[str, Callable[[Span], bool]] | None = None,
        description: str | None = None,
    ):
        self.spans = dict(spans or {})
        services = tuple(services)
        parts = [*services, *self.spans]
        super().__init__(
            lambda trace: not self.missing(trace),
            description or "trace shape (" + ", ".join(parts) + ")",
            services=services,
            explain=lambda trace: "missing: " + ", ".join(self.missing(trace)),
        )

    def missing(self, trace: Trace) -> list[str]:
        """The services and spans not (yet) in the trace, in the order they were named."""
        present = trace.services
        gone = [service for service in self.services if service not in present]
        gone += [label for label, test in self.spans.items() if not any(test(s) for s in trace)]
        return gone


def complete_shape(
    *services: str,
    spans: Mapping[str, Callable[[Span], bool]] | None = None,
    description: str | None = None,
) -> ShapeCondition:
    """The trace has a span of every service and one span matching each of `spans`
    (label -> span predicate), e.g. `complete_shape("cart", spans={"kafka publish": f})`."""
    return ShapeCondition(services, spans, description)


def has_services(*services: str) -> ShapeCondition:
    """Every one of `services` has a span in the trace."""
    return ShapeCondition(services, description="services " + ", ".join(services) + " present")


def entry_span(parent_span_id: str) -> Condition:
    """The span that continued our traceparent (the front door's server span) arrived."""
    return Condition(
        lambda trace: any(span.parent_span_id == parent_span_id for span in trace),
        f"entry span (child of our span {parent_span_id}) arrived",
    )


def settled(client_span_id: str = "") -> Condition:
    """No span of the trace waits for its parent any more.

    The request's server span has the client's span id as parent, which never arrives; any
    other missing parent is a span still in flight (parents end after their children, so
    they are exported last).
    """

    def waiting(trace: Trace) -> list[Span]:
        ids = {s.span_id for s in trace}
        return [
            s
            for s in trace
            if s.parent_span_id
            and s.parent_span_id not in ids
            and s.parent_span_id != client_span_id
        ]

    return Condition(
        lambda trace: bool(len(trace)) and not waiting(trace),
        "every span's parent arrived",
        explain=lambda trace: f"{len(waiting(trace))} span(s) wait for their parent",
    )


def follows_chain(chain: ChainMatcher | Call | str, *, exact: bool = False) -> Condition:
    """The trace (and, for asynchronous hops, other traces of its source) follows a call-chain
    pattern; `explain` is the side-by-side tree of the first difference."""
    from tracebed.query.chains import ChainMatcher, parse_chain, render_side_by_side, service_tree

    if not isinstance(chain, ChainMatcher):
        chain = ChainMatcher(parse_chain(chain) if isinstance(chain, str) else chain, exact)
    matcher = chain

    def bound(trace: Trace) -> ChainMatcher:
        if matcher.store is not None or trace.source is None:
            return matcher
        return ChainMatcher(matcher.pattern, matcher.exact, matcher.correlate, trace.source)

    def test(trace: Trace) -> bool:
        return bound(trace).match(trace) is None

    def explain(trace: Trace) -> str:
        m = bound(trace)
        tops = service_tree(trace)
        diff = m.match_tree(trace, tops)
        if diff is None:
            return ""
        return "\n" + render_side_by_side(m.pattern, tops, diff, m.async_candidates)

    return Condition(test, f"call chain {matcher.pattern}", explain=explain)


# -- logs and metrics ----------------------------------------------------------------------------
# For `wait_for_logs(until=...)` (a predicate on the matching records) and
# `wait_for_metric(until=...)` (on a `MetricSelection`). `count` / `increase` are what a sink
# can check on its own side (its API's `count=` / `increase=`).


class LogCondition:
    """A predicate on log records with a name (`description`) and an `explain`."""

    def __init__(
        self,
        test: Callable[[list[LogRecord]], bool],
        description: str,
        *,
        count: int = 1,
        explain: Callable[[list[LogRecord]], str] | None = None,
    ):
        self._test, self.description, self.count, self._explain = test, description, count, explain

    def __call__(self, records: list[LogRecord]) -> bool:
        return bool(self._test(records))

    def explain(self, records: list[LogRecord]) -> str:
        if self(records):
            return ""
        if self._explain is not None:
            return self._explain(records)
        return f"{len(records)} matching records arrived"

    def __repr__(self) -> str:
        return f"LogCondition({self.description})"


def log_records(
    count: int = 1, *, body_contains: str | None = None, event_name: str | None = None
) -> LogCondition:
    """At least `count` records (whose body contains `body_contains` / with `event_name`)."""

    def matching(records: list[LogRecord]) -> list[LogRecord]:
        return [
            r
            for r in records
            if (body_contains is None or body_contains in str(r.body))
            and (event_name is None or r.event_name == event_name)
        ]

    what = [f"{count} log record{'s' if count != 1 else ''}"]
    if body_contains is not None:
        what.append(f"with body containing {body_contains!r}")
    if event_name is not None:
        what.append(f"named {event_name!r}")
    return LogCondition(
        lambda records: len(matching(records)) >= count,
        " ".join(what),
        count=count,
        explain=lambda records: f"{len(matching(records))} of {count} arrived",
    )


class MetricCondition:
    """A predicate on a `MetricSelection` with a name and an `explain`."""

    def __init__(
        self,
        test: Callable[[MetricSelection], bool],
        description: str,
        *,
        count: int = 1,
        increase: float | None = None,
        explain: Callable[[MetricSelection], str] | None = None,
    ):
        self._test, self.description = test, description
        self.count, self.increase, self._explain = count, increase, explain

    def __call__(self, selection: MetricSelection) -> bool:
        return bool(self._test(selection))

    def explain(self, selection: MetricSelection) -> str:
        if self(selection):
            return ""
        if self._explain is not None:
            return self._explain(selection)
        return f"{len(selection)} matching points arrived"

    def __repr__(self) -> str:
        return f"MetricCondition({self.description})"


def metric_increased(by: float = 1.0) -> MetricCondition:
    """The counter (or histogram count) went up by at least `by` since the wait's mark."""
    return MetricCondition(
        lambda selection: len(selection) > 0 and selection.increase() >= by,
        f"increase of at least {by:g}",
        increase=by,
        explain=lambda selection: f"increase so far {selection.increase():g}",
    )


def metric_points(count: int = 1) -> MetricCondition:
    """At least `count` points arrived (since the wait's mark)."""
    return MetricCondition(
        lambda selection: len(selection) >= count,
        f"{count} metric point{'s' if count != 1 else ''}",
        count=count,
    )


def metric_value(test: Callable[[float], bool], description: str) -> MetricCondition:
    """The newest point of some series has a value for which `test` holds (gauges)."""
    return MetricCondition(
        lambda selection: any(
            p.value is not None and test(float(p.value)) for p in selection.latest()
        ),
        description,
        explain=lambda selection: (
            "latest values " + ", ".join(str(p.value) for p in selection.latest())
        ),
    )
