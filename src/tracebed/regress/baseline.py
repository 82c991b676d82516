"""Compare a flow's traces with its recording (`tracebed record DIR`), for test suites."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tracebed.errors import ConfigError
from tracebed.model import Trace
from tracebed.regress.diff import Change, diff_shapes, render_changes
from tracebed.regress.files import ShapeLoadError, flow_file_name, load_file
from tracebed.regress.shape import normalise_many


class BaselineMissing(ConfigError, LookupError):
    """No recording of this flow in the baseline directory."""


def compare_with_baseline(
    flow: str, traces: Trace | Iterable[Trace], directory: Path, *, counts: bool = False
) -> list[Change]:
    """What changed in `flow` since `directory/<flow>.shape.json` was recorded."""
    path = Path(directory) / flow_file_name(flow)
    if not path.is_file():
        raise BaselineMissing(
            f"no baseline for flow {flow!r}: {path} does not exist "
            f"(record it with `tracebed record {directory} --flow {flow} ...`)"
        )
    try:
        recorded = load_file(path)
    except ShapeLoadError as exc:
        raise BaselineMissing(str(exc)) from None
    (base,) = recorded.values()
    all_traces = [traces] if isinstance(traces, Trace) else list(traces)
    current = normalise_many(all_traces, flow, base.stable_keys)
    return diff_shapes(base, current, flow=flow, counts=counts)


def assert_matches_baseline(
    flow: str, traces: Trace | Iterable[Trace], directory: Path, *, counts: bool = False
) -> None:
    """Raise AssertionError listing every difference from the recorded shape."""
    changes = compare_with_baseline(flow, traces, directory, counts=counts)
    if changes:
        raise AssertionError(
            f"flow {flow!r} differs from its baseline in {directory}:\n{render_changes(changes)}"
        )
