"""HTML pages, service map, Gantt and failure text: content checks (the browser test is apart)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.factories import make_span
from tests.report.factory import checkout_trace, report_builder, span_with_everything
from tracebed.model import Link, SpanKind, SpanStore, Trace
from tracebed.report.gantt import GanttRow, coerce_rows, render_gantt
from tracebed.report.html import IndexEntry, TraceEntry, render_index, render_test_page
from tracebed.report.servicemap import NODE_H, build_service_map, render_service_map
from tracebed.report.text import body_head, format_exchange
from tracebed.report.writer import ReportedTest, ReportWriter, slug, write_report

SVG = "{http://www.w3.org/2000/svg}"


def embedded_data(page: str) -> dict[str, Any]:
    match = re.search(
        r'<script type="application/json" id="tracebed-data">(.*?)</script>', page, re.S
    )
    assert match, "page has no embedded trace data"
    return json.loads(match.group(1))


def test_test_page_embeds_every_span_in_tree_order_with_errors_marked() -> None:
    trace = checkout_trace(payment_error=True)
    page = render_test_page(
        nodeid="tests/test_shop.py::test_checkout", outcome="failed", duration_s=1.5, traces=[trace]
    )
    (payload,) = embedded_data(page)["traces"]
    assert payload["traceId"] == trace.trace_id
    assert [s["spanId"] for s in payload["spans"]] == [s.span_id for _, s in trace.walk()]
    assert [s["depth"] for s in payload["spans"]] == [d for d, _ in trace.walk()]
    errors = {s["service"] + ":" + s["name"] for s in payload["spans"] if s["error"]}
    assert errors == {"checkout:oteldemo.PaymentService/Charge", "payment:charge"}
    assert payload["durationMs"] == pytest.approx(trace.duration * 1000)
    assert set(payload["colors"]) == trace.services
    assert f'data-trace-id="{trace.trace_id}"' in page
    assert '<span class="outcome failed">failed</span>' in page
    # the text tree is in the page for copying and for readers without JavaScript
    assert "payment: charge [server]" in page


def test_hostile_attribute_values_cannot_break_out_of_the_page() -> None:
    span = span_with_everything()
    page = render_test_page(
        nodeid="t::<b>x</b>",
        outcome="passed",
        duration_s=0.1,
        traces=[Trace(span.trace_id, [span])],
    )
    assert page.count("</script>") == 2  # the data block and the script, nothing injected
    assert "<b>x</b>" not in page and "&lt;b&gt;x&lt;/b&gt;" in page
    attrs = dict(embedded_data(page)["traces"][0]["spans"][0]["attributes"])
    assert attrs["s"] == "text ü </script>"  # intact after JSON decoding
    assert attrs["bytes"] == "0xff00"
    assert json.loads(attrs["list"]) == ["a", 1, [2.5, None]]


def test_page_is_self_contained() -> None:
    page = render_test_page(nodeid="t", outcome="passed", duration_s=0.1, traces=[checkout_trace()])
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page), "page loads something remote"
    assert "<style>" in page and "waterfall" in page and "<svg" in page


def test_missing_trace_ids_and_no_traces_are_stated() -> None:
    page = render_test_page(
        nodeid="t", outcome="passed", duration_s=0.1, traces=[], missing_trace_ids=["ab" * 16]
    )
    assert "no spans of this trace were received" in page and "ab" * 16 in page
    empty = render_test_page(nodeid="t", outcome="passed", duration_s=0.1, traces=[])
    assert "this test recorded no traces" in empty


def test_service_map_layers_follow_the_call_chain() -> None:
    trace = checkout_trace()
    smap = build_service_map(trace)
    layers = {service: node.layer for service, node in smap.nodes.items()}
    assert layers["frontend-proxy"] == 0 and layers["frontend"] == 1 and layers["checkout"] == 2
    assert {layers[s] for s in ("cart", "payment", "email", "accounting", "shipping")} == {3}
    assert layers["quote"] == 4
    calls = {(e.caller, e.callee): (e.calls, e.kinds) for e in smap.edges}
    assert calls[("checkout", "accounting")] == (1, ("messaging",))
    assert calls[("checkout", "cart")] == (1, ("rpc",))
    # boxes in one layer never overlap
    for layer in set(layers.values()):
        ys = sorted(n.y for n in smap.nodes.values() if n.layer == layer)
        assert all(b - a >= NODE_H for a, b in zip(ys, ys[1:], strict=False))

    svg = ET.fromstring(render_service_map(trace))  # well-formed XML
    services = {
        g.get("data-service") for g in svg.iter(f"{SVG}g") if g.get("class", "").startswith("node")
    }
    assert services == trace.services
    edges = {
        (g.get("data-caller"), g.get("data-callee"))
        for g in svg.iter(f"{SVG}g")
        if g.get("class") == "edge"
    }
    assert edges == trace.edges


def test_service_map_marks_errors_and_survives_cycles_and_orphans() -> None:
    m = report_builder()
    a = m.span("frontend", "GET /", SpanKind.SERVER, None, start_ms=0, duration_ms=10)
    b = m.span("checkout", "call", SpanKind.SERVER, a, start_ms=1, duration_ms=5)
    m.span(
        "frontend", "callback", SpanKind.SERVER, b, start_ms=2, duration_ms=1, error="boom"
    )  # back edge
    orphan_parent = report_builder(m.trace_id).span(
        "gone", "lost", SpanKind.INTERNAL, None, start_ms=0, duration_ms=1
    )
    m.span(
        "accounting", "orders receive", SpanKind.CONSUMER, orphan_parent, start_ms=3, duration_ms=1
    )
    trace = m.trace()
    smap = build_service_map(trace)
    assert smap.nodes["accounting"].layer == 0  # reachable only from an orphan: its own start
    assert smap.nodes["frontend"].errors == 1
    svg = ET.fromstring(render_service_map(trace))
    error_nodes = [
        g.get("data-service") for g in svg.iter(f"{SVG}g") if g.get("class") == "node error"
    ]
    assert error_nodes == ["frontend"]
    assert render_service_map(Trace("1" * 32, [])).startswith('<p class="empty">')


@dataclass
class TimelineEvent:  # what a stack timeline object might look like
    service: str
    tier: int
    start_s: float
    ready_s: float | None
    status: str


def test_gantt_rows_from_tuples_mappings_and_objects_sorted_by_tier() -> None:
    rows = coerce_rows(
        [
            ("checkout", 2, 1.5, 2.0, "ready"),
            {"service": "kafka", "tier": 0, "start_s": 0, "ready_s": 3.2, "status": "ready"},
            TimelineEvent("cart", 1, 0.4, None, "timeout"),
        ]
    )
    assert [r.service for r in rows] == ["kafka", "cart", "checkout"]
    assert rows[1] == GanttRow("cart", 1, 0.4, None, "timeout") and not rows[1].ok
    with pytest.raises(ValueError, match="expected \\(service, tier, start_s, ready_s, status\\)"):
        coerce_rows([("a", 0)])
    with pytest.raises(ValueError, match="tier an integer"):
        coerce_rows([("a", "zero", 0, 1, "ready")])


def test_gantt_svg_has_a_bar_per_service_and_flags_the_ones_never_ready() -> None:
    rows = [
        ("kafka", 0, 0.0, 3.2, "ready"),
        ("cart", 1, 0.4, None, "timeout"),
        ("ad", 1, 0.4, 1.0, "ready"),
    ]
    svg = ET.fromstring(render_gantt(rows))
    groups = {g.get("data-service"): g for g in svg.iter(f"{SVG}g") if g.get("data-service")}
    assert set(groups) == {"kafka", "cart", "ad"}
    assert groups["cart"].get("class") == "gantt-row failed"
    assert "never ready" in (groups["cart"].findtext(f"{SVG}title") or "")
    kafka_bar = groups["kafka"].find(f"{SVG}rect")
    ad_bar = groups["ad"].find(f"{SVG}rect")
    assert kafka_bar is not None and ad_bar is not None
    # bar widths are proportional to time-to-ready (3.2 s vs 0.6 s)
    ratio = float(kafka_bar.get("width", 0)) / float(ad_bar.get("width", 1))
    assert ratio == pytest.approx(3.2 / 0.6, rel=0.01)
    assert render_gantt([]).startswith('<p class="empty">')


def test_index_lists_tests_with_outcome_links_and_traces() -> None:
    entries = [
        IndexEntry(
            "t.py::ok",
            "passed",
            0.2,
            "tests/ok.html",
            [TraceEntry("a" * 32, 21, 12, 0, "tests/ok.1.otlp.json")],
        ),
        IndexEntry("t.py::bad", "failed", 1.0, "tests/bad.html", [TraceEntry("b" * 32)]),
        IndexEntry("t.py::skip", "skipped", 0.0, "tests/skip.html"),
    ]
    page = render_index(entries, [("kafka", 0, 0.0, 2.0, "ready")])
    assert '<span class="outcome passed">1 passed</span>' in page
    assert '<span class="outcome failed">1 failed</span>' in page
    assert f'href="tests/ok.html#trace-{"a" * 32}"' in page
    assert 'href="tests/ok.1.otlp.json"' in page
    assert "no spans received" in page  # the failed test's trace never arrived
    assert "stack startup" in page and 'data-service="kafka"' in page
    assert "stack startup" not in render_index(entries)


def test_index_header_names_the_demo_release() -> None:
    entries = [IndexEntry("t.py::ok", "passed", 0.2)]
    header = render_index(entries, demo_version="3.0.0").split("</header>")[0]
    assert '<span class="release">demo 3.0.0</span>' in header
    assert 'class="release"' not in render_index(entries)


def test_writer_lays_out_files_and_cleans_only_its_own(tmp_path: Path) -> None:
    keep = tmp_path / "tests" / "notes.txt"
    keep.parent.mkdir(parents=True)
    keep.write_text("mine")
    stale = tmp_path / "tests" / "old.html"
    stale.write_text("old")
    trace = checkout_trace()
    index = write_report(
        tmp_path,
        [ReportedTest("t.py::test_a", "passed", 0.3, [trace], [trace.trace_id, "c" * 32])],
        [("kafka", 0, 0, 1, "ready")],
    )
    assert keep.exists() and not stale.exists()
    name = slug("t.py::test_a")
    assert (tmp_path / "tests" / f"{name}.html").exists()
    json_file = tmp_path / "tests" / f"{name}.1.otlp.json"
    assert json.loads(json_file.read_text())["resourceSpans"]
    html = index.read_text()
    assert f"tests/{name}.html" in html and "c" * 32 in html


def test_manifests_merge_across_processes(tmp_path: Path) -> None:
    writer = ReportWriter(tmp_path)
    writer.prepare()
    a = writer.write_test(ReportedTest("t.py::a", "passed", 0.1, [checkout_trace()]))
    b = writer.write_test(ReportedTest("t.py::b", "failed", 0.2))
    writer.write_manifest("gw0", [a], [])
    writer.write_manifest("gw1", [b], [("kafka", 0, 0, 1, "ready")])
    entries, gantt = writer.read_manifests()
    assert [(e.nodeid, e.outcome, len(e.traces)) for e in entries] == [
        ("t.py::a", "passed", 1),
        ("t.py::b", "failed", 0),
    ]
    assert [r.service for r in gantt] == ["kafka"]
    (tmp_path / ".manifests" / "gw2.json").write_text("{broken")
    with pytest.raises(ValueError, match="gw2.json is unreadable"):
        writer.read_manifests()


def test_slugs_are_safe_and_unique() -> None:
    long_a = "tests/x.py::test_" + "a" * 200 + "[1]"
    long_b = "tests/x.py::test_" + "a" * 200 + "[2]"
    assert slug(long_a) != slug(long_b)
    assert re.fullmatch(r"[A-Za-z0-9._-]+", slug("t.py::test[a/b c:d]"))
    assert len(slug(long_a)) < 100


def test_format_exchange_shows_request_response_and_tree() -> None:
    trace = checkout_trace(payment_error=True)
    charge = trace.named("charge")[0]
    text = format_exchange(
        "post",
        "http://127.0.0.1:8080/api/checkout",
        500,
        b'{"error": "payment failed", "detail": {"code": 13}}',
        trace=trace,
        marks={charge.span_id},
    )
    lines = text.splitlines()
    assert lines[0] == "request:  POST http://127.0.0.1:8080/api/checkout"
    assert f"trace id: {trace.trace_id}" in lines
    assert "response: 500" in lines
    assert '  "error": "payment failed",' in text  # pretty-printed JSON body
    assert any(line.startswith(">>") and "payment: charge" in line for line in lines)
    assert "response: no response" in format_exchange("GET", "http://x/", None)


def test_body_head_truncates_and_handles_binary() -> None:
    assert body_head("x" * 1000, limit=10) == "x" * 10 + "… (990 more characters)"
    assert body_head(b"\xff\xfe\x00").startswith("<3 bytes> fffe00")
    assert body_head(None) == "(no body)" and body_head("") == "(empty body)"
    assert body_head({"a": 1}) == '{\n "a": 1\n}'
    assert body_head("{not json") == "{not json"


def test_traces_linked_by_span_links_point_at_each_other() -> None:
    producer = checkout_trace()
    publish = producer.named("orders publish")[0]
    consumer = make_span(
        "d",
        trace_id="c",
        name="orders process",
        service="accounting",
        links=(Link(producer.trace_id, publish.span_id),),
    )
    store = SpanStore()
    store.add_spans([*producer, consumer])
    on_page = [store.trace(producer.trace_id), store.trace("c" * 32)]
    page = render_test_page(nodeid="t", outcome="passed", duration_s=0.1, traces=on_page)
    assert f'linked from <a href="#trace-{"c" * 32}">' in page
    assert f'links to <a href="#trace-{producer.trace_id}">' in page
    alone = render_test_page(nodeid="t", outcome="passed", duration_s=0.1, traces=on_page[1:])
    assert f"links to <code>{producer.trace_id}</code>" in alone  # not on the page: no anchor


def test_service_map_puts_a_service_right_of_every_caller() -> None:
    # The real checkout: frontend calls product-catalog directly and through checkout.
    m = report_builder()
    fe = m.span("frontend", "POST /api/checkout", SpanKind.SERVER, None, start_ms=0, duration_ms=50)
    co = m.span("checkout", "PlaceOrder", SpanKind.SERVER, fe, start_ms=1, duration_ms=40)
    m.span("product-catalog", "GetProduct", SpanKind.SERVER, co, start_ms=2, duration_ms=1)
    m.span("product-catalog", "GetProduct", SpanKind.SERVER, fe, start_ms=45, duration_ms=1)
    smap = build_service_map(m.trace())
    layers = {s: n.layer for s, n in smap.nodes.items()}
    assert layers == {"frontend": 0, "checkout": 1, "product-catalog": 2}


def test_spans_in_a_parent_loop_are_still_shown() -> None:
    a = make_span("a", "b", trace_id="1", name="a", service=None)
    b = make_span("b", "a", trace_id="1", name="b", service=None)
    root = make_span("c", trace_id="1", name="root", service=None)
    page = render_test_page(
        nodeid="t", outcome="passed", duration_s=0.1, traces=[Trace("1" * 32, [a, b, root])]
    )
    spans = embedded_data(page)["traces"][0]["spans"]
    assert sorted(s["name"] for s in spans) == ["a", "b", "root"]
    assert all(s["orphan"] for s in spans if s["name"] != "root")
