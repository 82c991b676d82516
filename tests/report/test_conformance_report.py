"""Registry-conformance findings in the report: each finding under the span it is about (in the
waterfall's data, the no-script blocks and the page Chromium draws), a summary per test, and a
line on the index."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from tests.report.factory import checkout_trace
from tests.report.test_browser import dump_dom
from tests.report.test_html import embedded_data
from tracebed.model.metrics import DataPoint, Metric
from tracebed.model.trace import Trace
from tracebed.query.conformance import check
from tracebed.query.registry import load_registry
from tracebed.report.html import ConformanceResult, render_test_page
from tracebed.report.writer import ReportedTest, ReportWriter, slug, write_report

REGISTRY = """\
file_format: definition/2
attributes:
  - key: demo.order.id
    type: string
    brief: order id
    stability: stable
"""


def planted(tmp_path: Path) -> tuple[Trace, ConformanceResult]:
    """A checkout trace whose payment span carries an unregistered `demo.card.secret`, and an
    unregistered metric (about no span)."""
    trace = checkout_trace()
    payment = next(s for s in trace if s.service == "payment")
    payment.attributes["demo.card.secret"] = "x"
    (tmp_path / "registry").mkdir(exist_ok=True)
    (tmp_path / "registry" / "shop.yaml").write_text(REGISTRY)
    registry = load_registry(tmp_path / "registry")
    metric = Metric(
        "demo.orders", "1", "counter", (DataPoint(value=1.0),), {"service.name": "checkout"}
    )
    report = check(registry, spans=list(trace), metrics=[metric])
    secret = next(
        i for i, f in enumerate(report.findings) if f.key == "demo.card.secret"
    )
    return trace, ConformanceResult(report, {secret: "the demo sends it (a planted note)"})


def span_blocks(page: str) -> dict[str, str]:
    """The no-script findings blocks by span id."""
    return dict(
        re.findall(r'<div class="span-findings" data-span-id="([0-9a-f]{16})">(.*?)</div>', page)
    )


MESSAGE = "Attribute &#x27;demo.card.secret&#x27; does not exist in the registry."


def test_each_finding_sits_in_the_block_of_its_span(tmp_path: Path) -> None:
    trace, result = planted(tmp_path)
    payment = next(s for s in trace if s.service == "payment")
    page = render_test_page(
        nodeid="t::x", outcome="passed", duration_s=1.0, traces=[trace], conformance=[result]
    )
    blocks = span_blocks(page)
    assert MESSAGE in blocks[payment.span_id]
    assert "missing_attribute" in blocks[payment.span_id]
    assert "known: the demo sends it (a planted note)" in blocks[payment.span_id]
    others = [text for span_id, text in blocks.items() if span_id != payment.span_id]
    assert all("demo.card.secret" not in text for text in others)
    # The waterfall's data: the finding on the payment span's entry, and on no other.
    spans = embedded_data(page)["traces"][0]["spans"]
    by_id = {s["spanId"]: s for s in spans}
    found = by_id[payment.span_id]["findings"]
    secret = next(f for f in found if f["key"] == "demo.card.secret")
    assert secret == {
        "id": "missing_attribute",
        "level": "violation",
        "key": "demo.card.secret",
        "signal": f"span {payment.name}",
        "message": "Attribute 'demo.card.secret' does not exist in the registry.",
        "known": "the demo sends it (a planted note)",
    }
    assert all(
        f["key"] != "demo.card.secret" for s in spans if s is not by_id[payment.span_id]
        for f in s["findings"]
    )


def test_the_page_summarises_the_check_and_lists_what_is_about_no_span(tmp_path: Path) -> None:
    trace, result = planted(tmp_path)
    page = render_test_page(
        nodeid="t::x", outcome="failed", duration_s=1.0, traces=[trace], conformance=[result]
    )
    summary = page[page.index('<section class="conformance">') :]
    summary = summary[: summary.index("</section>")]
    assert result.report.summary() in summary
    assert "<code>missing_metric</code>" in summary
    # The metric's finding is about no span: listed in the summary, under its metric.
    loose = summary[summary.index("findings about no span on this page") :]
    assert "demo.orders" in loose and "Metric &#x27;demo.orders&#x27; does not exist" in loose
    assert "demo.card.secret" not in loose


def test_the_index_carries_each_tests_conformance_line_through_the_manifest(
    tmp_path: Path,
) -> None:
    trace, result = planted(tmp_path)
    writer = ReportWriter(tmp_path / "report")
    writer.prepare()
    entry = writer.write_test(ReportedTest("t::x", "passed", 1.0, [trace], conformance=[result]))
    violations = result.report.count("violation")
    assert entry.conformance == (
        f"conformance: {violations} violations (1 known)"
        + (f", {result.report.count('improvement')} improvements"
           if result.report.count("improvement") else "")
    )  # fmt: skip
    writer.write_manifest("main", [entry])
    entries, _ = writer.read_manifests()
    index = writer.write_index(entries).read_text()
    assert f"conformance: {violations} violations (1 known)" in index


class Rows(HTMLParser):
    """The waterfall's rows in DOM order: ("span", id) and ("finding", key)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self._key = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if "wf-row" in classes:
            self.rows.append(("span", a.get("data-span-id", "")))
        self._key = "wf-fkey" in classes

    def handle_data(self, data: str) -> None:
        if self._key:
            self.rows.append(("finding", data))
            self._key = False


def test_chromium_draws_the_finding_right_under_its_span(tmp_path: Path) -> None:
    trace, result = planted(tmp_path)
    payment = next(s for s in trace if s.service == "payment")
    write_report(
        tmp_path / "report", [ReportedTest("t::x", "passed", 1.0, [trace], conformance=[result])]
    )
    page = tmp_path / "report" / "tests" / f"{slug('t::x')}.html"
    parsed = Rows()
    parsed.feed(dump_dom(page.as_uri(), tmp_path / "profile"))
    at = parsed.rows.index(("finding", "demo.card.secret"))
    before = [row for row in parsed.rows[:at] if row[0] == "span"]
    assert before[-1] == ("span", payment.span_id)
