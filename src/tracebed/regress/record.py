"""Record the shape of each bundled flow: drive it, wait for its traces, save the shape.

The driving and the waiting are passed in (`FlowDriver`), so recording works with the
shop client against a live stack, and with hand-built traces in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracebed.model import Trace
from tracebed.regress.files import write_shape
from tracebed.regress.shape import DEFAULT_STABLE_KEYS, TraceShape, normalise_many

# A flow driver runs one flow by name and returns the traces it caused (one per request).
FlowDriver = Callable[[str], Sequence[Trace]]


class RecordError(RuntimeError):
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


def shop_driver(client: Any, *, quiet: float = 1.0, timeout: float = 30.0) -> FlowDriver:
    """A driver over the flows layer's shop client: `client.<task>()` for each flow name.

    Every request of a multi-request task (add to cart, then check out) has its own trace;
    all of them belong to the flow's shape. A request that failed makes the recording fail:
    a baseline must come from a healthy run.
    """

    def drive(flow: str) -> Sequence[Trace]:
        method = getattr(client, flow, None)
        if not callable(method):
            raise RecordError(f"the shop client has no flow {flow!r}")
        run = method()
        steps = list(getattr(run, "results", [run]))
        failed = [s for s in steps if not s.ok]
        if failed:
            raise RecordError(f"flow {flow!r} failed, not recording it:\n{failed[0]}")
        return [step.trace(quiet=quiet, timeout=timeout) for step in steps]

    return drive


class SinkTraces:
    """Traces from a running sink's query API (`GET /api/traces/{id}?wait=&quiet=`).

    The sink waits server-side, woken by arrivals, so one request per trace suffices.
    Matches the flows layer's `TraceSource` protocol, so it can back a shop client.
    """

    def __init__(self, base_url: str, session: Any = None):
        import requests

        if not base_url.startswith(("http://", "https://")):
            raise ValueError(f"sink URL must be http(s)://host:port, got {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.session = session if session is not None else requests.Session()

    def wait_for_trace(
        self,
        trace_id: str,
        until: Callable[[Trace], bool] | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        import requests

        from tracebed.report.otlp_json import spans_from_otlp_json

        params = {"wait": f"{timeout:g}", "quiet": f"{quiet if quiet is not None else 0.5:g}"}
        url = f"{self.base_url}/api/traces/{trace_id}"
        try:
            response = self.session.get(url, params=params, timeout=timeout + 10)
        except requests.RequestException as exc:
            raise RecordError(f"sink at {self.base_url} unreachable: {exc}") from None
        if response.status_code == 404:
            raise RecordError(f"trace {trace_id}: no span arrived at the sink within {timeout:g}s")
        if response.status_code != 200:
            raise RecordError(
                f"sink answered {response.status_code} for {url}: {response.text[:200]}"
            )
        trace = Trace(trace_id, spans_from_otlp_json(response.json()))
        if until is not None and not until(trace):
            raise RecordError(
                f"trace {trace_id} arrived but not in the expected shape:\n{trace.render()}"
            )
        return trace
