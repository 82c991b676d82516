"""Draft a service's contract from observed traces, to be reviewed and committed.

Each way into the service (a span of it whose parent is in another service, or none)
becomes an operation. What every occurrence has is required; what only some have is
marked optional (spans, calls) or left out (attributes). Protocol values (rpc.service,
http.route, messaging.destination.name ...) are pinned; business values only typed.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping

from tracebed.contracts.check import edge_kind, local_spans
from tracebed.contracts.deps import leaf_callee
from tracebed.contracts.model import AttributeRule, CallRule, Contract, Operation, SpanRule
from tracebed.model import Span, SpanKind, StatusCode, Trace
from tracebed.regress.shape import DEFAULT_STABLE_KEYS, demo_span_name, value_type

# Status codes vary with the run's outcome: typed, never pinned in a draft.
PINNED_KEYS = frozenset(k for k in DEFAULT_STABLE_KEYS if "status_code" not in k)


def name_pattern(name: str, seen: set[str]) -> str | None:
    """A `match` regex when the names seen differ from the normalised `name` (query strings,
    product ids in Next.js span names); None when they are all exactly `name`."""
    if seen == {name}:
        return None
    escaped = re.escape(name).replace("\\ ", " ")  # spaces need no escape: keep it legible
    pattern = escaped.replace(re.escape("{productId}"), "[^/?]+")
    return pattern + r"(\?.*)?"


def _entries(service: str, traces: Iterable[Trace]) -> list[tuple[Trace, Span]]:
    out = []
    for trace in traces:
        for span in trace:
            if span.service != service:
                continue
            parent = trace.parent(span)
            if parent is None or parent.service != service:
                out.append((trace, span))
    return out


def _attribute_rules(spans: list[Span]) -> tuple[AttributeRule, ...]:
    common = set.intersection(*(set(s.attributes) for s in spans)) if spans else set()
    rules = []
    for key in sorted(common):
        values = [s.attributes[key] for s in spans]
        types = sorted({value_type(v) for v in values})
        typ = types[0] if len(types) == 1 else "any"
        if typ.startswith("array<") and "|" in typ:
            typ = "array"
        if typ == "empty":
            typ = "any"
        if key in PINNED_KEYS and all(v == values[0] for v in values):
            rules.append(AttributeRule(key, typ, value=values[0], has_value=True))
        else:
            rules.append(AttributeRule(key, typ))
    return tuple(rules)


def _status_rule(spans: list[Span]) -> str:
    errors = sum(1 for s in spans if s.status.code is StatusCode.ERROR)
    if errors == 0:
        return "not_error"
    return "error" if errors == len(spans) else "any"


def _operation_name(name: str, spans: list[Span]) -> str:
    """The RPC method when every call agrees on it, else the (normalised) span name."""
    method = spans[0].attributes.get("rpc.method")
    if isinstance(method, str) and all(s.attributes.get("rpc.method") == method for s in spans):
        return method
    return name


def draft_contract(
    service: str,
    traces: Iterable[Trace],
    *,
    depends_on: Iterable[str] = (),
    known_services: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> Contract:
    """A contract for `service` from what `traces` show it doing.

    `depends_on`: its declared dependencies (from the topology); `known_services` and
    `aliases` name the peers of exit spans with no instrumented callee (see
    `deps.observed_calls`).
    """
    all_traces = list(traces)
    groups: dict[tuple[str, SpanKind], list[tuple[Trace, Span]]] = defaultdict(list)
    for trace, span in _entries(service, all_traces):
        groups[(demo_span_name(span.name), span.kind)].append((trace, span))
    if not groups:
        raise ValueError(f"no span of service {service!r} in the {len(all_traces)} trace(s) given")
    known = set(known_services)
    operations: dict[str, Operation] = {}
    for (name, kind), found in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        entries = [span for _, span in found]
        op_name = _operation_name(name, entries)
        if op_name in operations:
            op_name = f"{name} [{kind.label}]"
        n = len(found)
        sub: dict[tuple[str, SpanKind, str], list[Span]] = defaultdict(list)
        sub_seen: dict[tuple[str, SpanKind, str], int] = defaultdict(int)
        calls_seen: dict[tuple[str, str, str | None], int] = defaultdict(int)
        for trace, entry in found:
            local = local_spans(trace, entry)
            ids = {s.span_id for s in local}
            keys_here: set[tuple[str, SpanKind, str]] = set()
            calls_here: set[tuple[str, str, str | None]] = set()
            for span in local[1:]:
                parent = trace.parent(span)
                parent_name = demo_span_name(parent.name) if parent else ""
                key = (demo_span_name(span.name), span.kind, parent_name)
                sub[key].append(span)
                keys_here.add(key)
            for span in local:
                children = [c for c in trace.children(span) if c.span_id not in ids]
                for child in children:
                    if child.service != service:
                        calls_here.add((child.service, edge_kind(span, child), None))
                is_exit = (span.kind is SpanKind.CLIENT and not children) or (
                    span.kind is SpanKind.PRODUCER  # its peer is the broker, consumers or not
                )
                if is_exit:
                    callee = leaf_callee(span, known, aliases or {})
                    if callee and callee != service:
                        calls_here.add((callee, span.span_type.value, span.name))
            for key in keys_here:
                sub_seen[key] += 1
            for call in calls_here:
                calls_seen[call] += 1
        spans = tuple(
            SpanRule(
                name=sname,
                match=name_pattern(sname, {m.name for m in members}),
                kind=skind,
                attributes=_attribute_rules(members),
                status=_status_rule(members),
                parent=parent_name if parent_name != name else None,
                optional=sub_seen[(sname, skind, parent_name)] < n,
            )
            for (sname, skind, parent_name), members in sorted(
                sub.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2])
            )
        )
        calls = tuple(
            CallRule(callee, via, span=exit_span, optional=count < n)
            for (callee, via, exit_span), count in sorted(
                calls_seen.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][2] or "")
            )
        )
        operations[op_name] = Operation(
            name=op_name,
            entry=SpanRule(
                name=name,
                match=name_pattern(name, {e.name for e in entries}),
                kind=kind,
                attributes=_attribute_rules(entries),
                status=_status_rule(entries),
            ),
            spans=spans,
            calls=calls,
            description=f"drafted from {n} call(s)",
        )
    return Contract(
        service=service,
        operations=operations,
        depends_on=tuple(sorted(depends_on)),
        description=f"Drafted by `tracebed contract draft` from {len(all_traces)} trace(s); "
        "review before committing.",
    )


def services_in(traces: Iterable[Trace]) -> list[str]:
    return sorted({s.service for t in traces for s in t if s.service})
