"""Reports: OTLP/JSON artifacts, HTML pages (waterfall, service map, startup Gantt), failure text.

Knows nothing of pytest; `tracebed.plugin.report` feeds it from test items.
"""

from tracebed.report.gantt import GanttRow, render_gantt
from tracebed.report.html import (
    IndexEntry,
    TraceEntry,
    render_index,
    render_test_page,
    render_trace_page,
)
from tracebed.report.otlp_json import (
    OtlpJsonError,
    read_otlp_json,
    spans_from_otlp_json,
    trace_to_otlp_json,
    traces_from_spans,
    write_otlp_json,
)
from tracebed.report.servicemap import build_service_map, render_service_map
from tracebed.report.text import body_head, format_exchange, trace_summary
from tracebed.report.writer import ReportedTest, ReportWriter, write_report

__all__ = [
    "GanttRow",
    "IndexEntry",
    "OtlpJsonError",
    "ReportWriter",
    "ReportedTest",
    "TraceEntry",
    "body_head",
    "build_service_map",
    "format_exchange",
    "read_otlp_json",
    "render_gantt",
    "render_index",
    "render_service_map",
    "render_test_page",
    "render_trace_page",
    "spans_from_otlp_json",
    "trace_summary",
    "trace_to_otlp_json",
    "traces_from_spans",
    "write_otlp_json",
    "write_report",
]
