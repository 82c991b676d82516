"""Check traces against a service's contract; every failure names what is wrong and shows the span."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracebed.contracts.model import (
    AttributeRule,
    CallRule,
    Contract,
    ErrorRule,
    Operation,
    SpanRule,
)
from tracebed.model import Span, SpanKind, SpanType, StatusCode, Trace
from tracebed.model.render import render_span_line, render_tree

_MISSING = object()


def value_matches_type(value: Any, typ: str) -> bool:
    if typ == "any":
        return True
    if typ.startswith("array<"):
        inner = typ[len("array<") : -1].split("|")
        return isinstance(value, list | tuple) and all(
            any(value_matches_type(v, t) for t in inner) for v in value
        )
    checks: dict[str, Any] = {
        "string": lambda v: isinstance(v, str),
        "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "double": lambda v: isinstance(v, float),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "bool": lambda v: isinstance(v, bool),
        "bytes": lambda v: isinstance(v, bytes | bytearray),
        "array": lambda v: isinstance(v, list | tuple),
        "map": lambda v: isinstance(v, Mapping),
    }
    return bool(checks[typ](value))


def type_name(value: Any) -> str:
    from tracebed.regress.shape import value_type

    return value_type(value)


def describe_span(span: Span, limit: int = 80) -> str:
    """The span as a failure message shows it: its line, every attribute, events, status."""
    lines = [render_span_line(span)]
    for key, value in sorted(span.attributes.items()):
        text = repr(value)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        lines.append(f"    {key} = {text} ({type_name(value)})")
    if span.events:
        lines.append("    events: " + ", ".join(e.name for e in span.events))
    if span.status.code is not StatusCode.UNSET:
        message = f" {span.status.message!r}" if span.status.message else ""
        lines.append(f"    status: {span.status.code.name}{message}")
    lines.append(f"    span_id={span.span_id} trace_id={span.trace_id}")
    return "\n".join(lines)


@dataclass
class Violation:
    """One broken rule. `message` names the span and the attribute (or call) at fault."""

    service: str
    operation: str
    message: str
    span: Span | None = None
    trace: Trace | None = None
    repeats: int = 1  # the same message on other spans of the same kind (e.g. per cart line)

    def explain(self, with_trace: bool = True) -> str:
        more = f" (and on {self.repeats - 1} more span(s) like it)" if self.repeats > 1 else ""
        lines = [f"{self.service} {self.operation}: {self.message}{more}"]
        if self.span is not None:
            lines.append("  the span:")
            lines += ["    " + line for line in describe_span(self.span).splitlines()]
        if with_trace and self.trace is not None:
            marks = {self.span.span_id} if self.span is not None else set()
            lines.append("  in the trace (>> marks the span):")
            tree = render_tree(self.trace, marks=marks, attributes=False)
            lines += ["    " + line for line in tree.splitlines()]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.explain(with_trace=False)


@dataclass
class ContractResult:
    service: str
    operation: str
    occurrences: int = 0  # entry spans found
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations

    def explain(self) -> str:
        if self.ok:
            return f"{self.service} {self.operation}: contract holds ({self.occurrences} call(s))"
        head = (
            f"{self.service} {self.operation}: {len(self.violations)} contract violation(s) "
            f"in {self.occurrences} call(s)"
        )
        # The trace tree once, under the first violation: it is the same trace for all.
        parts = [head]
        shown: set[str] = set()
        for v in self.violations:
            tid = v.trace.trace_id if v.trace is not None else ""
            parts.append(v.explain(with_trace=tid not in shown))
            shown.add(tid)
        return "\n\n".join(parts)

    def assert_ok(self) -> ContractResult:
        if not self.ok:
            raise AssertionError(self.explain())
        return self


class _Check:
    def __init__(self, contract: Contract, op: Operation, strict_calls: bool):
        self.contract = contract
        self.op = op
        self.strict_calls = strict_calls
        self.result = ContractResult(contract.service, op.name)
        self._seen: dict[str, Violation] = {}

    def fail(self, message: str, span: Span | None, trace: Trace) -> None:
        # Same rule broken on sibling spans (per cart line...): report once, count the rest.
        key = f"{span.name if span else ''}|{message}"
        if key in self._seen:
            self._seen[key].repeats += 1
            return
        violation = Violation(self.contract.service, self.op.name, message, span, trace)
        self._seen[key] = violation
        self.result.violations.append(violation)

    # -- spans ----------------------------------------------------------------------------
    def span(self, rule: SpanRule, span: Span, trace: Trace) -> None:
        what = f"span {rule.describe()}"
        code = span.status.code
        status_ok = {
            "any": True,
            "not_error": code is not StatusCode.ERROR,
            "unset": code is StatusCode.UNSET,
            "ok": code is StatusCode.OK,
            "error": code is StatusCode.ERROR,
        }[rule.status]
        if not status_ok:
            message = f" {span.status.message!r}" if span.status.message else ""
            expected = "not ERROR" if rule.status == "not_error" else rule.status.upper()
            self.fail(f"{what}: status is {code.name}{message}, expected {expected}", span, trace)
        self.attributes(what, rule.attributes, span, trace)
        names = {e.name for e in span.events}
        for event in rule.events:
            if event not in names:
                self.fail(f"{what}: missing event {event!r}", span, trace)
        if code is StatusCode.ERROR and rule.on_error is not None:
            self.on_error(what, rule.on_error, span, trace)

    def on_error(self, what: str, rule: ErrorRule, span: Span, trace: Trace) -> None:
        self.attributes(f"{what} (in error)", rule.attributes, span, trace)
        names = {e.name for e in span.events}
        for event in rule.events:
            if event not in names:
                self.fail(f"{what} (in error): missing event {event!r}", span, trace)
        if rule.message and not span.status.message:
            self.fail(f"{what} (in error): the ERROR status carries no message", span, trace)

    def attributes(
        self, what: str, rules: Iterable[AttributeRule], span: Span, trace: Trace
    ) -> None:
        for rule in rules:
            value = span.attr(rule.key, _MISSING)
            if value is _MISSING:
                if not rule.optional:
                    self.fail(f"{what}: missing attribute {rule.key} ({rule.type})", span, trace)
                continue
            problem = attribute_problem(rule, value)
            if problem:
                self.fail(f"{what}: attribute {rule.key} {problem}", span, trace)

    # -- calls ----------------------------------------------------------------------------
    def calls(self, entry: Span, local: list[Span], trace: Trace) -> None:
        local_ids = {s.span_id for s in local}
        seen: set[tuple[str, str]] = set()
        for span in local:
            for child in trace.children(span):
                if child.span_id in local_ids or child.service == self.contract.service:
                    continue
                seen.add((child.service, edge_kind(span, child)))
        exits = [s for s in local if s.kind in (SpanKind.CLIENT, SpanKind.PRODUCER)]

        def has_exit(name: str) -> bool:
            # `span:` names a span rule; one with a `match` pattern stands for every name it
            # matches (e.g. DB spans the collector names by their target address).
            rules = [r for r in self.op.spans if r.name == name]
            return any(
                s.name == name or any(r.matches(s.name, s.kind) for r in rules) for s in exits
            )

        for rule in self.op.calls:
            if rule.via == "otlp":
                continue  # telemetry export leaves no span edge
            if (rule.service, rule.via) in seen or (rule.span is not None and has_exit(rule.span)):
                continue
            if rule.optional:
                continue
            found = ", ".join(f"{s} ({k})" for s, k in sorted(seen)) or "none"
            hint = f" or an exit span {rule.span!r}" if rule.span else ""
            self.fail(
                f"no call to {rule.describe()}{hint} under {_label(entry)}; calls seen: {found}",
                entry,
                trace,
            )
        if self.strict_calls:
            listed = {(c.service, c.via) for c in self.op.calls}
            # Runtime calls (flag evaluation...) may show up under any operation.
            anywhere = {c.service for c in self.contract.runtime_calls}
            for service, kind in sorted(seen - listed):
                if service in anywhere:
                    continue
                self.fail(
                    f"calls {service} ({kind}), which the contract of {self.op.name} does not list",
                    entry,
                    trace,
                )


def attribute_problem(rule: AttributeRule, value: Any) -> str | None:
    """Why `value` breaks `rule` (None if it does not): the words after the attribute key."""
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:79] + "…"
    if not value_matches_type(value, rule.type):
        return f"is {type_name(value)} {shown}, expected {rule.type}"
    if rule.has_value and value != rule.value:
        return f"= {shown}, expected {rule.value!r}"
    if rule.one_of and value not in rule.one_of:
        return f"= {shown}, expected one of {list(rule.one_of)!r}"
    if rule.pattern is not None:
        import re

        if not re.search(rule.pattern, str(value)):
            return f"= {shown}, does not match /{rule.pattern}/"
    if rule.min is not None or rule.max is not None:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return f"is {type_name(value)} {shown}, expected a number for a range"
        if rule.min is not None and value < rule.min:
            return f"= {shown}, expected >= {rule.min:g}"
        if rule.max is not None and value > rule.max:
            return f"= {shown}, expected <= {rule.max:g}"
    return None


def _label(span: Span) -> str:
    return f"{span.service}: {span.name!r} [{span.kind.label}]"


def edge_kind(caller: Span, callee: Span) -> str:
    """The call's kind, as `Trace.edge_list` decides it (caller's exit span knows best)."""
    side = caller if caller.kind in (SpanKind.CLIENT, SpanKind.PRODUCER) else callee
    kind = side.span_type
    if kind is SpanType.GENERAL:
        kind = callee.span_type
    return kind.value


def local_spans(trace: Trace, entry: Span) -> list[Span]:
    """The entry and its descendants in the same service, not crossing into other services."""
    out = [entry]
    stack = [entry]
    while stack:
        span = stack.pop()
        for child in trace.children(span):
            if child.service == entry.service:
                out.append(child)
                stack.append(child)
    return out


def _as_traces(traces: Trace | Iterable[Trace]) -> list[Trace]:
    return [traces] if isinstance(traces, Trace) else list(traces)


def _redirect(span: Span) -> bool:
    """A server span that answered 3xx: the request was sent on, the operation ran elsewhere
    (demo 3.0.0's collector gives `/api/data/`'s 308 the handler's name, `GET /api/data`)."""
    if span.kind is not SpanKind.SERVER:
        return False
    code = span.attributes.get("http.response.status_code", span.attributes.get("http.status_code"))
    return isinstance(code, int) and 300 <= code < 400


def find_entries(contract: Contract, op: Operation, trace: Trace) -> list[Span]:
    return [
        s
        for s in trace
        if s.service == contract.service and op.entry.matches(s.name, s.kind) and not _redirect(s)
    ]


def check_operation(
    contract: Contract,
    operation: str | Operation,
    traces: Trace | Iterable[Trace],
    *,
    strict_calls: bool = True,
) -> ContractResult:
    """Check every call of `operation` found in `traces` against the contract.

    The operation must occur at least once. `strict_calls`: a call the contract does not
    list is a violation too (a new dependency is a contract change).
    """
    op = operation if isinstance(operation, Operation) else contract.operation(operation)
    check = _Check(contract, op, strict_calls)
    all_traces = _as_traces(traces)
    for trace in all_traces:
        for entry in find_entries(contract, op, trace):
            check.result.occurrences += 1
            local = local_spans(trace, entry)
            check.span(op.entry, entry, trace)
            for rule in op.spans:
                matches = [
                    s
                    for s in local[1:]
                    if rule.matches(s.name, s.kind)
                    and (rule.parent is None or _parent_is(trace, s, rule.parent))
                ]
                if not matches:
                    if not rule.optional:
                        where = f" as a child of {rule.parent!r}" if rule.parent else ""
                        have = sorted({f"{s.name!r} [{s.kind.label}]" for s in local[1:]})
                        check.fail(
                            f"missing span {rule.describe()}{where} under {_label(entry)}; "
                            f"its spans there: {', '.join(have) or 'none'}",
                            entry,
                            trace,
                        )
                    continue
                for span in matches:
                    check.span(rule, span, trace)
            check.calls(entry, local, trace)
    if check.result.occurrences == 0:
        trace = all_traces[0] if all_traces else Trace("0" * 32, ())
        emitted = sorted(
            {
                f"{s.name!r} [{s.kind.label}]"
                for t in all_traces
                for s in t
                if s.service == contract.service
            }
        )
        summary = (
            f"it emitted: {', '.join(emitted)}"
            if emitted
            else f"the trace has no span of {contract.service} at all"
        )
        check.fail(
            f"no span {op.entry.describe()} of service {contract.service} in the trace; {summary}",
            None,
            trace,
        )
    return check.result


def _parent_is(trace: Trace, span: Span, name: str) -> bool:
    """The span's parent is named `name` (as sent, or as the demo's collector renames it)."""
    from tracebed.regress.shape import demo_span_name

    parent = trace.parent(span)
    return parent is not None and name in (parent.name, demo_span_name(parent.name))


def check_trace(
    contracts: Mapping[str, Contract],
    traces: Trace | Iterable[Trace],
    *,
    strict_calls: bool = True,
) -> list[ContractResult]:
    """Every operation of every contract whose entry span appears in `traces`."""
    all_traces = _as_traces(traces)
    results = []
    for contract in contracts.values():
        for op in contract.operations.values():
            if any(find_entries(contract, op, t) for t in all_traces):
                results.append(check_operation(contract, op, all_traces, strict_calls=strict_calls))
    return results


def assert_contract(
    contract: Contract,
    operation: str,
    traces: Trace | Iterable[Trace],
    *,
    strict_calls: bool = True,
) -> ContractResult:
    """`check_operation(...).assert_ok()`: raises AssertionError with the explanation."""
    return check_operation(contract, operation, traces, strict_calls=strict_calls).assert_ok()


__all__ = [
    "CallRule",
    "ContractResult",
    "Violation",
    "assert_contract",
    "attribute_problem",
    "check_operation",
    "check_trace",
    "describe_span",
    "local_spans",
    "value_matches_type",
]
