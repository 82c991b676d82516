"""Writes a report directory: per-test pages and OTLP/JSON files, worker manifests, the index.

Layout of DIR:
    index.html                      every test, pass/fail, trace ids; the startup Gantt
    tests/<slug>.html               one page per test
    tests/<slug>.<n>.otlp.json      each trace the test recorded, as OTLP/JSON
    tests/<slug>.<n>.logs.otlp.json that trace's log records, as OTLP/JSON (when it has any)
    .manifests/<name>.json          what one process wrote (several with pytest-xdist)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tracebed.model.logs import LogRecord
from tracebed.model.metrics import SeriesChange
from tracebed.model.trace import Trace
from tracebed.otlp.otlp_json import write_otlp_json
from tracebed.otlp.signals_json import write_logs_json
from tracebed.report.gantt import GanttRow, coerce_rows
from tracebed.report.html import (
    ConformanceResult,
    IndexEntry,
    TraceEntry,
    render_index,
    render_test_page,
)

TESTS_DIR = "tests"
MANIFESTS_DIR = ".manifests"
INDEX = "index.html"


@dataclass
class ReportedTest:
    """One test's result as the report needs it (filled by the pytest plugin, or anyone)."""

    nodeid: str
    outcome: str
    duration_s: float
    traces: list[Trace] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)  # ids recorded with or without spans
    longrepr: str = ""
    logs: dict[str, list[LogRecord]] = field(default_factory=dict)  # by trace id
    metrics: list[SeriesChange] = field(default_factory=list)  # series that moved during it
    conformance: list[ConformanceResult] = field(default_factory=list)  # registry checks


def slug(nodeid: str) -> str:
    """A file name for a test id: readable, short, and unique (a hash of the full id)."""
    digest = hashlib.sha1(nodeid.encode("utf-8")).hexdigest()[:8]
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", nodeid).strip("._")[:80]
    return f"{readable}-{digest}" if readable else digest


class ReportWriter:
    def __init__(self, directory: str | Path):
        self.directory = Path(directory)

    def prepare(self) -> None:
        """Create DIR and drop what an earlier run wrote (only the files this writer makes)."""
        tests = self.directory / TESTS_DIR
        manifests = self.directory / MANIFESTS_DIR
        for folder in (tests, manifests):
            folder.mkdir(parents=True, exist_ok=True)
        for path in tests.iterdir():
            if path.is_file() and (path.suffix == ".html" or path.name.endswith(".otlp.json")):
                path.unlink()
        for path in manifests.glob("*.json"):
            path.unlink()

    def write_test(self, result: ReportedTest) -> IndexEntry:
        tests = self.directory / TESTS_DIR
        tests.mkdir(parents=True, exist_ok=True)
        name = slug(result.nodeid)
        entries: list[TraceEntry] = []
        json_hrefs: list[str | None] = []
        logs_hrefs: dict[str, str] = {}
        for n, trace in enumerate(result.traces, 1):
            file_name = f"{name}.{n}.otlp.json"
            write_otlp_json(tests / file_name, trace)
            json_hrefs.append(file_name)
            records = result.logs.get(trace.trace_id)
            if records:
                logs_name = f"{name}.{n}.logs.otlp.json"
                write_logs_json(tests / logs_name, records)
                logs_hrefs[trace.trace_id] = logs_name
            entries.append(
                TraceEntry(
                    trace_id=trace.trace_id,
                    spans=len(trace),
                    services=len(trace.services),
                    errors=len(trace.errors),
                    json_href=f"{TESTS_DIR}/{file_name}",
                )
            )
        with_spans = {t.trace_id for t in result.traces}
        missing = [tid for tid in dict.fromkeys(result.trace_ids) if tid not in with_spans]
        for n, trace_id in enumerate(missing, len(result.traces) + 1):
            records = result.logs.get(trace_id)
            if records:
                logs_name = f"{name}.{n}.logs.otlp.json"
                write_logs_json(tests / logs_name, records)
                logs_hrefs[trace_id] = logs_name
        entries += [TraceEntry(trace_id=tid) for tid in missing]
        page = render_test_page(
            nodeid=result.nodeid,
            outcome=result.outcome,
            duration_s=result.duration_s,
            traces=result.traces,
            json_hrefs=json_hrefs,
            missing_trace_ids=missing,
            longrepr=result.longrepr,
            logs=result.logs,
            logs_hrefs=logs_hrefs,
            metrics=result.metrics,
            conformance=result.conformance,
        )
        (tests / f"{name}.html").write_text(page, encoding="utf-8")
        return IndexEntry(
            nodeid=result.nodeid,
            outcome=result.outcome,
            duration_s=result.duration_s,
            page_href=f"{TESTS_DIR}/{name}.html",
            traces=entries,
            conformance="; ".join(c.summary() for c in result.conformance),
        )

    def write_manifest(
        self, name: str, entries: Sequence[IndexEntry], gantt: Iterable[Any] = ()
    ) -> Path:
        """What this process wrote, for whoever writes the index (the xdist controller)."""
        folder = self.directory / MANIFESTS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{name}.json"
        payload = {
            "tests": [e.as_dict() for e in entries],
            "gantt": [list(row) for row in coerce_rows(gantt)],
        }
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(payload), encoding="utf-8")
        tmp.replace(path)  # atomic: a reader never sees half a manifest
        return path

    def read_manifests(self) -> tuple[list[IndexEntry], list[GanttRow]]:
        """All manifests merged; the Gantt from the manifest that has the most rows."""
        entries: list[IndexEntry] = []
        gantt: list[GanttRow] = []
        for path in sorted((self.directory / MANIFESTS_DIR).glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                entries += [IndexEntry.from_dict(t) for t in data.get("tests", [])]
                rows = coerce_rows(data.get("gantt", []))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"report manifest {path} is unreadable: {exc}") from exc
            if len(rows) > len(gantt):
                gantt = rows
        return entries, gantt

    def write_index(
        self,
        entries: Sequence[IndexEntry],
        gantt: Iterable[Any] = (),
        *,
        title: str = "tracebed report",
        demo_version: str | None = None,
    ) -> Path:
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / INDEX
        page = render_index(entries, gantt, title=title, demo_version=demo_version)
        path.write_text(page, encoding="utf-8")
        return path


def write_report(
    directory: str | Path,
    results: Iterable[ReportedTest],
    gantt: Iterable[Any] = (),
    *,
    title: str = "tracebed report",
) -> Path:
    """Everything in one go (for callers outside pytest); returns the index path."""
    writer = ReportWriter(directory)
    writer.prepare()
    entries = [writer.write_test(result) for result in results]
    return writer.write_index(entries, gantt, title=title)
