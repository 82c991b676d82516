"""W3C trace context the client chooses: a fresh random trace id for every HTTP request."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import quote

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The ids sent in one `traceparent`: the server's span becomes a child of `span_id`."""

    trace_id: str
    span_id: str
    sampled: bool = True

    @classmethod
    def fresh(cls, sampled: bool = True) -> TraceContext:
        # os.urandom, not the flow's rng: a seeded rng must never repeat trace ids across runs.
        while True:
            trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
            if int(trace_id, 16) and int(span_id, 16):  # all-zero ids are invalid in W3C
                return cls(trace_id, span_id, sampled)

    @classmethod
    def parse(cls, header: str) -> TraceContext:
        match = _TRACEPARENT.match(header.strip().lower())
        if not match:
            raise ValueError(f"not a W3C traceparent (version 00): {header!r}")
        trace_id, span_id, flags = match.groups()
        return cls(trace_id, span_id, bool(int(flags, 16) & 1))

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


def baggage_header(entries: Mapping[str, str]) -> str:
    """`key=value,...` with values percent-encoded as the W3C baggage spec asks."""
    return ",".join(f"{key}={quote(str(value), safe='')}" for key, value in entries.items())
