"""How the bundled suite waits for a request's trace: settled, then quiet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracebed.model import Trace
from tracebed.query.conditions import Condition
from tracebed.query.conditions import settled as settled_under

QUIET_S = 0.3  # no new span for this long after the trace settled: it is complete


def settled(step: Any, until: Callable[[Trace], bool] | None = None) -> Condition:
    """No span of the request's trace waits for its parent any more, and `until` holds."""
    complete = settled_under(step.span_id)
    return complete if until is None else complete & until
