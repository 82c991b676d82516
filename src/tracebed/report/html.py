"""Self-contained HTML pages: one per test (waterfall + service map per trace) and an index.

Every page inlines its CSS, JS and SVG, so it opens from disk with no network. The waterfall is
drawn by a small script from the span data embedded as JSON; the text tree is in the page too,
for copying into an issue and as the no-script view.
"""

from __future__ import annotations

import json
import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cache
from html import escape
from importlib import resources
from typing import Any

from tracebed.model.logs import SEVERITIES, LogRecord
from tracebed.model.metrics import SeriesChange
from tracebed.model.span import AttrValue, Span
from tracebed.model.trace import Trace
from tracebed.query.conformance import Finding, Level
from tracebed.query.conformance import Report as ConformanceReport
from tracebed.report.colors import service_color
from tracebed.report.gantt import coerce_rows, render_gantt
from tracebed.report.servicemap import render_service_map

MAX_SPANS_PER_TRACE = 5000  # beyond this a page gets too heavy to be useful; the JSON has all
MAX_VALUE_CHARS = 2000
OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")


@cache
def _asset(name: str) -> str:
    return resources.files("tracebed.report").joinpath(name).read_text(encoding="utf-8")


def _script_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `</script>` or `<!--` can break out."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def display_value(value: AttrValue) -> str:
    """An attribute value as the page shows it (strings bare, bytes as hex, others as JSON)."""
    if isinstance(value, str):
        text = value
    elif isinstance(value, bytes | bytearray):
        text = "0x" + bytes(value).hex()
    else:
        text = json.dumps(value, ensure_ascii=False, default=_json_default)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    return str(value)


def _pairs(attributes: Any) -> list[list[str]]:
    return [[str(k), display_value(v)] for k, v in attributes.items()]


def _ms(ns: int) -> float:
    return round(ns / 1e6, 4)


def severity_label(record: LogRecord) -> str:
    """The record's severity text, else the name of its number's range (17 -> ERROR)."""
    if record.severity_text:
        return record.severity_text
    level = record.level
    names = [name for name, first in SEVERITIES.items() if first <= level]
    return names[-1] if level and names else "-"


def _log_payload(record: LogRecord, trace_start: int) -> dict[str, Any]:
    return {
        "atMs": _ms(record.time - trace_start) if record.time and trace_start else None,
        "severity": severity_label(record),
        "error": record.level >= SEVERITIES["ERROR"],
        "service": record.service,
        "body": display_value(record.body) if record.body is not None else "",
        "attributes": _pairs(record.attributes),
    }


@dataclass
class ConformanceResult:
    """A test's registry-conformance report as its page shows it; `known` maps an index into
    `report.findings` to why that finding is expected (a non-conformance of the demo itself)."""

    report: ConformanceReport
    known: dict[int, str] = field(default_factory=dict)

    def summary(self) -> str:
        """One line for the index: violations (how many known), improvements."""
        parts = []
        for level in (Level.VIOLATION, Level.IMPROVEMENT):
            found = [i for i, f in enumerate(self.report.findings) if f.level == level]
            if found:
                known = sum(1 for i in found if i in self.known)
                plural = "s" if len(found) != 1 else ""
                parts.append(
                    f"{len(found)} {level.label}{plural}" + (f" ({known} known)" if known else "")
                )
        return "conformance: " + (", ".join(parts) or "no findings")


# A finding with the note that says why it is expected ("" when it is not).
NotedFinding = tuple[Finding, str]


def noted_findings(results: Iterable[ConformanceResult]) -> list[NotedFinding]:
    return [
        (finding, result.known.get(i, ""))
        for result in results
        for i, finding in enumerate(result.report.findings)
    ]


def split_findings(
    trace: Trace, findings: Iterable[NotedFinding]
) -> dict[str, list[NotedFinding]]:
    """The findings about spans of this trace, by span id."""
    ids = {span.span_id for span in trace}
    by_span: dict[str, list[NotedFinding]] = {}
    for noted in findings:
        finding = noted[0]
        if finding.trace_id == trace.trace_id and finding.span_id in ids:
            by_span.setdefault(finding.span_id, []).append(noted)
    for group in by_span.values():
        group.sort(key=lambda n: -n[0].level)
    return by_span


def _finding_payload(noted: NotedFinding) -> dict[str, Any]:
    finding, known = noted
    return {
        "id": finding.id,
        "level": finding.level.label,
        "key": finding.key,
        "signal": f"{finding.signal_type} {finding.signal_name}",
        "message": finding.message,
        "known": known,
    }


def split_logs(
    trace: Trace, logs: Iterable[LogRecord]
) -> tuple[dict[str, list[LogRecord]], list[LogRecord]]:
    """The records by span id (spans of this trace), and those with no such span, each in time
    order."""
    ids = {span.span_id for span in trace}
    by_span: dict[str, list[LogRecord]] = {}
    loose: list[LogRecord] = []
    for record in sorted(logs, key=lambda r: r.time):
        if record.span_id and record.span_id in ids:
            by_span.setdefault(record.span_id, []).append(record)
        else:
            loose.append(record)
    return by_span, loose


def trace_payload(
    trace: Trace, logs: Iterable[LogRecord] = (), findings: Iterable[NotedFinding] = ()
) -> dict[str, Any]:
    """What the waterfall script draws: spans in tree order (each with its log records and its
    conformance findings), times in ms from the trace start; records with no span of the trace
    come last."""
    start = trace.start_ns
    by_span, loose = split_logs(trace, logs)
    about = split_findings(trace, findings)
    orphan_ids = {span.span_id for span in trace.lost_parents}
    children = {span.span_id: len(trace.children(span)) for span in trace}
    spans: list[dict[str, Any]] = []
    seen: set[str] = set()
    for depth, span in trace.walk():
        if len(spans) >= MAX_SPANS_PER_TRACE:
            break
        seen.add(span.span_id)
        spans.append(_span_payload(span, depth, start, children, orphan_ids, by_span, about))
    # Spans whose parent chain loops (broken instrumentation) are not reachable from any top;
    # show them at the top level rather than lose them.
    for span in trace:
        if len(spans) >= MAX_SPANS_PER_TRACE:
            break
        if span.span_id not in seen:
            spans.append(
                _span_payload(span, 0, start, {}, orphan_ids | {span.span_id}, by_span, about)
            )
    return {
        "traceId": trace.trace_id,
        "durationMs": _ms(trace.end_ns - start) if len(trace) else 0,
        "spanCount": len(trace),
        "truncated": len(trace) > MAX_SPANS_PER_TRACE,
        "colors": {service: service_color(service) for service in sorted(trace.services)},
        "spans": spans,
        "looseLogs": [_log_payload(r, start) for r in loose],
    }


def _span_payload(
    span: Span,
    depth: int,
    trace_start: int,
    children: dict[str, int],
    orphan_ids: set[str],
    logs: dict[str, list[LogRecord]],
    findings: dict[str, list[NotedFinding]],
) -> dict[str, Any]:
    return {
        "spanId": span.span_id,
        "parentId": span.parent_span_id,
        "depth": depth,
        "children": children.get(span.span_id, 0),
        "service": span.service,
        "name": span.name,
        "kind": span.kind.label,
        "startMs": _ms(span.start_ns - trace_start),
        "durMs": _ms(span.duration_ns),
        "status": span.status.code.name.lower(),
        "statusMessage": span.status.message,
        "error": span.status.is_error,
        "orphan": span.span_id in orphan_ids,
        "scope": " ".join(p for p in (span.scope.name, span.scope.version) if p),
        "attributes": _pairs(span.attributes),
        "resource": _pairs(span.resource),
        "events": [
            {
                "name": e.name,
                "atMs": _ms(e.time_ns - trace_start),
                "attributes": _pairs(e.attributes),
            }
            for e in span.events
        ],
        "links": [
            {
                "traceId": link.trace_id,
                "spanId": link.span_id,
                "attributes": _pairs(link.attributes),
            }
            for link in span.links
        ],
        "logs": [_log_payload(r, trace_start) for r in logs.get(span.span_id, ())],
        "findings": [_finding_payload(n) for n in findings.get(span.span_id, ())],
    }


def _page(title: str, body: str, *, data: dict[str, Any] | None = None) -> str:
    script = ""
    if data is not None:
        script = (
            f'<script type="application/json" id="tracebed-data">{_script_json(data)}</script>\n'
            f"<script>{_asset('waterfall.js')}</script>\n"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_asset('report.css')}</style>\n</head>\n"
        f"<body>\n{body}\n{script}</body>\n</html>\n"
    )


def _duration(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.2f} s"
    return f"{seconds * 1000:.1f} ms"


def _legend(trace: Trace) -> str:
    chips = "".join(
        f'<span class="legend-item"><span class="chip" style="background:{service_color(s)}">'
        f"</span>{escape(s or '(no service.name)')}</span>"
        for s in sorted(trace.services)
    )
    return f'<div class="legend">{chips}</div>'


def _trace_ref(trace_id: str, page_ids: Collection[str]) -> str:
    code = f"<code>{escape(trace_id)}</code>"
    return f'<a href="#trace-{escape(trace_id)}">{code}</a>' if trace_id in page_ids else code


def _link_facts(trace: Trace, page_ids: Collection[str]) -> list[str]:
    """Span links across traces (async consumers often start a trace of their own)."""
    out_ids = dict.fromkeys(t for _, t, _ in trace.links_out() if t != trace.trace_id)
    in_ids = dict.fromkeys(s.trace_id for s in trace.linked_spans())
    facts = []
    if out_ids:
        facts.append("links to " + ", ".join(_trace_ref(t, page_ids) for t in out_ids))
    if in_ids:
        facts.append("linked from " + ", ".join(_trace_ref(t, page_ids) for t in in_ids))
    return facts


def _attrs_text(record: LogRecord) -> str:
    return " ".join(f"{k}={v}" for k, v in _pairs(record.attributes))


def render_log_table(trace: Trace, logs: Sequence[LogRecord]) -> str:
    """The trace's log records as a table (the no-script view, and for copying): under their
    span in tree order, those with no span of the trace at the end."""
    if not logs:
        return ""
    by_span, loose = split_logs(trace, logs)
    start = trace.start_ns
    rows = []
    groups = [(span, by_span[span.span_id]) for _, span in trace.walk() if span.span_id in by_span]
    seen = {span.span_id for span, _ in groups}
    groups += [
        (s, by_span[s.span_id]) for s in trace if s.span_id in by_span and s.span_id not in seen
    ]
    labelled: list[tuple[str, list[LogRecord]]] = [
        (f"{span.service or '?'}: {span.name}", records) for span, records in groups
    ]
    if loose:
        labelled.append(("(no span of this trace)", loose))
    for label, records in labelled:
        for record in records:
            at = f"+{_ms(record.time - start):g} ms" if record.time and start else "-"
            severity = severity_label(record)
            cls = ' class="error"' if record.level >= SEVERITIES["ERROR"] else ""
            body = display_value(record.body) if record.body is not None else ""
            rows.append(
                f'<tr{cls}><td>{escape(label)}</td><td class="num">{escape(at)}</td>'
                f"<td>{escape(record.service)}</td><td>{escape(severity)}</td>"
                f"<td>{escape(body)}</td><td><code>{escape(_attrs_text(record))}</code></td></tr>"
            )
    return (
        f'<details class="logs"><summary>log records ({len(logs)})</summary>'
        '<table class="tests logs"><thead><tr><th>span</th><th>at</th><th>service</th>'
        "<th>severity</th><th>body</th><th>attributes</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></details>\n"
    )


def _finding_row(noted: NotedFinding) -> str:
    finding, known = noted
    level = finding.level.label
    note = f'<span class="known">known: {escape(known)}</span>' if known else ""
    return (
        f'<li class="finding {level}{" known" if known else ""}" data-finding-id="'
        f'{escape(finding.id)}"><span class="level">{level}</span> <code>{escape(finding.id)}'
        f"</code> <code>{escape(finding.key)}</code> {escape(finding.message)} "
        f"{note}</li>"
    )


def render_span_findings(trace: Trace, findings: Sequence[NotedFinding]) -> str:
    """The trace's conformance findings, each in the block of the span it is about, in tree
    order (the no-script view, and for copying)."""
    by_span = split_findings(trace, findings)
    if not by_span:
        return ""
    blocks = []
    ordered = [span for _, span in trace.walk()]
    ordered += [s for s in trace if s not in ordered]
    for span in ordered:
        group = by_span.get(span.span_id)
        if not group:
            continue
        blocks.append(
            f'<div class="span-findings" data-span-id="{escape(span.span_id)}">'
            f'<h4><a href="#span-{escape(span.span_id)}">{escape(span.service or "?")}: '
            f"{escape(span.name)}</a> <small>span {escape(span.span_id)}</small></h4>"
            f"<ul>{''.join(_finding_row(n) for n in group)}</ul></div>"
        )
    count = sum(len(g) for g in by_span.values())
    return (
        f'<details class="findings"><summary>conformance findings under their spans ({count})'
        f"</summary>{''.join(blocks)}</details>\n"
    )


def render_conformance_summary(
    results: Sequence[ConformanceResult], placed: Collection[tuple[str, str]] = ()
) -> str:
    """Per test: each report's counts and coverage, its findings by id (how many are known),
    and the findings about no span on the page (`placed`: (trace id, span id) shown there)."""
    if not results:
        return ""
    parts = []
    for result in results:
        report = result.report
        by_id: dict[tuple[int, str], list[int]] = {}
        for i, finding in enumerate(report.findings):
            by_id.setdefault((-finding.level, finding.id), []).append(i)
        rows = "".join(
            f"<tr><td>{Level(-level).label}</td><td><code>{escape(finding_id)}</code></td>"
            f'<td class="num">{len(found)}</td>'
            f'<td class="num">{sum(1 for i in found if i in result.known)}</td></tr>'
            for (level, finding_id), found in sorted(by_id.items())
        )
        table = (
            '<table class="tests conformance"><thead><tr><th>level</th><th>finding</th>'
            "<th>count</th><th>known</th></tr></thead><tbody>" + rows + "</tbody></table>"
            if rows
            else ""
        )
        elsewhere = [
            (finding, result.known.get(i, ""))
            for i, finding in enumerate(report.findings)
            if (finding.trace_id, finding.span_id) not in placed
        ]
        loose = ""
        if elsewhere:
            items = "".join(
                f"<li>{escape(f.service or '?')}: {escape(f.signal_type)} "
                f"<code>{escape(f.signal_name)}</code><ul>{_finding_row((f, known))}</ul></li>"
                for f, known in elsewhere
            )
            loose = (
                f'<details class="findings loose"><summary>findings about no span on this page '
                f"({len(elsewhere)})</summary><ul>{items}</ul></details>"
            )
        shortfall = (
            f'<p class="errors">{escape(report.coverage_shortfall)}</p>'
            if report.coverage_shortfall
            else ""
        )
        parts.append(
            f'<p class="facts">{escape(report.summary())} · registry '
            f"<code>{escape(report.registry)}</code></p>{shortfall}{table}{loose}"
        )
    return (
        '<section class="conformance"><h2>registry conformance</h2>' + "".join(parts) + "</section>"
    )


def render_trace_section(
    trace: Trace,
    *,
    json_href: str | None = None,
    heading: str = "",
    page_ids: Collection[str] = (),
    logs: Sequence[LogRecord] = (),
    logs_href: str | None = None,
    findings: Sequence[NotedFinding] = (),
) -> str:
    """One trace: summary line, waterfall host (filled by the script, log records and
    conformance findings under their span), the log table, the findings by span, service map,
    text tree."""
    tid = escape(trace.trace_id)
    errors = len(trace.errors)
    facts = [
        f"{len(trace)} spans",
        f"{len(trace.services)} services",
        f"{_duration(trace.duration)}",
        f'<span class="errors">{errors} error{"s" if errors != 1 else ""}</span>'
        if errors
        else "no errors",
    ]
    if trace.lost_parents:
        facts.append(f"{len(trace.lost_parents)} orphan spans (parent not received)")
    facts += _link_facts(trace, page_ids)
    if logs:
        facts.append(f"{len(logs)} log record{'s' if len(logs) != 1 else ''}")
    if json_href:
        facts.append(f'<a href="{escape(json_href)}" class="json-link">OTLP/JSON</a>')
    if logs_href:
        facts.append(f'<a href="{escape(logs_href)}" class="json-link">logs OTLP/JSON</a>')
    title = escape(heading) + " " if heading else ""
    return (
        f'<section class="trace" id="trace-{tid}">\n'
        f"<h2>{title}trace <code>{tid}</code></h2>\n"
        f'<p class="facts">{" · ".join(facts)}</p>\n'
        f"{_legend(trace)}\n"
        f'<div class="waterfall" data-trace-id="{tid}" data-span-count="{len(trace)}">'
        '<p class="noscript">the waterfall needs JavaScript; the text tree is below</p></div>\n'
        f"{render_log_table(trace, logs)}"
        f"{render_span_findings(trace, findings)}"
        f'<h3>service map</h3>\n<div class="map-host">{render_service_map(trace)}</div>\n'
        f'<details class="tree"><summary>text tree</summary><pre>{escape(trace.render())}</pre>'
        "</details>\n</section>"
    )


def render_trace_page(traces: Sequence[Trace], *, title: str = "tracebed trace") -> str:
    """A page with just traces (for files read back by the CLI)."""
    ids = {t.trace_id for t in traces}
    sections = "\n".join(render_trace_section(t, page_ids=ids) for t in traces)
    body = f"<header><h1>{escape(title)}</h1></header>\n<main>\n{sections}\n</main>"
    return _page(title, body, data={"traces": [trace_payload(t) for t in traces]})


def render_test_page(
    *,
    nodeid: str,
    outcome: str,
    duration_s: float,
    traces: Sequence[Trace],
    json_hrefs: Sequence[str | None] = (),
    missing_trace_ids: Iterable[str] = (),
    longrepr: str = "",
    index_href: str = "../index.html",
    logs: Mapping[str, Sequence[LogRecord]] | None = None,
    logs_hrefs: Mapping[str, str] | None = None,
    metrics: Sequence[SeriesChange] = (),
    conformance: Sequence[ConformanceResult] = (),
) -> str:
    """The page of one test: outcome, failure text, its conformance summary, the metrics that
    changed during it, and every trace it recorded with its log records (`logs`, `logs_hrefs`:
    by trace id) and conformance findings under their spans."""
    hrefs = list(json_hrefs) + [None] * (len(traces) - len(json_hrefs))
    ids = {t.trace_id for t in traces}
    logs, logs_hrefs = logs or {}, logs_hrefs or {}
    findings = noted_findings(conformance)
    placed = {(t.trace_id, s.span_id) for t in traces for s in t}
    sections = [
        render_trace_section(
            t,
            json_href=h,
            page_ids=ids,
            logs=logs.get(t.trace_id, ()),
            logs_href=logs_hrefs.get(t.trace_id),
            findings=findings,
        )
        for t, h in zip(traces, hrefs, strict=False)
    ]
    for trace_id in missing_trace_ids:
        # Its log records (if any) still arrived: listed, with no span to hang them under.
        records = logs.get(trace_id, ())
        href = logs_hrefs.get(trace_id)
        link = f' · <a href="{escape(href)}" class="json-link">logs OTLP/JSON</a>' if href else ""
        sections.append(
            f'<section class="trace missing" id="trace-{escape(trace_id)}"><h2>trace '
            f"<code>{escape(trace_id)}</code></h2><p>no spans of this trace were received{link}"
            f"</p>{render_log_table(Trace(trace_id, []), records)}</section>"
        )
    if not sections:
        sections.append('<p class="empty">this test recorded no traces</p>')
    failure = ""
    if longrepr:
        failure = (
            '<details class="failure" open><summary>failure</summary>'
            f"<pre>{escape(longrepr)}</pre></details>"
        )
    body = (
        f'<header><a href="{escape(index_href)}" class="back">← all tests</a>\n'
        f'<h1><span class="outcome {escape(outcome)}">{escape(outcome)}</span> '
        f"<code>{escape(nodeid)}</code></h1>\n"
        f'<p class="facts">{_duration(duration_s)} · {len(traces)} trace(s)</p></header>\n'
        f"<main>\n{failure}\n{render_conformance_summary(conformance, placed)}\n"
        f"{render_metric_changes(metrics)}\n" + "\n".join(sections) + "\n</main>"
    )
    payload = [trace_payload(t, logs.get(t.trace_id, ()), findings) for t in traces]
    return _page(nodeid, body, data={"traces": payload})


def _number(value: float | None) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value) or value != int(value) or abs(value) >= 1e15:
        return f"{value:g}"
    return str(int(value))


def render_metric_changes(changes: Sequence[SeriesChange]) -> str:
    """The metric series that moved during a test: increase (counters) and last value."""
    if not changes:
        return ""
    rows = []
    for change in changes:
        mp = change.point
        attrs = " ".join(f"{k}={v}" for k, v in _pairs(mp.attributes))
        unit = f" {mp.unit}" if mp.unit and mp.unit != "1" else ""
        increase = "-" if change.increase is None else "+" + _number(change.increase)
        rows.append(
            f"<tr><td>{escape(mp.service or '?')}</td><td><code>{escape(mp.name)}</code>"
            f"{escape(unit)}</td><td><code>{escape(attrs)}</code></td>"
            f"<td>{escape(mp.metric.instrument or mp.kind)}</td>"
            f'<td class="num">{escape(increase)}</td>'
            f'<td class="num">{escape(_number(change.last))}</td>'
            f'<td class="num">{change.points}</td></tr>'
        )
    return (
        '<section class="metrics"><h2>metrics that changed during the test</h2>'
        '<table class="tests metrics"><thead><tr><th>service</th><th>metric</th>'
        "<th>attributes</th><th>kind</th><th>increase</th><th>last value</th><th>points</th>"
        "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></section>"
    )


@dataclass
class TraceEntry:
    """A trace as the index lists it."""

    trace_id: str
    spans: int = 0
    services: int = 0
    errors: int = 0
    json_href: str = ""


@dataclass
class IndexEntry:
    """One test as the index lists it (also what a worker's manifest carries)."""

    nodeid: str
    outcome: str
    duration_s: float
    page_href: str = ""
    traces: list[TraceEntry] = field(default_factory=list)
    conformance: str = ""  # the test's conformance summary line, when it was checked

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> IndexEntry:
        traces = [TraceEntry(**t) for t in data.get("traces", [])]
        return cls(
            nodeid=str(data["nodeid"]),
            outcome=str(data["outcome"]),
            duration_s=float(data["duration_s"]),
            page_href=str(data.get("page_href", "")),
            traces=traces,
            conformance=str(data.get("conformance", "")),
        )


def render_index(
    entries: Sequence[IndexEntry],
    gantt_rows: Iterable[Any] = (),
    *,
    title: str = "tracebed report",
    generated_at: datetime | None = None,
    demo_version: str | None = None,
) -> str:
    """The index: counts by outcome, a row per test with its traces, and the startup Gantt.

    `demo_version`: the demo release the stack ran, shown in the header.
    """
    generated_at = generated_at or datetime.now(UTC)
    counts = {o: sum(1 for e in entries if e.outcome == o) for o in OUTCOMES}
    summary = (
        " · ".join(f'<span class="outcome {o}">{n} {o}</span>' for o, n in counts.items() if n)
        or "no tests"
    )
    rows = []
    for entry in entries:
        name = escape(entry.nodeid)
        link = f'<a href="{escape(entry.page_href)}">{name}</a>' if entry.page_href else name
        trace_cells = []
        for t in entry.traces:
            target = f"{entry.page_href}#trace-{t.trace_id}" if entry.page_href else ""
            label = f"<code>{escape(t.trace_id)}</code>"
            if target:
                label = f'<a href="{escape(target)}">{label}</a>'
            detail = f"{t.spans} spans, {t.services} services" if t.spans else "no spans received"
            if t.errors:
                detail += f', <span class="errors">{t.errors} errors</span>'
            if t.json_href:
                detail += f' · <a href="{escape(t.json_href)}">json</a>'
            trace_cells.append(f'<div class="trace-ref">{label} <small>{detail}</small></div>')
        conformance = (
            f'<div class="conformance-summary"><small>{escape(entry.conformance)}</small></div>'
            if entry.conformance
            else ""
        )
        rows.append(
            f'<tr class="test {escape(entry.outcome)}" data-nodeid="{name}">'
            f'<td><span class="outcome {escape(entry.outcome)}">{escape(entry.outcome)}</span></td>'
            f"<td>{link}{conformance}</td>"
            f'<td class="num">{_duration(entry.duration_s)}</td>'
            f"<td>{''.join(trace_cells) or '—'}</td></tr>"
        )
    gantt = coerce_rows(gantt_rows)
    startup = ""
    if gantt:
        ready = [r for r in gantt if r.ready_s is not None]
        last = max((r.ready_s or 0.0 for r in ready), default=0.0)
        failed = [r.service for r in gantt if not r.ok]
        note = f"{len(ready)}/{len(gantt)} services ready, last at {last:.2f} s"
        if failed:
            note += f'; <span class="errors">not ready: {escape(", ".join(failed))}</span>'
        startup = (
            f'<section class="startup"><h2>stack startup</h2><p class="facts">{note}</p>'
            f"{render_gantt(gantt)}</section>"
        )
    release = (
        f'<span class="release">demo {escape(demo_version)}</span> · ' if demo_version else ""
    )
    body = (
        f'<header><h1>{escape(title)}</h1>\n<p class="facts">{release}{summary} · '
        f"generated {generated_at.strftime('%Y-%m-%d %H:%M:%S %Z')}</p></header>\n<main>\n"
        '<table class="tests"><thead><tr><th>outcome</th><th>test</th><th>duration</th>'
        "<th>traces</th></tr></thead><tbody>\n" + "\n".join(rows) + "\n</tbody></table>\n"
        f"{startup}\n</main>"
    )
    return _page(title, body)
