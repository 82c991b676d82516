"""Logs and metrics in the report: each span's log records under it in the waterfall (and in the
page's log table), the logs beside the traces as OTLP/JSON, and the metric series a test moved."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

from tests.report.factory import checkout_trace
from tests.report.test_browser import dump_dom
from tests.report.test_html import embedded_data
from tests.report.test_plugin import run_pytest
from tracebed.model.logs import LogRecord
from tracebed.model.metrics import DataPoint, Metric, MetricPoint
from tracebed.model.store import SpanStore
from tracebed.model.trace import Trace
from tracebed.otlp.signals_json import read_signals_json
from tracebed.report.html import _number, render_test_page
from tracebed.report.writer import ReportedTest, ReportWriter, slug, write_report


def log(trace: Trace, span_id: str, body: str, *, sev: int = 9, at_ms: int = 0, **attrs: object):
    service = next((s.service for s in trace if s.span_id == span_id), "frontend")
    return LogRecord(
        attributes=dict(attrs),  # type: ignore[arg-type]
        resource={"service.name": service},
        trace_id=trace.trace_id,
        span_id=span_id,
        severity_number=sev,
        body=body,
        time_unix_nano=trace.start_ns + at_ms * 1_000_000,
    )


def planted() -> tuple[Trace, list[LogRecord]]:
    trace = checkout_trace(payment_error=True)
    root = trace.roots[0]
    payment = next(s for s in trace if s.service == "payment")
    records = [
        log(trace, payment.span_id, "card declined", sev=17, at_ms=60, **{"app.card": "visa"}),
        log(trace, "", "no span at all", at_ms=5),
        log(trace, "ee" * 8, "span never received", sev=13, at_ms=7),
        log(trace, root.span_id, "<script>alert(1)</script>", at_ms=1),
    ]
    return trace, records


def counter(value: float, t: int, *, name: str = "app.orders", kind: str = "sum",
            attrs: dict[str, object] | None = None, monotonic: bool = True) -> MetricPoint:  # fmt: skip
    point = DataPoint(attributes=attrs or {"route": "/checkout"}, value=value, time_unix_nano=t,
                      start_time_unix_nano=1)  # fmt: skip
    metric = Metric(name, "1", "counter" if kind == "sum" else "gauge", (point,),
                    {"service.name": "checkout"}, kind=kind, temporality="cumulative"
                    if kind == "sum" else "", monotonic=monotonic)  # fmt: skip
    return MetricPoint(metric, point)


def test_waterfall_data_puts_each_record_under_its_span_and_the_rest_last() -> None:
    trace, records = planted()
    page = render_test_page(
        nodeid="t::x", outcome="failed", duration_s=1.0, traces=[trace],
        logs={trace.trace_id: records},
    )  # fmt: skip
    (payload,) = embedded_data(page)["traces"]
    by_span = {s["spanId"]: s["logs"] for s in payload["spans"]}
    payment = next(s for s in trace if s.service == "payment")
    (declined,) = by_span[payment.span_id]
    assert declined == {
        "atMs": 60.0, "severity": "ERROR", "error": True, "service": "payment",
        "body": "card declined", "attributes": [["app.card", "visa"]],
    }  # fmt: skip
    assert by_span[trace.roots[0].span_id][0]["body"] == "<script>alert(1)</script>"
    assert sum(len(v) for v in by_span.values()) == 2
    # No span, or a span the trace does not hold: after the spans, in time order.
    assert [r["body"] for r in payload["looseLogs"]] == ["no span at all", "span never received"]
    assert [r["severity"] for r in payload["looseLogs"]] == ["INFO", "WARN"]
    assert "<script>alert(1)</script>" not in page  # escaped in the table, \u003c in the data


def test_log_table_lists_records_by_span_in_tree_order_then_the_ones_without() -> None:
    trace, records = planted()
    page = render_test_page(
        nodeid="t::x", outcome="failed", duration_s=1.0, traces=[trace],
        logs={trace.trace_id: records}, logs_hrefs={trace.trace_id: "x.1.logs.otlp.json"},
    )  # fmt: skip
    assert "4 log records" in page and 'href="x.1.logs.otlp.json"' in page
    payment = next(s for s in trace if s.service == "payment")
    table = page[page.index('<details class="logs">') :]
    table = table[: table.index("</details>")]
    bodies = re.findall(r"<tr[^>]*><td>([^<]*)</td>(?:<td[^>]*>[^<]*</td>){3}<td>([^<]*)", table)
    assert bodies == [
        ("frontend-proxy: ingress", "&lt;script&gt;alert(1)&lt;/script&gt;"),
        (f"payment: {payment.name}", "card declined"),
        ("(no span of this trace)", "no span at all"),
        ("(no span of this trace)", "span never received"),
    ]
    assert '<tr class="error"><td>payment:' in table and "app.card=visa" in table
    # A trace without records has no log table.
    plain = render_test_page(nodeid="t::y", outcome="passed", duration_s=1.0, traces=[trace])
    body = plain[plain.index("<main>") : plain.index("</main>")]
    assert '<details class="logs">' not in body and "log record" not in body


def test_metric_changes_since_a_mark_and_the_page_table() -> None:
    store = SpanStore()
    store.add_metric_points([
        counter(5, 10), counter(2, 10, name="app.idle"),
        counter(3, 10, name="app.queue", kind="gauge"), counter(9, 10, name="app.temp", kind="gauge"),
    ])  # fmt: skip
    mark = store.mark()
    store.add_metric_points([
        counter(8, 20), counter(11, 30),            # went up by 6
        counter(2, 20, name="app.idle"),            # re-exported, unchanged: not listed
        counter(3, 20, name="app.queue", kind="gauge"),  # same value: not listed
        counter(4, 20, name="app.temp", kind="gauge"),   # changed
        counter(1, 20, name="app.new", attrs={"kind": "fresh"}),  # began during the test
    ])  # fmt: skip
    changes = store.metric_changes(mark)
    assert [(c.point.name, c.increase, c.last, c.points) for c in changes] == [
        ("app.new", 1.0, 1.0, 1), ("app.orders", 6.0, 11.0, 2), ("app.temp", None, 4.0, 1),
    ]  # fmt: skip
    page = render_test_page(
        nodeid="t::x", outcome="passed", duration_s=1.0, traces=[], metrics=changes
    )
    section = page[page.index('<section class="metrics">') :]
    section = section[: section.index("</section>")]
    rows = re.findall(r"<tr><td>(.*?)</td></tr>", section)
    assert len(rows) == 3
    assert "<code>app.orders</code>" in rows[1] and "route=/checkout" in rows[1]
    assert '<td class="num">+6</td><td class="num">11</td>' in rows[1]
    assert '<td class="num">-</td><td class="num">4</td>' in rows[2]
    assert [_number(v) for v in (None, 2.0, 2.5, float("nan"), float("inf"))] == [
        "-", "2", "2.5", "nan", "inf",
    ]  # fmt: skip
    assert "metrics that changed" not in render_test_page(
        nodeid="t::x", outcome="passed", duration_s=1.0, traces=[]
    )


def test_writer_puts_each_traces_logs_beside_it_as_otlp_json(tmp_path: Path) -> None:
    trace, records = planted()
    quiet = checkout_trace(trace_id="9" * 32)
    writer = ReportWriter(tmp_path)
    writer.prepare()
    writer.write_test(
        ReportedTest("t::x", "failed", 1.0, traces=[trace, quiet], logs={trace.trace_id: records})
    )
    name = slug("t::x")
    back = read_signals_json(tmp_path / "tests" / f"{name}.1.logs.otlp.json")
    assert back.kinds == ["logs"] and sorted(r.body for r in back.logs) == sorted(  # type: ignore[type-var]
        r.body for r in records
    )
    assert not (tmp_path / "tests" / f"{name}.2.logs.otlp.json").exists()
    # A trace of which only log records arrived: its section lists them, and they are written.
    lost = "8" * 32
    only_logs = [LogRecord(trace_id=lost, span_id="12" * 8, body="lonely", severity_number=17)]
    writer.write_test(ReportedTest("t::y", "passed", 1.0, trace_ids=[lost], logs={lost: only_logs}))
    page = (tmp_path / "tests" / f"{slug('t::y')}.html").read_text(encoding="utf-8")
    section = page[page.index(f'id="trace-{lost}"') : page.index("</section>")]
    assert "no spans of this trace were received" in section and "lonely" in section
    assert f'href="{slug("t::y")}.1.logs.otlp.json"' in section
    assert [
        r.body
        for r in read_signals_json(tmp_path / "tests" / f"{slug('t::y')}.1.logs.otlp.json").logs
    ] == ["lonely"]
    writer.prepare()  # an earlier run's logs files are cleaned too
    assert not list((tmp_path / "tests").iterdir())


# A test that logs inside a span and counts, through the real SDK exporters, into a Sink.
INNER_SDK = """
import pytest
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from tracebed.otlp import Sink
from tracebed.plugin.report import attach_trace_id, set_trace_source


@pytest.fixture(scope="session")
def sink(pytestconfig):
    with Sink() as running:
        set_trace_source(pytestconfig, running.store)
        yield running


def test_pays(request, sink):
    resource = Resource.create({"service.name": "payment"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(
        SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"{sink.http_url}/v1/traces"))
    )
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(
        SimpleLogRecordProcessor(OTLPLogExporter(endpoint=f"{sink.http_url}/v1/logs"))
    )
    reader = PeriodicExportingMetricReader(
        OTLPMetricExporter(endpoint=f"{sink.http_url}/v1/metrics"), export_interval_millis=3_600_000
    )
    meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
    charges = meter_provider.get_meter("pay").create_counter("app.payment.charges")
    logger = logger_provider.get_logger("pay")
    with tracer_provider.get_tracer("pay").start_as_current_span("charge") as span:
        logger.emit(body="charged the card", severity_number=SeverityNumber.WARN,
                    severity_text="WARN", attributes={"app.amount": 42})
        charges.add(3, {"app.currency": "EUR"})
        attach_trace_id(request, format(span.get_span_context().trace_id, "032x"))
    for provider in (tracer_provider, logger_provider, meter_provider):
        provider.shutdown()  # flushes: each exporter call returns once the sink stored it
"""


def test_a_test_that_logs_and_counts_through_the_sdk_gets_both_on_its_page(
    tmp_path: Path,
) -> None:
    result = run_pytest(tmp_path, "--tracebed-report", "report", source=INNER_SDK)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "tracebed report:" in result.stdout and "could not" not in result.stdout
    name = slug("test_inner.py::test_pays")
    page = (tmp_path / "report" / "tests" / f"{name}.html").read_text(encoding="utf-8")
    (payload,) = embedded_data(page)["traces"]
    (charge,) = payload["spans"]
    assert charge["name"] == "charge"
    assert [(r["severity"], r["body"], r["attributes"]) for r in charge["logs"]] == [
        ("WARN", "charged the card", [["app.amount", "42"]])
    ]
    section = page[page.index('<section class="metrics">') :]
    assert "<code>app.payment.charges</code>" in section and "app.currency=EUR" in section
    assert '<td class="num">+3</td>' in section
    logs = read_signals_json(tmp_path / "report" / "tests" / f"{name}.1.logs.otlp.json")
    assert [r.body for r in logs.logs] == ["charged the card"]


class Order(HTMLParser):
    """The waterfall's rows in DOM order: ("span", id), ("log", body), ("loose", "")."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[str, str]] = []
        self._body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        classes = a.get("class", "").split()
        if "wf-row" in classes:
            self.rows.append(("span", a.get("data-span-id", "")))
        elif "wf-loose" in classes:
            self.rows.append(("loose", ""))
        self._body = "wf-body" in classes

    def handle_data(self, data: str) -> None:
        if self._body:
            self.rows.append(("log", data))
            self._body = False


def test_chromium_draws_each_record_right_under_its_span(tmp_path: Path) -> None:
    trace, records = planted()
    write_report(
        tmp_path / "report",
        [ReportedTest("t::x", "failed", 1.0, [trace], logs={trace.trace_id: records})],
    )
    page = tmp_path / "report" / "tests" / f"{slug('t::x')}.html"
    parsed = Order()
    parsed.feed(dump_dom(page.as_uri(), tmp_path / "profile"))
    expected: list[tuple[str, str]] = []
    for _, span in trace.walk():
        expected.append(("span", span.span_id))
        expected += [("log", r.body) for r in records if r.span_id == span.span_id]  # type: ignore[misc]
    expected += [("loose", ""), ("log", "no span at all"), ("log", "span never received")]
    assert parsed.rows == expected
