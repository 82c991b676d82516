"""Service contracts as data: what spans a service emits per operation, whom it calls, what it
declares it depends on. Read from YAML (one file per service, `fixtures/contracts/`).

```yaml
service: checkout
depends_on: [cart, currency, ...]          # declared start-up dependencies (compose)
runtime_calls:                              # calls that leave no span edge (telemetry, flags)
  - {service: otel-collector, via: otlp}
operations:
  PlaceOrder:
    flows: [checkout, checkout_multi]      # bundled flows that exercise it
    entry:                                  # the span that starts the operation here
      name: oteldemo.CheckoutService/PlaceOrder
      kind: server
      status: not_error                     # unset | ok | error | not_error | any
      attributes:
        app.user.id: string                 # shorthand: key: type
        rpc.service: {type: string, value: oteldemo.CheckoutService}
      on_error: {attributes: {grpc.error_message: string}, events: [exception]}
    spans:                                  # more spans under the entry, same service
      - {name: prepareOrderItemsAndShippingQuoteFromCart, kind: internal, attributes: {...}}
    calls:                                  # outgoing edges from this operation
      - {service: cart, via: rpc}
      - {service: kafka, via: messaging, span: orders publish}   # leaf: exit span suffices
```
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tracebed.errors import ConfigError
from tracebed.model import SpanKind, SpanType

ATTRIBUTE_TYPES = frozenset(
    {"string", "int", "double", "number", "bool", "bytes", "array", "map", "any"}
)
STATUS_RULES = frozenset({"unset", "ok", "error", "not_error", "any"})
# Ways of calling: the span types edges carry, plus `otlp` for telemetry export (no spans).
CALL_KINDS = frozenset({t.value for t in SpanType} | {"otlp"})


class ContractError(ConfigError, ValueError):
    """A contract file that is not valid; the message names the file and the place in it."""


@dataclass(frozen=True, slots=True)
class AttributeRule:
    key: str
    type: str = "any"  # one of ATTRIBUTE_TYPES, or "array<string>" and the like
    value: Any = None
    has_value: bool = False
    one_of: tuple[Any, ...] = ()
    pattern: str | None = None
    min: float | None = None
    max: float | None = None
    optional: bool = False

    def describe(self) -> str:
        parts = [self.type]
        if self.has_value:
            parts.append(f"= {self.value!r}")
        if self.one_of:
            parts.append(f"one of {list(self.one_of)!r}")
        if self.pattern:
            parts.append(f"matching /{self.pattern}/")
        if self.min is not None:
            parts.append(f">= {self.min:g}")
        if self.max is not None:
            parts.append(f"<= {self.max:g}")
        return " ".join(parts)

    def to_yaml(self) -> Any:
        if not (self.has_value or self.one_of or self.pattern or self.optional) and (
            self.min is None and self.max is None
        ):
            return self.type
        out: dict[str, Any] = {"type": self.type}
        if self.has_value:
            out["value"] = self.value
        if self.one_of:
            out["one_of"] = list(self.one_of)
        if self.pattern:
            out["pattern"] = self.pattern
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.optional:
            out["optional"] = True
        return out


@dataclass(frozen=True, slots=True)
class ErrorRule:
    """What a span must carry when its status is ERROR."""

    attributes: tuple[AttributeRule, ...] = ()
    events: tuple[str, ...] = ()
    message: bool = False  # the status must carry a message


@dataclass(frozen=True, slots=True)
class SpanRule:
    name: str
    kind: SpanKind
    attributes: tuple[AttributeRule, ...] = ()
    status: str = "not_error"
    on_error: ErrorRule | None = None
    parent: str | None = None  # name of the same-service span it must be a child of
    optional: bool = False
    events: tuple[str, ...] = ()  # event names the span must carry
    match: str | None = None  # a regex the name must fully match, instead of equal `name`

    def describe(self) -> str:
        return f"{self.name!r} [{self.kind.label}]"

    def matches(self, name: str, kind: SpanKind) -> bool:
        if kind is not self.kind:
            return False
        if self.match is not None:
            return re.fullmatch(self.match, name) is not None
        return name == self.name


@dataclass(frozen=True, slots=True)
class CallRule:
    service: str
    via: str  # rpc, http, messaging, database, general, otlp
    span: str | None = None  # an exit span of the caller that also proves the call
    optional: bool = False

    def describe(self) -> str:
        return f"{self.service} ({self.via})"


@dataclass(frozen=True, slots=True)
class Operation:
    name: str
    entry: SpanRule
    spans: tuple[SpanRule, ...] = ()
    calls: tuple[CallRule, ...] = ()
    flows: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class Contract:
    service: str
    operations: dict[str, Operation]
    depends_on: tuple[str, ...] = ()
    runtime_calls: tuple[CallRule, ...] = ()
    description: str = ""
    source: str = ""  # where it was read from, for messages

    def operation(self, name: str) -> Operation:
        try:
            return self.operations[name]
        except KeyError:
            known = ", ".join(sorted(self.operations)) or "none"
            raise KeyError(f"{self.service} has no operation {name!r} (known: {known})") from None

    def calls(self) -> set[tuple[str, str]]:
        """Every `(callee, via)` this service makes, by its contract."""
        found = {(c.service, c.via) for c in self.runtime_calls}
        for op in self.operations.values():
            found |= {(c.service, c.via) for c in op.calls}
        return found


# -- parsing --------------------------------------------------------------------------------
_ARRAY_TYPE = re.compile(r"^array<([a-z|]+)>$")


def _check_type(typ: str, where: str) -> str:
    match = _ARRAY_TYPE.match(typ)
    parts = match.group(1).split("|") if match else [typ]
    if not all(p in ATTRIBUTE_TYPES for p in parts):
        raise ContractError(
            f"{where}: unknown attribute type {typ!r} (use {', '.join(sorted(ATTRIBUTE_TYPES))}, "
            "or array<string>)"
        )
    return typ


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ContractError(f"{where}: expected a mapping, got {type(value).__name__}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ContractError(f"{where}: expected a list, got {type(value).__name__}")
    return value


def _unknown_keys(data: Mapping[str, Any], allowed: Iterable[str], where: str) -> None:
    extra = set(data) - set(allowed)
    if extra:
        raise ContractError(
            f"{where}: unknown key(s) {', '.join(sorted(map(str, extra)))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def parse_attribute(key: str, spec: Any, where: str) -> AttributeRule:
    where = f"{where}.{key}"
    if isinstance(spec, str):
        return AttributeRule(key, _check_type(spec, where))
    data = _mapping(spec, where)
    _unknown_keys(data, ("type", "value", "one_of", "pattern", "min", "max", "optional"), where)
    pattern = data.get("pattern")
    if pattern is not None:
        try:
            re.compile(str(pattern))
        except re.error as exc:
            raise ContractError(f"{where}: bad pattern {pattern!r}: {exc}") from None
    return AttributeRule(
        key=key,
        type=_check_type(str(data.get("type", "any")), where),
        value=data.get("value"),
        has_value="value" in data,
        one_of=tuple(_list(data.get("one_of"), f"{where}.one_of")),
        pattern=str(pattern) if pattern is not None else None,
        min=float(data["min"]) if data.get("min") is not None else None,
        max=float(data["max"]) if data.get("max") is not None else None,
        optional=bool(data.get("optional", False)),
    )


def _attributes(value: Any, where: str) -> tuple[AttributeRule, ...]:
    data = _mapping(value, where)
    return tuple(parse_attribute(str(k), v, where) for k, v in data.items())


def parse_span(data: Any, where: str) -> SpanRule:
    data = _mapping(data, where)
    _unknown_keys(
        data,
        (
            "name",
            "match",
            "kind",
            "attributes",
            "status",
            "on_error",
            "parent",
            "optional",
            "events",
        ),
        where,
    )
    match = data.get("match")
    if match is not None:
        try:
            re.compile(str(match))
        except re.error as exc:
            raise ContractError(f"{where}: bad match pattern {match!r}: {exc}") from None
    if not data.get("name"):
        raise ContractError(f"{where}: a span needs a 'name'")
    try:
        kind = SpanKind.parse(data.get("kind", "internal"))
    except ValueError as exc:
        raise ContractError(f"{where}: {exc}") from None
    status = str(data.get("status", "not_error"))
    if status not in STATUS_RULES:
        raise ContractError(
            f"{where}: status {status!r} is not one of {', '.join(sorted(STATUS_RULES))}"
        )
    on_error = None
    if data.get("on_error") is not None:
        err = _mapping(data["on_error"], f"{where}.on_error")
        _unknown_keys(err, ("attributes", "events", "message"), f"{where}.on_error")
        on_error = ErrorRule(
            attributes=_attributes(err.get("attributes"), f"{where}.on_error.attributes"),
            events=tuple(str(e) for e in _list(err.get("events"), f"{where}.on_error.events")),
            message=bool(err.get("message", False)),
        )
    return SpanRule(
        name=str(data["name"]),
        kind=kind,
        attributes=_attributes(data.get("attributes"), f"{where}.attributes"),
        status=status,
        on_error=on_error,
        parent=str(data["parent"]) if data.get("parent") else None,
        optional=bool(data.get("optional", False)),
        events=tuple(str(e) for e in _list(data.get("events"), f"{where}.events")),
        match=str(match) if match is not None else None,
    )


def parse_call(data: Any, where: str) -> CallRule:
    data = _mapping(data, where)
    _unknown_keys(data, ("service", "via", "span", "optional"), where)
    if not data.get("service"):
        raise ContractError(f"{where}: a call needs a 'service'")
    via = str(data.get("via", "rpc"))
    if via not in CALL_KINDS:
        raise ContractError(f"{where}: via {via!r} is not one of {', '.join(sorted(CALL_KINDS))}")
    return CallRule(
        service=str(data["service"]),
        via=via,
        span=str(data["span"]) if data.get("span") else None,
        optional=bool(data.get("optional", False)),
    )


def parse_contract(data: Any, source: str = "contract") -> Contract:
    data = _mapping(data, source)
    _unknown_keys(
        data,
        ("service", "description", "demo_version", "depends_on", "runtime_calls", "operations"),
        source,
    )
    service = data.get("service")
    if not service or not isinstance(service, str):
        raise ContractError(f"{source}: 'service' (the service name) is required")
    operations: dict[str, Operation] = {}
    for name, spec in _mapping(data.get("operations"), f"{source}.operations").items():
        where = f"{source}.operations.{name}"
        op = _mapping(spec, where)
        _unknown_keys(op, ("entry", "spans", "calls", "flows", "description"), where)
        if "entry" not in op:
            raise ContractError(f"{where}: an operation needs an 'entry' span")
        operations[str(name)] = Operation(
            name=str(name),
            entry=parse_span(op["entry"], f"{where}.entry"),
            spans=tuple(
                parse_span(s, f"{where}.spans[{i}]")
                for i, s in enumerate(_list(op.get("spans"), f"{where}.spans"))
            ),
            calls=tuple(
                parse_call(c, f"{where}.calls[{i}]")
                for i, c in enumerate(_list(op.get("calls"), f"{where}.calls"))
            ),
            flows=tuple(str(f) for f in _list(op.get("flows"), f"{where}.flows")),
            description=str(op.get("description", "")),
        )
    return Contract(
        service=service,
        operations=operations,
        depends_on=tuple(str(d) for d in _list(data.get("depends_on"), f"{source}.depends_on")),
        runtime_calls=tuple(
            parse_call(c, f"{source}.runtime_calls[{i}]")
            for i, c in enumerate(_list(data.get("runtime_calls"), f"{source}.runtime_calls"))
        ),
        description=str(data.get("description", "")),
        source=source,
    )


def load_contract(path: Path) -> Contract:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ContractError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise ContractError(f"{path}: not valid YAML: {exc}") from None
    return parse_contract(data, str(path))


def load_contracts(directory: Path) -> dict[str, Contract]:
    """Every `*.yaml` / `*.yml` contract in `directory`, by service name."""
    if not directory.is_dir():
        raise ContractError(f"{directory}: not a directory of contracts")
    contracts: dict[str, Contract] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        contract = load_contract(path)
        if contract.service in contracts:
            raise ContractError(
                f"{path}: service {contract.service!r} already has a contract in "
                f"{contracts[contract.service].source}"
            )
        contracts[contract.service] = contract
    if not contracts:
        raise ContractError(f"{directory}: no *.yaml contracts found")
    return contracts


# -- writing (drafts) -----------------------------------------------------------------------
def span_rule_to_yaml(rule: SpanRule) -> dict[str, Any]:
    out: dict[str, Any] = {"name": rule.name, "kind": rule.kind.label}
    if rule.match:
        out["match"] = rule.match
    if rule.parent:
        out["parent"] = rule.parent
    if rule.status != "not_error":
        out["status"] = rule.status
    if rule.attributes:
        out["attributes"] = {a.key: a.to_yaml() for a in rule.attributes}
    if rule.events:
        out["events"] = list(rule.events)
    if rule.optional:
        out["optional"] = True
    return out


def call_rule_to_yaml(rule: CallRule) -> dict[str, Any]:
    out: dict[str, Any] = {"service": rule.service, "via": rule.via}
    if rule.span:
        out["span"] = rule.span
    if rule.optional:
        out["optional"] = True
    return out


def contract_to_yaml(contract: Contract) -> dict[str, Any]:
    out: dict[str, Any] = {"service": contract.service}
    if contract.description:
        out["description"] = contract.description
    out["depends_on"] = list(contract.depends_on)
    if contract.runtime_calls:
        out["runtime_calls"] = [call_rule_to_yaml(c) for c in contract.runtime_calls]
    ops: dict[str, Any] = {}
    for name, op in contract.operations.items():
        entry: dict[str, Any] = {}
        if op.description:
            entry["description"] = op.description
        if op.flows:
            entry["flows"] = list(op.flows)
        entry["entry"] = span_rule_to_yaml(op.entry)
        if op.spans:
            entry["spans"] = [span_rule_to_yaml(s) for s in op.spans]
        if op.calls:
            entry["calls"] = [call_rule_to_yaml(c) for c in op.calls]
        ops[name] = entry
    out["operations"] = ops
    return out


def dump_contract(contract: Contract) -> str:
    return yaml.safe_dump(contract_to_yaml(contract), sort_keys=False, width=100)


__all__ = [
    "AttributeRule",
    "CallRule",
    "Contract",
    "ContractError",
    "ErrorRule",
    "Operation",
    "SpanRule",
    "dump_contract",
    "load_contract",
    "load_contracts",
    "parse_contract",
]
