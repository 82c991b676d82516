"""Runtime calls against declared start-up dependencies (compose `depends_on`).

A service that calls another at run time without depending on it in compose may start
first and call a peer that is not there yet: a start-order race. When a chain of other
declared dependencies orders the two anyway, it is reported apart (ordered transitively),
and when the callee even waits for the caller the order is inverted. Declared
dependencies that are never called are reported too: they only slow start-up down.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracebed.model import Span, SpanKind, SpanType, Trace


@dataclass(frozen=True, slots=True)
class Finding:
    caller: str
    callee: str
    detail: str
    via: tuple[str, ...] = ()  # for transitive ordering: caller -> ... -> callee

    def __str__(self) -> str:
        return f"{self.caller} -> {self.callee}: {self.detail}"


@dataclass
class DependencyReport:
    races: list[Finding] = field(default_factory=list)  # undeclared, nothing orders them
    transitive: list[Finding] = field(default_factory=list)  # undeclared, ordered via a chain
    unused: list[Finding] = field(default_factory=list)  # declared, never called
    unknown: list[tuple[str, str]] = field(default_factory=list)  # a side not in the topology

    @property
    def ok(self) -> bool:
        """No start-order race (transitive ordering and unused dependencies are warnings)."""
        return not self.races

    def pairs(self, which: str) -> set[tuple[str, str]]:
        findings: list[Finding] = getattr(self, which)
        return {(f.caller, f.callee) for f in findings}

    def explain(self) -> str:
        lines: list[str] = []
        sections = (
            ("start-order races (runtime call, no depends_on)", self.races),
            ("undeclared but ordered through other dependencies", self.transitive),
            ("declared dependencies never called", self.unused),
        )
        for title, findings in sections:
            lines.append(f"{title}: {len(findings)}")
            lines += [f"  {f}" for f in findings]
        if self.unknown:
            lines.append(f"calls outside the topology (not checked): {len(self.unknown)}")
            lines += [f"  {a} -> {b}" for a, b in self.unknown]
        return "\n".join(lines)


def declared_dependencies(topology: Any) -> dict[str, set[str]]:
    """`{service: {dependency, ...}}` from a stack Topology, a ComposeProject, or a mapping.

    Accepts anything with `.services` whose values have `.depends_on` (the stack layer's
    model), compose service dicts (`depends_on` as a list or a mapping), or a plain mapping
    of service -> list of dependency names.
    """
    services = getattr(topology, "services", topology)
    if not isinstance(services, Mapping):
        raise TypeError(f"cannot read services from {type(topology).__name__}")
    out: dict[str, set[str]] = {}
    for name, svc in services.items():
        deps: Any
        if hasattr(svc, "depends_on"):
            deps = svc.depends_on
        elif isinstance(svc, Mapping):  # a compose service dict
            deps = svc.get("depends_on") or ()
        else:  # an iterable of dependency names
            deps = svc
        out[str(name)] = {str(d) for d in (deps.keys() if isinstance(deps, Mapping) else deps)}
    return out


def _path(declared: Mapping[str, set[str]], start: str, goal: str) -> tuple[str, ...] | None:
    """A chain of declared dependencies from `start` to `goal` (breadth-first: shortest)."""
    frontier: list[tuple[str, ...]] = [(start,)]
    seen = {start}
    while frontier:
        nxt = []
        for path in frontier:
            for dep in sorted(declared.get(path[-1], ())):
                if dep == goal:
                    return (*path, dep)
                if dep not in seen:
                    seen.add(dep)
                    nxt.append((*path, dep))
        frontier = nxt
    return None


def analyse_dependencies(
    calls: Iterable[tuple[str, str]],
    declared: Mapping[str, Iterable[str]],
    *,
    callers: Iterable[str] | None = None,
    ignore: Iterable[str] = (),
    unused_note: str = "declared in depends_on, never called",
) -> DependencyReport:
    """Compare runtime `calls` (caller, callee) with `declared` dependencies.

    `callers`: services whose calls are all known (only their unused dependencies are
    reported); default: every caller in `calls`. `ignore`: services left out on both sides
    (e.g. infrastructure whose calls are not observed). `unused_note` words the unused
    findings (say where the calls came from).
    """
    deps = {s: set(d) for s, d in declared.items()}
    skip = set(ignore)
    observed = {(a, b) for a, b in calls if a != b and a not in skip and b not in skip}
    report = DependencyReport()
    for caller, callee in sorted(observed):
        if caller not in deps or callee not in deps:
            report.unknown.append((caller, callee))
            continue
        if callee in deps[caller]:
            continue
        chain = _path(deps, caller, callee)
        if chain is not None:
            report.transitive.append(
                Finding(caller, callee, "ordered only through " + " -> ".join(chain), chain)
            )
            continue
        inverted = _path(deps, callee, caller)
        if inverted is not None:
            detail = (
                "start-order race, inverted: the callee waits for the caller "
                f"({' -> '.join(inverted)})"
            )
        else:
            detail = f"start-order race: {caller} may start and call before {callee} is up"
        report.races.append(Finding(caller, callee, detail, inverted or ()))
    known_callers = set(callers) if callers is not None else {a for a, _ in observed}
    for caller in sorted(known_callers - skip):
        for dep in sorted(deps.get(caller, set()) - skip):
            if (caller, dep) not in observed:
                report.unused.append(Finding(caller, dep, unused_note))
    return report


# -- where the calls come from ---------------------------------------------------------------
_PEER_KEYS = ("peer.service", "server.address", "net.peer.name", "db.system", "messaging.system")


def leaf_callee(span: Span, services: set[str], aliases: Mapping[str, str]) -> str | None:
    """The service an exit span with no instrumented callee talks to, if it can be told."""
    for key in _PEER_KEYS:
        value = span.attributes.get(key)
        if not isinstance(value, str):
            continue
        host = value.split(":")[0]
        for candidate in (f"{key}={value}", value, host):
            if candidate in aliases:
                return aliases[candidate]
        if host in services:
            return host
    return None


def observed_calls(
    traces: Iterable[Trace],
    services: Iterable[str] = (),
    aliases: Mapping[str, str] | None = None,
) -> set[tuple[str, str]]:
    """`(caller, callee)` seen in traces: cross-service parent/child pairs, plus exit spans
    (client/producer with no instrumented callee) whose peer is named by `peer.service`,
    `server.address`, `net.peer.name` or, through `aliases` (e.g. `{"db.system=redis":
    "valkey-cart"}`), by `db.system` / `messaging.system`."""
    known = set(services)
    alias = dict(aliases or {})
    calls: set[tuple[str, str]] = set()
    for trace in traces:
        # A producer -> consumer edge goes through the broker: neither side calls the other,
        # so it is no start-up dependency. Both sides' broker calls are found below.
        calls |= {(e.caller, e.callee) for e in trace.edge_list if e.kind is not SpanType.MESSAGING}
        for span in trace:
            if span.kind not in (SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER):
                continue
            # A client's call shows as an edge when its callee is instrumented; a producer's
            # or consumer's peer is always the broker, whoever consumes the message.
            if span.kind is SpanKind.CLIENT and any(
                c.service != span.service for c in trace.children(span)
            ):
                continue
            callee = leaf_callee(span, known, alias)
            if callee and callee != span.service:
                calls.add((span.service, callee))
    return calls


def contract_calls(contracts: Iterable[Any]) -> set[tuple[str, str]]:
    """`(service, callee)` for every call the contracts list (operations and runtime calls).

    An operation's messaging edges to a consumer (producer -> consumer, no exit `span`) are
    left out: they pass through the broker, which the contracts list as a call of its own.
    """
    out: set[tuple[str, str]] = set()
    for contract in contracts:
        out |= {(contract.service, rule.service) for rule in contract.runtime_calls}
        for op in contract.operations.values():
            for rule in op.calls:
                if rule.via == "messaging" and rule.span is None:
                    continue  # producer -> consumer, through the broker
                out.add((contract.service, rule.service))
    return out


# How the demo's exit spans name peers that emit no spans of their own.
DEMO_ALIASES: dict[str, str] = {
    "db.system=redis": "valkey-cart",
    "messaging.system=kafka": "kafka",
}
