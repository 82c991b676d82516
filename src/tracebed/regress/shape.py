"""The normalised shape of a trace: what must stay the same across an upgrade.

A shape keeps the tree of (service, span name, kind, status), each span's attribute
keys with their value types, and the values of a few *stable* keys (the protocol
facts: rpc.service, http.route, messaging.destination.name, ...). It drops ids,
timings and business values (prices, user ids, quantities), which change on every run.

Sibling spans with the same (service, name, kind) are merged into one node with a
`count`: checkout calls GetProduct once per cart line, and the number of lines is
not part of the shape's contract (the diff ignores counts unless asked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracebed.errors import ConfigError
from tracebed.model import Span, Trace

FORMAT = "tracebed.shape/1"

# Values of these keys name the protocol and the operation, not the data; they are the
# same on every run of a flow, so a change in them is an upgrade difference worth reporting.
DEFAULT_STABLE_KEYS: tuple[str, ...] = (
    "rpc.system",
    "rpc.service",
    "rpc.method",
    "rpc.grpc.status_code",
    "grpc.method",
    "grpc.status_code",
    "http.method",
    "http.request.method",
    "http.route",
    "http.status_code",
    "http.response.status_code",
    "messaging.system",
    "messaging.destination",
    "messaging.destination.name",
    "messaging.operation",
    "messaging.operation.type",
    "db.system",
    "db.operation",
    "network.transport",
    "peer.service",
)


# The demo's collector renames spans before export (otelcol-config.yml `transform`): Next.js
# puts the query string, and so ids, into span names. Shapes apply the same two rules, so
# that traces exported without that processor (the Tracetest overlay, the reference stack's
# collector) give the same, stable names.
_QUERY = re.compile(r"\?.*", re.DOTALL)
_PRODUCT_PAGE = re.compile(r"^GET /api/products/.*$", re.DOTALL)

SpanNamer = Callable[[str], str]


# Demo 3.0.0's collector names DB client spans by their target, `server.address[:port]`
# (demo-facts-3.0 §5.2). An IP literal and a port picked at run time are not shape: they
# become placeholders, so two runs of a stack on different ports give the same shape.
_ADDRESS = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\])(:\d+)?$")


def demo_span_name(name: str) -> str:
    """A span name as the demo collector's transform processor leaves it (2.0.2's rules),
    with run-time addresses (an IP, a port) as placeholders."""
    name = _QUERY.sub("", name)
    name = _PRODUCT_PAGE.sub("GET /api/products/{productId}", name)
    address = _ADDRESS.match(name)
    if address:
        return "{server.address}" + (":{server.port}" if address.group(1) else "")
    return name


def keep_span_name(name: str) -> str:
    return name


def value_type(value: Any) -> str:
    """The OTLP AnyValue type of a decoded attribute value, as one word."""
    if isinstance(value, bool):  # before int: bool is an int in Python
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, bytes | bytearray):
        return "bytes"
    if isinstance(value, Mapping):
        return "map"
    if isinstance(value, list | tuple):
        inner = sorted({value_type(v) for v in value})
        return f"array<{'|'.join(inner)}>" if inner else "array"
    if value is None:
        return "empty"
    return type(value).__name__


def _json_value(value: Any) -> Any:
    """A stable value as JSON can hold it (bytes as hex, tuples as lists)."""
    if isinstance(value, bytes | bytearray):
        return value.hex()
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    return value


@dataclass(frozen=True, slots=True)
class EdgeShape:
    """A service-to-service call in the shape: caller, callee, and the kind of call."""

    caller: str
    callee: str
    kind: str  # SpanType value: rpc, http, messaging, database, general

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee} ({self.kind})"

    def as_list(self) -> list[str]:
        return [self.caller, self.callee, self.kind]


@dataclass(slots=True)
class SpanShape:
    """One node of the shape tree (one span, or several identical siblings merged)."""

    service: str
    name: str
    kind: str  # SpanKind label: server, client, internal, producer, consumer, unspecified
    status: str  # unset, ok, error
    attributes: dict[str, str] = field(default_factory=dict)  # key -> type ("int|string" if mixed)
    values: dict[str, Any] = field(default_factory=dict)  # stable key -> value
    count: int = 1
    children: list[SpanShape] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.service, self.name, self.kind)

    @property
    def label(self) -> str:
        return f"{self.service}: {self.name}"

    def walk(self) -> Iterable[SpanShape]:
        yield self
        for child in self.children:
            yield from child.walk()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "service": self.service,
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "attributes": dict(sorted(self.attributes.items())),
        }
        if self.values:
            out["values"] = dict(sorted(self.values.items()))
        if self.count != 1:
            out["count"] = self.count
        if self.children:
            out["children"] = [c.to_dict() for c in self.children]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "span") -> SpanShape:
        try:
            service, name, kind, status = (
                str(data["service"]),
                str(data["name"]),
                str(data["kind"]),
                str(data["status"]),
            )
        except KeyError as exc:
            raise ShapeFormatError(f"{where}: missing key {exc.args[0]!r}") from None
        attributes = data.get("attributes", {})
        values = data.get("values", {})
        if not isinstance(attributes, Mapping) or not isinstance(values, Mapping):
            raise ShapeFormatError(f"{where}: 'attributes' and 'values' must be mappings")
        children = data.get("children", [])
        if not isinstance(children, list):
            raise ShapeFormatError(f"{where}: 'children' must be a list")
        label = f"{where} > {service}: {name}"
        return cls(
            service=service,
            name=name,
            kind=kind,
            status=status,
            attributes={str(k): str(v) for k, v in attributes.items()},
            values={str(k): v for k, v in values.items()},
            count=int(data.get("count", 1)),
            children=[cls.from_dict(c, label) for c in children],
        )


class ShapeFormatError(ConfigError, ValueError):
    """A file that claims to be a shape recording but is not a valid one."""


@dataclass(slots=True)
class TraceShape:
    """The shape of one flow's trace."""

    flow: str
    roots: list[SpanShape]
    edges: set[EdgeShape]
    stable_keys: tuple[str, ...] = DEFAULT_STABLE_KEYS

    @property
    def span_count(self) -> int:
        return sum(node.count for root in self.roots for node in root.walk())

    def nodes(self) -> Iterable[SpanShape]:
        for root in self.roots:
            yield from root.walk()

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "flow": self.flow,
            "stable_keys": list(self.stable_keys),
            "edges": [e.as_list() for e in sorted(self.edges, key=EdgeShape.as_list)],
            "spans": [root.to_dict() for root in self.roots],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "shape") -> TraceShape:
        if data.get("format") != FORMAT:
            raise ShapeFormatError(
                f"{where}: not a tracebed shape recording (format {data.get('format')!r}, "
                f"expected {FORMAT!r})"
            )
        try:
            edges = {EdgeShape(str(c), str(d), str(k)) for c, d, k in data.get("edges", [])}
        except (TypeError, ValueError):
            raise ShapeFormatError(
                f"{where}: 'edges' must be [caller, callee, kind] triples"
            ) from None
        spans = data.get("spans")
        if not isinstance(spans, list):
            raise ShapeFormatError(f"{where}: 'spans' must be a list")
        return cls(
            flow=str(data.get("flow", "")),
            roots=[SpanShape.from_dict(s, where) for s in spans],
            edges=edges,
            stable_keys=tuple(str(k) for k in data.get("stable_keys", DEFAULT_STABLE_KEYS)),
        )


def _node(span: Span, stable: frozenset[str], rename: SpanNamer) -> SpanShape:
    return SpanShape(
        service=span.service,
        name=rename(span.name),
        kind=span.kind.label,
        status=span.status.code.name.lower(),
        attributes={k: value_type(v) for k, v in span.attributes.items()},
        values={k: _json_value(v) for k, v in span.attributes.items() if k in stable},
    )


def _merge_into(target: SpanShape, other: SpanShape) -> None:
    """Fold an identical-looking sibling into `target` (types and values are unioned)."""
    target.count += other.count
    for key, typ in other.attributes.items():
        mine = target.attributes.get(key)
        if mine is None:
            target.attributes[key] = typ
        elif mine != typ:
            target.attributes[key] = "|".join(sorted(set(mine.split("|")) | set(typ.split("|"))))
    for key, value in other.values.items():
        if key in target.values and target.values[key] != value:
            # A key whose value differs between siblings is not stable here; keep it sorted
            # as a list of the values seen so that the shape stays deterministic.
            seen = target.values[key]
            pool = seen["any_of"] if isinstance(seen, dict) and "any_of" in seen else [seen]
            if value not in pool:
                pool = sorted([*pool, value], key=repr)
            target.values[key] = {"any_of": pool}
        else:
            target.values.setdefault(key, value)
    # A merged node is an error if any of its spans was: the error is the thing to notice.
    order = {"error": 2, "ok": 1, "unset": 0}
    if order.get(other.status, 0) > order.get(target.status, 0):
        target.status = other.status
    target.children = _merge_siblings([*target.children, *other.children])


def _merge_siblings(nodes: list[SpanShape]) -> list[SpanShape]:
    merged: dict[tuple[str, str, str], SpanShape] = {}
    for node in nodes:
        existing = merged.get(node.key)
        if existing is None:
            merged[node.key] = node
        else:
            _merge_into(existing, node)
    # Sorted, not in start order: concurrent calls start in any order from run to run.
    return sorted(merged.values(), key=lambda n: n.key)


def trace_edges(trace: Trace) -> set[EdgeShape]:
    return {EdgeShape(e.caller, e.callee, e.kind.value) for e in trace.edge_list}


def normalise(
    trace: Trace,
    flow: str = "",
    stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS,
    rename: SpanNamer = demo_span_name,
) -> TraceShape:
    """The shape of `trace`. Orphans (parent never received) are tops, like roots.

    `rename` normalises span names (default: the demo collector's rules, see
    `demo_span_name`; `keep_span_name` keeps them as they are).
    """
    keys = tuple(stable_keys)
    stable = frozenset(keys)

    def build(span: Span, seen: set[str]) -> SpanShape:
        seen.add(span.span_id)
        node = _node(span, stable, rename)
        kids = [build(c, seen) for c in trace.children(span) if c.span_id not in seen]
        node.children = _merge_siblings(kids)
        return node

    seen: set[str] = set()
    roots = [build(top, seen) for top in trace.tops]
    return TraceShape(
        flow=flow, roots=_merge_siblings(roots), edges=trace_edges(trace), stable_keys=keys
    )


def normalise_many(
    traces: Iterable[Trace],
    flow: str = "",
    stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS,
    rename: SpanNamer = demo_span_name,
) -> TraceShape:
    """One shape for a flow that made several traces (one per HTTP request it sent)."""
    keys = tuple(stable_keys)
    shapes = [normalise(t, flow, keys, rename) for t in traces]
    roots = _merge_siblings([r for s in shapes for r in s.roots])
    edges = {e for s in shapes for e in s.edges}
    return TraceShape(flow=flow, roots=roots, edges=edges, stable_keys=keys)


__all__ = [
    "DEFAULT_STABLE_KEYS",
    "FORMAT",
    "EdgeShape",
    "ShapeFormatError",
    "SpanShape",
    "TraceShape",
    "normalise",
    "normalise_many",
    "demo_span_name",
    "keep_span_name",
    "trace_edges",
    "value_type",
]
