"""Call-chain patterns: which service calls which, matched against a trace's service tree.

    frontend-proxy → frontend → checkout → {cart, product-catalog, currency, shipping → quote,
                                            payment, email} ~> {accounting?, fraud-detection?}

- `a → b` (or `->`): a call from service a to service b (b's span is a child of one of a's).
- `a ~> b`: an asynchronous hop (Kafka): b consumes what a produced, found as a child span,
  through a span link, or, when the instrumentation links nothing, through a correlating
  attribute (e.g. `app.order.id`) in spans of other traces of the same source (store).
- `{x, y}` unordered children; `[x, y]` ordered (first calls start in that order).
- `name?` optional, `name*N` exactly N calls; a plain name means at least one call.
- Extra calls that the pattern does not name are allowed unless `exact=True`.

Only services are matched (span names differ by language). On mismatch, `ChainMismatch`
shows the expected and the actual trees side by side with the first difference marked.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tracebed.errors import ExpectationFailed
from tracebed.model import Span, SpanKind, Trace
from tracebed.query.errors import QuerySyntaxError

if TYPE_CHECKING:
    from tracebed.model.source import TraceSource
    from tracebed.query.conditions import Condition

SYNC, ASYNC = "→", "~>"


# -- the pattern ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Call:
    """One expected service, with the calls expected from it."""

    service: str
    children: tuple[Call, ...] = ()
    hop: str = SYNC  # how the parent reaches this service
    optional: bool = False
    count: int | None = None
    ordered: bool = False  # children must start in the given order

    def calls(self, *children: Call | str, ordered: bool = False) -> Call:
        kids = tuple(c if isinstance(c, Call) else Call(c) for c in children)
        return Call(self.service, self.children + kids, self.hop, self.optional, self.count, ordered)

    def publishes(self, *children: Call | str) -> Call:
        kids = tuple(
            Call(c.service, c.children, ASYNC, c.optional, c.count, c.ordered) if isinstance(c, Call)
            else Call(c, hop=ASYNC) for c in children
        )
        return Call(self.service, self.children + kids, self.hop, self.optional, self.count, self.ordered)

    @property
    def label(self) -> str:
        suffix = "?" if self.optional else (f" ×{self.count}" if self.count is not None else "")
        return f"{self.service}{suffix}"

    def __str__(self) -> str:
        return format_chain(self)


def svc(service: str, *, optional: bool = False, count: int | None = None) -> Call:
    """Start a pattern in Python: `svc("checkout").calls("cart", svc("shipping").calls("quote"))`."""
    return Call(service, optional=optional, count=count)


def format_chain(call: Call) -> str:
    if not call.children:
        return call.label.replace(" ×", "*")
    groups: list[str] = []
    for hop in (SYNC, ASYNC):
        kids = [c for c in call.children if c.hop == hop]
        if not kids:
            continue
        inner = ", ".join(format_chain(k) for k in kids)
        text = inner if len(kids) == 1 and not call.ordered else (
            f"[{inner}]" if call.ordered else f"{{{inner}}}")
        groups.append(f" {hop} {text}")
    return call.label.replace(" ×", "*") + "".join(groups)


# -- parser -----------------------------------------------------------------------------------
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-/]*")
_HOPS = (("→", SYNC), ("->", SYNC), ("~>", ASYNC), ("⇢", ASYNC))


class _Parser:
    def __init__(self, text: str):
        self.text, self.pos = text, 0

    def ws(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def error(self, expected: str) -> QuerySyntaxError:
        return QuerySyntaxError(self.text, self.pos, expected)

    def hop(self) -> str | None:
        for token, hop in _HOPS:
            if self.text.startswith(token, self.pos):
                self.pos += len(token)
                return hop
        return None

    def node(self, hop: str = SYNC) -> Call:
        self.ws()
        match = _NAME.match(self.text, self.pos)
        if match is None:
            raise self.error("a service name")
        self.pos = match.end()
        optional, count = False, None
        if self.text.startswith("?", self.pos):
            optional, self.pos = True, self.pos + 1
        elif self.text.startswith(("*", "×"), self.pos):
            self.pos += 1
            number = re.compile(r"[0-9]+").match(self.text, self.pos)
            if number is None:
                raise self.error("a number of calls after * (e.g. currency*2)")
            count, self.pos = int(number.group()), number.end()
        children: list[Call] = []
        ordered = False
        while True:
            self.ws()
            save = self.pos
            next_hop = self.hop()
            if next_hop is None:
                self.pos = save
                break
            self.ws()
            if self.text.startswith(("{", "["), self.pos):
                close = "}" if self.text[self.pos] == "{" else "]"
                ordered = ordered or close == "]"
                self.pos += 1
                children.append(self.node(next_hop))
                while True:
                    self.ws()
                    if self.text.startswith(",", self.pos):
                        self.pos += 1
                        children.append(self.node(next_hop))
                        continue
                    if self.text.startswith(close, self.pos):
                        self.pos += 1
                        break
                    raise self.error(f"',' or '{close}'")
            else:
                children.append(self.node(next_hop))
        return Call(match.group(), tuple(children), hop, optional, count, ordered)


def parse_chain(text: str) -> Call:
    """Parse a chain pattern; raises QuerySyntaxError with the column and what was expected."""
    if not isinstance(text, str):
        raise QuerySyntaxError(str(text), 0, "a chain pattern as text")
    parser = _Parser(text)
    root = parser.node()
    parser.ws()
    if parser.pos != len(text):
        raise parser.error("→, ~> or the end of the pattern")
    return root


# -- the actual service tree ------------------------------------------------------------------
@dataclass
class Node:
    """One call into a service: the spans it produced there, and the calls it made."""

    service: str
    spans: list[Span] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    hop: str = SYNC
    trace_id: str = ""

    @property
    def start_ns(self) -> int:
        return min((s.start_ns for s in self.spans), default=0)


def _is_async(parent: Span, child: Span) -> bool:
    return child.kind is SpanKind.CONSUMER or parent.kind is SpanKind.PRODUCER


def service_tree(trace: Trace) -> list[Node]:
    """Collapse the span tree into calls between services (one node per entry into a service)."""
    tops: list[Node] = []

    def visit(span: Span, node: Node) -> None:
        for child in trace.children(span):
            if child.service == node.service:
                node.spans.append(child)
                visit(child, node)
            else:
                sub = Node(child.service, [child], hop=ASYNC if _is_async(span, child) else SYNC,
                           trace_id=trace.trace_id)
                node.children.append(sub)
                visit(child, sub)

    for top in trace.tops:
        node = Node(top.service, [top], trace_id=trace.trace_id)
        tops.append(node)
        visit(top, node)
    return tops


def _all_nodes(nodes: Iterable[Node]) -> list[Node]:
    out: list[Node] = []
    stack = list(reversed(list(nodes)))
    while stack:
        node = stack.pop()
        out.append(node)
        stack.extend(reversed(node.children))
    return out


def _subtree_spans(node: Node) -> list[Span]:
    return [s for n in _all_nodes([node]) for s in n.spans]


# -- matching ---------------------------------------------------------------------------------
@dataclass
class Difference:
    """The first place where the trace departs from the pattern."""

    expected: Call  # the pattern node that failed
    actual: Node | None  # the actual node under which it was looked for
    reason: str
    depth: int = 0


class ChainMismatch(ExpectationFailed):
    def __init__(self, pattern: Call, tops: list[Node], diff: Difference, lookup: Lookup | None = None):
        self.pattern, self.tops, self.difference = pattern, tops, diff
        super().__init__(render_side_by_side(pattern, tops, diff, lookup))


@dataclass
class ChainMatcher:
    pattern: Call
    exact: bool = False
    correlate: tuple[str, ...] = ()
    store: TraceSource | None = None

    def match(self, trace: Trace) -> Difference | None:
        return self.match_tree(trace, service_tree(trace))

    def match_tree(self, trace: Trace, tops: list[Node]) -> Difference | None:
        candidates = [n for n in _all_nodes(tops) if n.service == self.pattern.service]
        if not candidates:
            return Difference(self.pattern, None,
                              f"no span of service {self.pattern.service!r} in the trace "
                              f"(services: {', '.join(sorted(trace.services))})")
        best: Difference | None = None
        for node in candidates:
            diff = self._match(self.pattern, node, 0)
            if diff is None:
                return None
            if best is None or diff.depth > best.depth:
                best = diff
        return best

    def condition(self) -> Condition:
        """This pattern as a wait condition: `source.wait_for_trace(tid, until=m.condition())`
        re-checks on every arrival (also of other traces, for async hops); on timeout the
        message shows both trees."""
        from tracebed.query.conditions import follows_chain

        return follows_chain(self)

    def check(self, trace: Trace) -> None:
        tops = service_tree(trace)  # the same nodes the difference points at, for the marks
        diff = self.match_tree(trace, tops)
        if diff is not None:
            raise ChainMismatch(self.pattern, tops, diff, self.async_candidates)

    def async_candidates(self, node: Node, service: str) -> list[Node]:
        """Consumers of `node`'s messages in other traces: by span link, then by attribute."""
        if self.store is None:
            return []
        spans = _subtree_spans(node)
        span_ids = {s.span_id for s in spans}
        found: list[Node] = []
        trace_id = node.trace_id or (spans[0].trace_id if spans else "")
        linked = [s for s in self.store.spans_linking_to(trace_id)
                  if any(link.span_id in span_ids for link in s.links)] if trace_id else []
        for span in linked:
            other = self.store.get_trace(span.trace_id)
            if other is not None:
                found += [n for n in _all_nodes(service_tree(other)) if n.service == service]
        if found or not self.correlate:
            return found
        values = {(key, str(s.attr(key))) for s in spans for key in self.correlate if s.attr(key) is not None}
        if not values:
            return []
        for other in self.store.traces():
            if other.trace_id == trace_id:
                continue
            for candidate in _all_nodes(service_tree(other)):
                if candidate.service == service and any(
                    (key, str(s.attr(key))) in values for s in _subtree_spans(candidate) for key in self.correlate
                ):
                    found.append(candidate)
        return found

    def _match(self, pattern: Call, node: Node, depth: int) -> Difference | None:
        firsts: list[tuple[int, Call]] = []
        named = {c.service for c in pattern.children}
        for child in pattern.children:
            candidates = [n for n in node.children if n.service == child.service]
            if child.hop == ASYNC and not candidates:
                candidates = self.async_candidates(node, child.service)
            if child.count is not None and len(candidates) != child.count:
                return Difference(child, node, f"expected {child.count} call(s) from {node.service} to "
                                               f"{child.service}, found {len(candidates)}", depth + 1)
            if not candidates:
                if child.optional:
                    continue
                calls = ", ".join(sorted({n.service for n in node.children})) or "none"
                how = "asynchronous hop" if child.hop == ASYNC else "call"
                return Difference(child, node, f"expected a {how} from {node.service} to {child.service}; "
                                               f"{node.service} calls: {calls}", depth + 1)
            if child.children:
                diffs = [self._match(child, c, depth + 1) for c in candidates]
                if all(d is not None for d in diffs):
                    return max((d for d in diffs if d is not None), key=lambda d: d.depth)
            firsts.append((min(c.start_ns for c in candidates), child))
        if pattern.ordered:
            in_time = [c for _, c in sorted(firsts, key=lambda item: item[0])]
            wanted = [c for _, c in firsts]
            for got, want in zip(in_time, wanted, strict=True):
                if got is not want:
                    return Difference(want, node, f"calls from {node.service} out of order: expected "
                                                  f"{', '.join(c.service for c in wanted)}, happened "
                                                  f"{', '.join(c.service for c in in_time)}", depth + 1)
        if self.exact:
            extra = sorted({n.service for n in node.children} - named)
            if extra:
                return Difference(pattern, node, f"unexpected call(s) from {node.service} to "
                                                 f"{', '.join(extra)}", depth)
        return None


def match_chain(trace: Trace, pattern: str | Call, *, exact: bool = False,
                correlate: Sequence[str] = (), store: TraceSource | None = None) -> Difference | None:
    """None when the trace follows the pattern, else the first difference."""
    call = parse_chain(pattern) if isinstance(pattern, str) else pattern
    return ChainMatcher(call, exact, tuple(correlate), store or trace.source).match(trace)


def assert_chain(trace: Trace, pattern: str | Call, *, exact: bool = False,
                 correlate: Sequence[str] = (), store: TraceSource | None = None) -> None:
    """Raise ChainMismatch (an AssertionError) showing both trees when the trace departs."""
    call = parse_chain(pattern) if isinstance(pattern, str) else pattern
    ChainMatcher(call, exact, tuple(correlate), store or trace.source).check(trace)


# -- rendering --------------------------------------------------------------------------------
Row = tuple[str, str, str]  # expected cell, actual cell, tag ("expected" / "extra" / "")


def _group(nodes: Iterable[Node]) -> dict[str, list[Node]]:
    groups: dict[str, list[Node]] = {}
    for node in nodes:
        groups.setdefault(node.service, []).append(node)
    return groups


def _actual_label(group: list[Node], depth: int, elsewhere: bool = False) -> str:
    if not group:
        return ""
    hop = "" if depth == 0 else ("~> " if group[0].hop == ASYNC or elsewhere else "→ ")
    times = f" ×{len(group)}" if len(group) > 1 else ""
    where = f" (trace {group[0].trace_id[:8]}…)" if elsewhere else ""
    return "  " * depth + hop + (group[0].service or "?") + times + where


def _extra_rows(group: list[Node], depth: int, tag: str) -> list[Row]:
    """An actual call the pattern does not mention, with what it called in turn."""
    rows: list[Row] = [("", _actual_label(group, depth), tag)]
    for sub in _group(c for n in group for c in n.children).values():
        rows += _extra_rows(sub, depth + 1, "")
    return rows


Lookup = Callable[[Node, str], list[Node]]


def _rows(call: Call, group: list[Node], diff: Difference, depth: int, lookup: Lookup | None,
          elsewhere: bool = False) -> list[Row]:
    hop = "" if depth == 0 else ("~> " if call.hop == ASYNC else "→ ")
    tag = "expected" if call is diff.expected else ""
    rows: list[Row] = [("  " * depth + hop + call.label, _actual_label(group, depth, elsewhere), tag)]
    children = _group(c for n in group for c in n.children)
    for child in call.children:
        found = children.pop(child.service, [])
        other = False
        if not found and child.hop == ASYNC and lookup is not None:
            # consumers in other traces (span link or correlating attribute)
            found = [c for n in group for c in lookup(n, child.service)]
            other = bool(found)
        rows += _rows(child, found, diff, depth + 1, lookup, other)
    holds_diff = any(n is diff.actual for n in group)
    for extra in children.values():
        rows += _extra_rows(extra, depth + 1, "extra" if holds_diff else "")
    return rows


def render_side_by_side(pattern: Call, tops: list[Node], diff: Difference, lookup: Lookup | None = None) -> str:
    """Expected and actual trees in two columns, aligned call by call; `>>` marks the row of
    the first difference (✗ on the expected side, ◀ on the actual side). With `lookup`,
    asynchronous consumers found in other traces are shown too."""
    roots = [n for n in _all_nodes(tops) if n.service == pattern.service]
    rows = _rows(pattern, roots, diff, 0, lookup)
    wanted = "extra" if diff.reason.startswith("unexpected") else "expected"
    target = next((i for i, row in enumerate(rows) if row[2] == wanted), None)
    width = max([len("(not expected)")] + [len(e) for e, _, _ in rows]) + 7
    out = [f"call chain differs: {diff.reason}", "", f"   {'expected'.ljust(width)}actual"]
    for i, (expected, actual, _) in enumerate(rows):
        if i == target:
            expected = f"{expected}  ✗" if expected else "(not expected)"
            actual = f"{actual}  ◀" if actual else "(missing)  ◀"
        out.append(f"{'>> ' if i == target else '   '}{expected.ljust(width)}{actual}".rstrip())
    if not roots:
        services = ", ".join(sorted({n.service for n in _all_nodes(tops)}))
        out.append(f"   {'':<{width}}(services in the trace: {services})")
    return "\n".join(out)


# -- YAML fixtures ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ChainFixture:
    name: str
    pattern: Call
    exact: bool = False
    correlate: tuple[str, ...] = ()
    flow: str = ""
    description: str = ""
    path: Path | None = None

    def matcher(self, store: TraceSource | None = None) -> ChainMatcher:
        return ChainMatcher(self.pattern, self.exact, self.correlate, store)


def load_chain(path: Path) -> ChainFixture:
    """A chain written as YAML: `name`, `chain` (the pattern text), optional `exact`,
    `correlate` (attribute keys for async hops), `flow`, `description`."""
    path = Path(path)
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or "chain" not in data:
        raise ValueError(f"{path}: a chain fixture needs a `chain:` pattern")
    try:
        pattern = parse_chain(str(data["chain"]))
    except QuerySyntaxError as exc:
        raise ValueError(f"{path}: chain: {exc}") from None
    correlate = data.get("correlate") or ()
    return ChainFixture(
        name=str(data.get("name") or path.stem),
        pattern=pattern,
        exact=bool(data.get("exact", False)),
        correlate=tuple(correlate) if isinstance(correlate, list) else (str(correlate),),
        flow=str(data.get("flow") or ""),
        description=str(data.get("description") or ""),
        path=path,
    )


def load_chains(directory: Path) -> dict[str, ChainFixture]:
    return {f.name: f for f in (load_chain(p) for p in sorted(Path(directory).glob("*.y*ml")))}
