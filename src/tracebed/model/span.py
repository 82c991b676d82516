"""The span: one OTLP span with its resource and scope, as plain Python values."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# An OTLP AnyValue decoded: str, bool, int, float, bytes, a list of those, or a map.
AttrValue = Any
Attributes = Mapping[str, AttrValue]


class SpanKind(enum.IntEnum):
    """OTLP span kinds, with the numbers the wire uses."""

    UNSPECIFIED = 0
    INTERNAL = 1
    SERVER = 2
    CLIENT = 3
    PRODUCER = 4
    CONSUMER = 5

    @property
    def label(self) -> str:
        """Lower-case name as Tracetest and the demo's tests write it (`server`, `client`...)."""
        return self.name.lower()

    @classmethod
    def parse(cls, value: str | int | SpanKind) -> SpanKind:
        """Accept `2`, `"server"`, `"SERVER"`, `"SPAN_KIND_SERVER"`."""
        if isinstance(value, SpanKind):
            return value
        if isinstance(value, int):
            return cls(value)
        name = value.strip().upper().removeprefix("SPAN_KIND_")
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown span kind {value!r}") from None


class StatusCode(enum.IntEnum):
    UNSET = 0
    OK = 1
    ERROR = 2

    @classmethod
    def parse(cls, value: str | int | StatusCode) -> StatusCode:
        if isinstance(value, StatusCode):
            return value
        if isinstance(value, int):
            return cls(value)
        name = value.strip().upper().removeprefix("STATUS_CODE_")
        try:
            return cls[name]
        except KeyError:
            raise ValueError(f"unknown status code {value!r}") from None


@dataclass(frozen=True, slots=True)
class Status:
    code: StatusCode = StatusCode.UNSET
    message: str = ""

    @property
    def is_error(self) -> bool:
        return self.code is StatusCode.ERROR


@dataclass(frozen=True, slots=True)
class Event:
    name: str
    time_ns: int
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Link:
    trace_id: str
    span_id: str
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Scope:
    name: str = ""
    version: str = ""


class SpanType(enum.StrEnum):
    """The span type Tracetest derives from semantic-convention attributes."""

    HTTP = "http"
    RPC = "rpc"
    MESSAGING = "messaging"
    DATABASE = "database"
    GENERAL = "general"


# Checked in this order: an HTTP span that also carries rpc.* (gRPC over HTTP/2 in some SDKs)
# is an RPC for Tracetest's purposes, so rpc comes first.
_TYPE_MARKERS: tuple[tuple[SpanType, tuple[str, ...]], ...] = (
    (SpanType.RPC, ("rpc.system",)),
    (SpanType.MESSAGING, ("messaging.system",)),
    (SpanType.DATABASE, ("db.system", "db.system.name")),
    (SpanType.HTTP, ("http.method", "http.request.method")),
)


@dataclass(slots=True)
class Span:
    """One span. Ids are lower-case hex; `parent_span_id` is empty for a root."""

    trace_id: str
    span_id: str
    name: str
    parent_span_id: str = ""
    kind: SpanKind = SpanKind.INTERNAL
    start_ns: int = 0
    end_ns: int = 0
    status: Status = field(default_factory=Status)
    attributes: Attributes = field(default_factory=dict)
    events: tuple[Event, ...] = ()
    links: tuple[Link, ...] = ()
    resource: Attributes = field(default_factory=dict)
    scope: Scope = field(default_factory=Scope)

    @property
    def service(self) -> str:
        """The resource's `service.name` (empty when the sender set none)."""
        value = self.resource.get("service.name", "")
        return value if isinstance(value, str) else str(value)

    @property
    def duration_ns(self) -> int:
        return max(0, self.end_ns - self.start_ns)

    @property
    def duration(self) -> float:
        """Duration in seconds."""
        return self.duration_ns / 1e9

    @property
    def is_root(self) -> bool:
        return not self.parent_span_id

    @property
    def span_type(self) -> SpanType:
        for span_type, keys in _TYPE_MARKERS:
            if any(key in self.attributes for key in keys):
                return span_type
        return SpanType.GENERAL

    def attr(self, key: str, default: AttrValue = None) -> AttrValue:
        """A span attribute, falling back to the resource's (as Tracetest does)."""
        if key in self.attributes:
            return self.attributes[key]
        return self.resource.get(key, default)

    def __repr__(self) -> str:
        return (
            f"Span({self.service or '?'}: {self.name!r} {self.kind.label} "
            f"span_id={self.span_id} parent={self.parent_span_id or '-'})"
        )
