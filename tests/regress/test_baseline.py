"""A flow's traces against its recording, as the bundled suite checks with --tracebed-baseline."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.regress.test_shape_diff import checkout_trace
from tracebed.regress.baseline import (
    BaselineMissing,
    assert_matches_baseline,
    compare_with_baseline,
)
from tracebed.regress.diff import ChangeKind
from tracebed.regress.files import write_shape
from tracebed.regress.shape import normalise


def test_baseline_match_and_mismatch(tmp_path: Path) -> None:
    write_shape(normalise(checkout_trace(), "checkout"), tmp_path)
    assert compare_with_baseline("checkout", checkout_trace(lines=5), tmp_path) == []
    assert_matches_baseline("checkout", [checkout_trace(trace_id="7" * 32)], tmp_path)
    changed = checkout_trace(email=False)
    kinds = sorted(c.kind for c in compare_with_baseline("checkout", changed, tmp_path))
    assert kinds == [ChangeKind.EDGE_REMOVED, ChangeKind.SPAN_REMOVED]
    with pytest.raises(AssertionError, match="edge removed: checkout -> email") as info:
        assert_matches_baseline("checkout", changed, tmp_path)
    assert "differs from its baseline" in str(info.value)


def test_missing_baseline_says_how_to_record_it(tmp_path: Path) -> None:
    with pytest.raises(BaselineMissing, match="tracebed record .* --flow view_cart"):
        compare_with_baseline("view_cart", checkout_trace(), tmp_path)
    (tmp_path / "view_cart.shape.json").write_text("{}")
    with pytest.raises(BaselineMissing, match="neither a shape recording"):
        compare_with_baseline("view_cart", checkout_trace(), tmp_path)


def test_settled_under_waits_for_missing_parents() -> None:
    from tests.factories import TraceBuilder
    from tracebed.regress.record import settled_under

    b = TraceBuilder()
    client_span = "00000000000000aa"  # what the shop sent in traceparent: never arrives
    root = b.span("frontend", "GET /", "server", parent=client_span)
    child = b.span("frontend", "grpc.oteldemo.X/Y", "client", root)
    b.span("x", "oteldemo.X/Y", "server", child)
    complete = b.trace()
    assert settled_under(client_span)(complete)
    # The middle span has not arrived: its child waits for it.
    partial = type(complete)(complete.trace_id, [s for s in complete if s.span_id != child])
    assert not settled_under(client_span)(partial)
    assert not settled_under(client_span)(type(complete)(complete.trace_id, []))
