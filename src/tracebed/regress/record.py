"""Record the shape of each bundled flow: drive it, wait for its traces, save the shape.

The driving and the waiting are passed in (`FlowDriver`), so recording works with the
shop client against a live stack, and with hand-built traces in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracebed.errors import FlowError
from tracebed.flows.registry import FLOWS
from tracebed.model import Trace, TraceTimeoutError
from tracebed.query.conditions import settled
from tracebed.regress.files import write_shape
from tracebed.regress.shape import DEFAULT_STABLE_KEYS, TraceShape, normalise_many

# A flow driver runs one flow by name and returns the traces it caused (one per request).
FlowDriver = Callable[[str], Sequence[Trace]]


class RecordError(FlowError, RuntimeError):
    """A flow could not be recorded (it failed, or its trace never arrived)."""


@dataclass
class Recorded:
    flow: str
    path: Path
    shape: TraceShape
    traces: int

    def __str__(self) -> str:
        return f"{self.flow}: {self.traces} trace(s), {self.shape.span_count} spans -> {self.path}"


def record_flows(
    flows: Iterable[str],
    drive: FlowDriver,
    directory: Path,
    stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS,
) -> list[Recorded]:
    """Drive each flow, normalise its traces into one shape, write `<flow>.shape.json`."""
    keys = tuple(stable_keys)
    out: list[Recorded] = []
    for flow in flows:
        traces = [t for t in drive(flow) if len(t)]
        if not traces:
            raise RecordError(f"flow {flow!r}: no spans arrived for any of its requests")
        shape = normalise_many(traces, flow, keys)
        out.append(Recorded(flow, write_shape(shape, directory), shape, len(traces)))
    return out


def run_flow(client: Any, flow: str) -> Any:
    """Drive `flow` on a shop client: a flow of the registry, else the client's method of that
    name (a custom client's own flow)."""
    if flow in FLOWS:
        return FLOWS[flow].drive(client)
    method = getattr(client, flow, None)
    if not callable(method) or flow.startswith("_"):
        raise RecordError(f"the shop client has no flow {flow!r}")
    return method()


def shop_driver(client: Any, *, quiet: float = 1.0, timeout: float = 30.0) -> FlowDriver:
    """A driver over the flows layer's shop client: `client.<task>()` for each flow name.

    Every request of a multi-request task (add to cart, then check out) has its own trace;
    all of them belong to the flow's shape. A request that failed makes the recording fail:
    a baseline must come from a healthy run.
    """

    def drive(flow: str) -> Sequence[Trace]:
        run = run_flow(client, flow)
        steps = list(getattr(run, "results", [run]))
        failed = [s for s in steps if not s.ok]
        if failed:
            raise RecordError(f"flow {flow!r} failed, not recording it:\n{failed[0]}")
        traces = []
        for step in steps:
            try:
                traces.append(
                    step.trace(until=settled(step.span_id), quiet=quiet, timeout=timeout)
                )
            except TraceTimeoutError as exc:
                raise RecordError(f"flow {flow!r}: {exc}") from None
        return traces

    return drive


# The condition's older name here (tests and the bundled suite's helpers used it).
settled_under = settled
