"""Reports: HTML pages (waterfall, service map, startup Gantt), failure text, and the OTLP/JSON
artifacts beside them (written with `tracebed.otlp.otlp_json`, which owns the wire format).

Knows nothing of pytest; `tracebed.plugin.report` feeds it from test items.
"""

from tracebed.report.gantt import GanttRow, render_gantt
from tracebed.report.html import (
    ConformanceResult,
    IndexEntry,
    TraceEntry,
    render_index,
    render_test_page,
    render_trace_page,
)
from tracebed.report.servicemap import build_service_map, render_service_map
from tracebed.report.text import body_head, format_exchange, trace_summary
from tracebed.report.writer import ReportedTest, ReportWriter, write_report

__all__ = [
    "ConformanceResult",
    "GanttRow",
    "IndexEntry",
    "ReportWriter",
    "ReportedTest",
    "TraceEntry",
    "body_head",
    "build_service_map",
    "format_exchange",
    "render_gantt",
    "render_index",
    "render_service_map",
    "render_test_page",
    "render_trace_page",
    "trace_summary",
    "write_report",
]
