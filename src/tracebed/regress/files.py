"""Reading and writing shapes: recordings (`<flow>.shape.json`) and plain OTLP/JSON traces.

A recording directory holds one `<flow>.shape.json` per flow. `load_shapes` also accepts
OTLP/JSON trace files, as the sink's `GET /api/traces/{id}` and the report write them,
so a saved trace from any run can be compared with a recording.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tracebed.errors import ConfigError
from tracebed.model import Span, Trace
from tracebed.regress.shape import (
    DEFAULT_STABLE_KEYS,
    FORMAT,
    ShapeFormatError,
    TraceShape,
    normalise,
)

SUFFIX = ".shape.json"


class ShapeLoadError(ConfigError, ValueError):
    """A path that cannot be read as shapes; the message says which file and why."""


def flow_file_name(flow: str) -> str:
    """`checkout` -> `checkout.shape.json`; refuses names that would escape the directory."""
    if not flow or flow in (".", "..") or any(c in flow for c in "/\\\0"):
        raise ValueError(f"flow name {flow!r} cannot be used as a file name")
    return flow + SUFFIX


def write_shape(shape: TraceShape, directory: Path) -> Path:
    """Write `shape` as `<directory>/<flow>.shape.json` (sorted, stable bytes for git)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / flow_file_name(shape.flow)
    path.write_text(json.dumps(shape.to_dict(), indent=2, sort_keys=False) + "\n", encoding="utf-8")
    return path


def _name_from_path(path: Path) -> str:
    name = path.name
    for suffix in (SUFFIX, ".otlp.json", ".trace.json", ".json"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def spans_from_otlp(data: Mapping[str, Any]) -> list[Span]:
    """Decode OTLP/JSON (`{"resourceSpans": [...]}`) with the otlp layer's decoder."""
    from tracebed.otlp.otlp_json import spans_from_otlp_json

    return list(spans_from_otlp_json(dict(data)))


def shapes_from_spans(
    spans: Iterable[Span], name: str, stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS
) -> dict[str, TraceShape]:
    """One shape per trace id; a single trace is named `name`, several `name#1`, `name#2`..."""
    by_trace: dict[str, list[Span]] = defaultdict(list)
    for span in spans:
        by_trace[span.trace_id].append(span)
    traces = [Trace(tid, group) for tid, group in by_trace.items()]
    # Order by the first span's start so that `#n` suffixes follow the order of the run.
    traces.sort(key=lambda t: (t.start_ns, t.trace_id))
    if len(traces) == 1:
        return {name: normalise(traces[0], name, stable_keys)}
    return {
        f"{name}#{i}": normalise(t, f"{name}#{i}", stable_keys) for i, t in enumerate(traces, 1)
    }


def load_file(
    path: Path, stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS
) -> dict[str, TraceShape]:
    """Shapes in one file: a recording, or an OTLP/JSON trace (one shape per trace id)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ShapeLoadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ShapeLoadError(f"{path}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ShapeLoadError(f"{path}: expected a JSON object, got {type(data).__name__}")
    if "format" in data:
        try:
            shape = TraceShape.from_dict(data, str(path))
        except ShapeFormatError as exc:
            raise ShapeLoadError(str(exc)) from None
        name = shape.flow or _name_from_path(path)
        shape.flow = name
        return {name: shape}
    if "resourceSpans" in data:
        try:
            spans = spans_from_otlp(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise ShapeLoadError(f"{path}: not valid OTLP/JSON: {exc}") from None
        if not spans:
            raise ShapeLoadError(f"{path}: OTLP/JSON file holds no spans")
        return shapes_from_spans(spans, _name_from_path(path), stable_keys)
    raise ShapeLoadError(
        f'{path}: neither a shape recording ("format": {FORMAT!r}) nor OTLP/JSON ("resourceSpans")'
    )


def load_shapes(
    path: Path, stable_keys: Iterable[str] = DEFAULT_STABLE_KEYS
) -> dict[str, TraceShape]:
    """Shapes by flow name from a file or from every `*.json` file of a directory.

    A report directory's traces (`tests/*.otlp.json`) are named after the test and trace
    number, so two reports of the same suite pair up test by test.
    """
    keys = tuple(stable_keys)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and p.name.endswith(".json"))
        report_traces = path / "tests"
        if not files and report_traces.is_dir():
            # A report directory (`--tracebed-report`): its traces are tests/<test>.<n>.otlp.json.
            return load_shapes(report_traces, keys)
        if not files:
            raise ShapeLoadError(f"{path}: directory holds no .json recordings or traces")
        shapes: dict[str, TraceShape] = {}
        for file in files:
            for name, shape in load_file(file, keys).items():
                if name in shapes:
                    raise ShapeLoadError(f"{path}: flow {name!r} appears in more than one file")
                shapes[name] = shape
        return shapes
    if path.is_file():
        return load_file(path, keys)
    raise ShapeLoadError(f"{path}: no such file or directory")
