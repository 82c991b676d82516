"""Helpers for the bring-your-own-service tests: trace ids, bounded retries, trace lookups."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tenacity import Retrying, retry_if_exception_type, stop_after_delay, wait_exponential

from tracebed.model.span import Span
from tracebed.model.trace import Trace
from tracebed.reference.flagd import flagfile

HERE = Path(__file__).resolve().parent
NODE_PAYMENT = HERE / "node_payment"
PY_RECOMMENDATION = HERE / "python_recommendation" / "recommendation_server.py"


def new_traceparent() -> tuple[str, list[tuple[str, str]]]:
    """A fresh trace id and the gRPC metadata carrying it."""
    trace_id = secrets.token_hex(16)
    return trace_id, [("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01")]


def retrying(timeout: float = 20.0) -> Retrying:
    """Retry an attempt that raises AssertionError, with short backoff, for at most ``timeout``."""
    return Retrying(
        retry=retry_if_exception_type(AssertionError),
        stop=stop_after_delay(timeout),
        wait=wait_exponential(multiplier=0.05, max=0.5),
        reraise=True,
    )


def has(*names: str) -> Callable[[Trace], bool]:
    """Predicate for the sink's wait: every name occurs in the trace."""
    return lambda t: all(t.named(n) for n in names)


def one(trace: Trace, name: str, service: str | None = None) -> Span:
    found = trace.named(name, service)
    assert len(found) == 1, f"expected one {name!r} span, got {len(found)}:\n{trace}"
    return found[0]


@dataclass
class Flagd:
    """The stand-in's flag service: where services reach it, and its flag file."""

    path: Path
    host: str
    grpc_port: int
    ofrep_port: int
    original: dict[str, Any]

    def set(self, key: str, variant: str) -> None:
        flagfile.set_default_variant(self.path, key, variant)

    def reset(self) -> None:
        flagfile.write(self.path, self.original)
