"""How the bundled suite waits for a request's trace: settled, then quiet."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracebed.model import Trace
from tracebed.regress.record import settled_under

QUIET_S = 0.3  # no new span for this long after the trace settled: it is complete


def settled(step: Any, until: Callable[[Trace], bool] | None = None) -> Callable[[Trace], bool]:
    """No span of the request's trace waits for its parent any more, and `until` holds."""
    complete = settled_under(step.span_id)
    return lambda trace: complete(trace) and (until is None or until(trace))
