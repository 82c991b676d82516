"""A trace: the spans that share one trace id, as a tree and as a service graph."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from tracebed.model.span import Span, SpanKind, SpanType

if TYPE_CHECKING:
    from tracebed.model.logs import LogRecord
    from tracebed.model.source import TraceSource


@dataclass(frozen=True, slots=True)
class Edge:
    """A call from one service to another, seen where a span's parent is in another service."""

    caller: str
    callee: str
    kind: SpanType

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee} ({self.kind.value})"


def _start_order(span: Span) -> tuple[int, str]:
    return (span.start_ns, span.span_id)


class Trace:
    """An immutable snapshot of one trace's spans: a plain value.

    Spans may arrive out of order, so a span whose parent has not (yet) arrived
    is an *orphan*: it is reported beside the roots, never dropped. `source` is where the
    trace came from (a store, a sink client); only span links into it are resolved there.
    """

    def __init__(self, trace_id: str, spans: Iterable[Span], source: TraceSource | None = None):
        self.trace_id = trace_id
        self._spans: tuple[Span, ...] = tuple(sorted(spans, key=_start_order))
        self.source = source

    # -- collection -----------------------------------------------------------------
    def __iter__(self) -> Iterator[Span]:
        return iter(self._spans)

    def __len__(self) -> int:
        return len(self._spans)

    def __bool__(self) -> bool:
        return bool(self._spans)

    def __repr__(self) -> str:
        return f"Trace({self.trace_id}, {len(self)} spans, services={sorted(self.services)})"

    @property
    def spans(self) -> tuple[Span, ...]:
        """All spans in start order."""
        return self._spans

    @cached_property
    def by_id(self) -> dict[str, Span]:
        return {span.span_id: span for span in self._spans}

    def get(self, span_id: str) -> Span | None:
        return self.by_id.get(span_id)

    def find(self, predicate: Callable[[Span], bool]) -> list[Span]:
        return [span for span in self._spans if predicate(span)]

    def named(self, name: str, service: str | None = None) -> list[Span]:
        return [
            s for s in self._spans if s.name == name and (service is None or s.service == service)
        ]

    # -- tree -----------------------------------------------------------------------
    @cached_property
    def _children(self) -> dict[str, list[Span]]:
        children: dict[str, list[Span]] = defaultdict(list)
        for span in self._spans:  # already in start order, so children lists are too
            if span.parent_span_id:
                children[span.parent_span_id].append(span)
        return children

    def children(self, span: Span | str) -> list[Span]:
        span_id = span if isinstance(span, str) else span.span_id
        return list(self._children.get(span_id, ()))

    def parent(self, span: Span) -> Span | None:
        return self.by_id.get(span.parent_span_id) if span.parent_span_id else None

    @property
    def roots(self) -> list[Span]:
        """Spans with no parent id."""
        return [span for span in self._spans if not span.parent_span_id]

    @property
    def orphans(self) -> list[Span]:
        """Spans whose parent id names a span that is not (yet) in this trace."""
        ids = self.by_id
        return [s for s in self._spans if s.parent_span_id and s.parent_span_id not in ids]

    @property
    def tops(self) -> list[Span]:
        """Where the tree starts: roots, then orphans (both in start order)."""
        return sorted(self.roots + self.orphans, key=_start_order)

    @property
    def entry(self) -> Span | None:
        """Where the trace enters, when it has a single top: a root, or a span whose parent is
        the caller's (a test's traceparent), which is then not an orphan in any useful sense."""
        tops = self.tops
        return tops[0] if len(tops) == 1 else None

    @property
    def lost_parents(self) -> list[Span]:
        """Orphans other than the entry: spans whose parent should be in the trace but is not."""
        entry = self.entry
        return [s for s in self.orphans if entry is None or s.span_id != entry.span_id]

    def walk(self) -> Iterator[tuple[int, Span]]:
        """Depth-first (depth, span) over the tree, roots and orphans at depth 0."""
        stack: list[tuple[int, Span]] = [(0, s) for s in reversed(self.tops)]
        while stack:
            depth, span = stack.pop()
            yield depth, span
            stack.extend((depth + 1, c) for c in reversed(self._children.get(span.span_id, ())))

    def ancestors(self, span: Span) -> list[Span]:
        """Parent first, up to the top of the tree."""
        chain: list[Span] = []
        seen = {span.span_id}
        current = self.parent(span)
        while current is not None and current.span_id not in seen:
            chain.append(current)
            seen.add(current.span_id)
            current = self.parent(current)
        return chain

    def descendants(self, span: Span) -> list[Span]:
        found: list[Span] = []
        stack = list(reversed(self._children.get(span.span_id, ())))
        while stack:
            child = stack.pop()
            found.append(child)
            stack.extend(reversed(self._children.get(child.span_id, ())))
        return found

    # -- service graph --------------------------------------------------------------
    @property
    def services(self) -> set[str]:
        return {span.service for span in self._spans}

    @cached_property
    def edge_list(self) -> frozenset[Edge]:
        """Every cross-service hop, with the kind of call (rpc, http, messaging, ...)."""
        edges: set[Edge] = set()
        for span in self._spans:
            parent = self.parent(span)
            if parent is None or parent.service == span.service:
                continue
            # The caller's client/producer span knows the protocol best; fall back to the callee's.
            caller_side = parent if parent.kind in (SpanKind.CLIENT, SpanKind.PRODUCER) else span
            kind = caller_side.span_type
            if kind is SpanType.GENERAL:
                kind = span.span_type
            edges.add(Edge(parent.service, span.service, kind))
        return frozenset(edges)

    @property
    def edges(self) -> set[tuple[str, str]]:
        """`(caller, callee)` service pairs."""
        return {(edge.caller, edge.callee) for edge in self.edge_list}

    def edge_kinds(self) -> dict[tuple[str, str], set[SpanType]]:
        kinds: dict[tuple[str, str], set[SpanType]] = defaultdict(set)
        for edge in self.edge_list:
            kinds[(edge.caller, edge.callee)].add(edge.kind)
        return dict(kinds)

    # -- time -----------------------------------------------------------------------
    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self._spans), default=0)

    @property
    def end_ns(self) -> int:
        return max((s.end_ns for s in self._spans), default=0)

    @property
    def duration(self) -> float:
        return max(0, self.end_ns - self.start_ns) / 1e9

    @property
    def errors(self) -> list[Span]:
        return [span for span in self._spans if span.status.is_error]

    # -- links across traces ----------------------------------------------------------
    def linked_spans(self, *, span_ids: AbstractSet[str] | None = None) -> list[Span]:
        """Spans of *other* traces that carry a span link into this trace (async consumers).

        With `span_ids`, only links to one of those spans count (e.g. the spans this snapshot
        holds: a link may name a span of this trace that has not arrived).
        """
        if self.source is None:
            return []
        others = [
            s for s in self.source.spans_linking_to(self.trace_id) if s.trace_id != self.trace_id
        ]
        if span_ids is None:
            return others
        return [
            s
            for s in others
            if any(link.trace_id == self.trace_id and link.span_id in span_ids for link in s.links)
        ]

    # -- logs -------------------------------------------------------------------------
    def logs(self, span: Span | str | None = None) -> list[LogRecord]:
        """The log records of this trace (or of one of its spans) as the source holds them now
        (empty when the source keeps no logs). To wait for them: `source.wait_for_logs`."""
        logs = getattr(self.source, "logs", None)
        if not callable(logs):
            return []
        span_id = span.span_id if isinstance(span, Span) else span
        records: list[LogRecord] = logs(trace_id=self.trace_id, span_id=span_id)
        return records

    def links_out(self) -> list[tuple[Span, str, str]]:
        """`(span, trace_id, span_id)` for every link a span of this trace carries."""
        return [(span, link.trace_id, link.span_id) for span in self._spans for link in span.links]

    def render(self, **options: object) -> str:
        """The text tree (see `tracebed.model.render.render_tree`)."""
        from tracebed.model.render import render_tree

        return render_tree(self, **options)  # type: ignore[arg-type]

    def __str__(self) -> str:
        return self.render()
