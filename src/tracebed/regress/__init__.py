"""Upgrade regression: normalised trace shapes, recordings, and diffs between them."""

from tracebed.regress.diff import Change, ChangeKind, diff_sets, diff_shapes, render_changes
from tracebed.regress.files import ShapeLoadError, load_shapes, write_shape
from tracebed.regress.shape import (
    DEFAULT_STABLE_KEYS,
    EdgeShape,
    SpanShape,
    TraceShape,
    normalise,
    normalise_many,
)

__all__ = [
    "DEFAULT_STABLE_KEYS",
    "Change",
    "ChangeKind",
    "EdgeShape",
    "ShapeLoadError",
    "SpanShape",
    "TraceShape",
    "diff_sets",
    "diff_shapes",
    "load_shapes",
    "normalise",
    "normalise_many",
    "render_changes",
    "write_shape",
]
