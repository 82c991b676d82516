"""pytest plugin module (report): trace ids in JUnit XML, and `--tracebed-report DIR`.

Conventions other plugin parts (and tests) use:
- `attach_trace(request_or_item, trace)` records a trace on the running test: its id goes into
  `item.user_properties` as `("tracebed.trace_id", id)` (so JUnit XML carries it as a
  property) and the `Trace` object into `item.stash[TRACES_KEY]` (so the report can draw it).
- `attach_trace_id(request_or_item, trace_id)` records just the id; at the end of the session
  the report fetches the trace from `config.stash[TRACE_SOURCE_KEY]` (anything with
  `get_trace(trace_id) -> Trace | None`, e.g. the sink's `SpanStore`).
- When that source also keeps logs and metrics (the `SpanStore`: `logs`, `mark`,
  `metric_changes`), each trace's log records go on the page and beside the traces, and the
  page lists the metric series that changed between the test's setup and its teardown.
- `attach_conformance(request_or_item, report, known)` records a registry-conformance report
  on the running test (the `conformance` fixture and the bundled suite's check do): the page
  shows each finding under the span it is about, and a summary (`known`: finding index ->
  why it is expected, e.g. a non-conformance of the demo itself).
- `config.stash[TIMELINE_KEY]` holds the stack's startup as Gantt rows
  `(service, tier, start_s, ready_s | None, status)` (or a callable returning them).

With pytest-xdist every worker writes the pages of the tests it ran and a manifest; the
controller (or the single process without xdist) writes `index.html` from all manifests.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tracebed.model.logs import LogRecord
from tracebed.model.metrics import SeriesChange
from tracebed.model.source import TraceSource
from tracebed.model.trace import Trace
from tracebed.query.conformance import Report as ConformanceReport
from tracebed.report.gantt import GanttRow, coerce_rows
from tracebed.report.html import ConformanceResult, IndexEntry
from tracebed.report.writer import ReportedTest, ReportWriter

TRACE_ID_PROPERTY = "tracebed.trace_id"
MAX_LINKED_TRACES = 10
MAX_FAILED_LISTED = 10


TimelineRows = Iterable[Any] | Callable[[], Iterable[Any]]

TRACES_KEY = pytest.StashKey[list[Trace]]()
CONFORMANCE_KEY = pytest.StashKey[list[ConformanceResult]]()
TIMELINE_KEY = pytest.StashKey[TimelineRows]()
TRACE_SOURCE_KEY = pytest.StashKey[TraceSource]()
#: The demo release the stack under test runs, for the index page's header.
DEMO_VERSION_KEY = pytest.StashKey[str]()
_PHASES_KEY = pytest.StashKey[list[pytest.TestReport]]()
_MARK_KEY = pytest.StashKey[Any]()  # the source's `mark()` when the test started
_PLUGIN_NAME = "tracebed-report-writer"


# -- API for fixtures and tests -----------------------------------------------------------


def _item(item_or_request: Any) -> pytest.Item:
    if isinstance(item_or_request, pytest.Item):
        return item_or_request
    node = getattr(item_or_request, "node", None)
    if isinstance(node, pytest.Item):
        return node
    raise TypeError(
        "attach_trace needs the test item or a function-scoped `request` "
        f"(got {type(item_or_request).__name__}"
        + (f" whose node is a {type(node).__name__}" if node is not None else "")
        + ")"
    )


def attach_trace_id(item_or_request: Any, trace_id: str) -> None:
    """Record a trace id on the running test (JUnit property; fetched for the report later)."""
    trace_id = trace_id.lower()
    if len(trace_id) != 32 or any(c not in "0123456789abcdef" for c in trace_id):
        raise ValueError(f"trace id must be 32 hex characters, got {trace_id!r}")
    item = _item(item_or_request)
    prop = (TRACE_ID_PROPERTY, trace_id)
    if prop not in item.user_properties:
        item.user_properties.append(prop)


def attach_trace(item_or_request: Any, trace: Trace) -> None:
    """Record a trace on the running test. Attaching the same trace id again keeps the later
    snapshot (it has at least the spans the earlier one had)."""
    attach_trace_id(item_or_request, trace.trace_id)
    traces = _item(item_or_request).stash.setdefault(TRACES_KEY, [])
    for i, known in enumerate(traces):
        if known.trace_id == trace.trace_id:
            traces[i] = trace
            return
    traces.append(trace)


def attach_conformance(
    item_or_request: Any, report: ConformanceReport, known: Mapping[int, str] | None = None
) -> None:
    """Record a conformance report on the running test, for its page (`known`: index into
    `report.findings` -> why that finding is expected)."""
    results = _item(item_or_request).stash.setdefault(CONFORMANCE_KEY, [])
    results.append(ConformanceResult(report, dict(known or {})))


def set_timeline(config: pytest.Config, rows: TimelineRows) -> None:
    config.stash[TIMELINE_KEY] = rows


def set_trace_source(config: pytest.Config, source: TraceSource) -> None:
    config.stash[TRACE_SOURCE_KEY] = source


def set_demo_version(config: pytest.Config, version: str) -> None:
    config.stash[DEMO_VERSION_KEY] = version


def trace_ids_of(item: pytest.Item) -> list[str]:
    return [str(value) for name, value in item.user_properties if name == TRACE_ID_PROPERTY]


# -- hooks --------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracebed")
    group.addoption(
        "--tracebed-report",
        dest="tracebed_report",
        metavar="DIR",
        default=None,
        help="write an HTML report (per-test waterfall + service map, startup Gantt, index) "
        "and each test's traces as OTLP/JSON into DIR",
    )
    parser.addini(
        "tracebed_report",
        "directory for the tracebed HTML report (relative to the ini file); "
        "--tracebed-report overrides it",
        default="",
    )


def report_dir(config: pytest.Config) -> Path | None:
    """Where the report goes: the option (relative to the invocation dir), else the ini value
    (relative to the ini file), else nowhere."""
    option = config.getoption("tracebed_report", default=None)
    if option:
        return (config.invocation_params.dir / str(option)).resolve()
    value = str(config.getini("tracebed_report") or "").strip()
    if value:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / value).resolve()
    return None


def pytest_configure(config: pytest.Config) -> None:
    directory = report_dir(config)
    if directory is None:
        return
    if directory.exists() and not directory.is_dir():
        raise pytest.UsageError(f"--tracebed-report: {directory} exists and is not a directory")
    is_worker = hasattr(config, "workerinput")
    if not is_worker:
        try:
            ReportWriter(directory).prepare()
        except OSError as exc:
            raise pytest.UsageError(f"--tracebed-report: cannot use {directory}: {exc}") from None
    config.pluginmanager.register(ReportPlugin(config, directory, is_worker), _PLUGIN_NAME)


def _outcome(reports: list[pytest.TestReport]) -> str:
    by_phase = {r.when: r for r in reports}
    setup, call, teardown = by_phase.get("setup"), by_phase.get("call"), by_phase.get("teardown")
    if setup is not None and setup.failed:
        return "error"
    if setup is not None and setup.skipped:
        return "xfailed" if hasattr(setup, "wasxfail") else "skipped"
    outcome = "passed"
    if call is not None:
        xfail = hasattr(call, "wasxfail")
        if call.failed:
            outcome = "failed"
        elif call.skipped:
            outcome = "xfailed" if xfail else "skipped"
        elif xfail:
            outcome = "xpassed"
    if teardown is not None and teardown.failed and outcome in ("passed", "xpassed"):
        outcome = "error"
    return outcome


class ReportPlugin:
    """Collects each test's outcome and traces; writes the report at the end of the session."""

    def __init__(self, config: pytest.Config, directory: Path, is_worker: bool):
        self.config = config
        self.writer = ReportWriter(directory)
        self.is_worker = is_worker
        self.results: list[ReportedTest] = []
        self.index_path: Path | None = None
        self.problems: list[str] = []
        self.failed_pages: list[tuple[str, Path]] = []

    def _source(self) -> TraceSource | None:
        return self.config.stash.get(TRACE_SOURCE_KEY, None)

    def _mark(self, item: pytest.Item) -> None:
        mark = getattr(self._source(), "mark", None)
        if callable(mark) and _MARK_KEY not in item.stash:
            item.stash[_MARK_KEY] = mark()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> Any:
        # Before the fixtures when the source exists; else once they made it (a session
        # fixture usually starts the sink during the first test's setup).
        self._mark(item)
        try:
            return (yield)
        finally:
            self._mark(item)

    def _metric_changes(self, item: pytest.Item) -> list[SeriesChange]:
        changes = getattr(self._source(), "metric_changes", None)
        mark = item.stash.get(_MARK_KEY, None)
        if not callable(changes) or mark is None:
            return []
        try:
            found: list[SeriesChange] = changes(since=mark)
        except (OSError, ValueError, RuntimeError) as exc:
            self.problems.append(f"{item.nodeid}: could not read its metrics: {exc}")
            return []
        return found

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
        report: pytest.TestReport = yield
        phases = item.stash.setdefault(_PHASES_KEY, [])
        phases.append(report)
        if report.when == "teardown":
            attached: list[Trace] = item.stash.get(TRACES_KEY, [])
            longrepr = "\n\n".join(
                f"[{r.when}] {r.longreprtext}" if r.when != "call" else r.longreprtext
                for r in phases
                if r.failed and r.longreprtext
            )
            # Sections other tracebed parts add to failures (e.g. the flows a test drove).
            extra = [
                f"----- {title} -----\n{content}"
                for r in phases
                if r.failed
                for title, content in r.sections
                if title.startswith("tracebed")
            ]
            longrepr = "\n\n".join([longrepr, *extra]) if longrepr else "\n\n".join(extra)
            if not longrepr:
                longrepr = "\n".join(r.longreprtext for r in phases if r.skipped and r.longreprtext)
            self.results.append(
                ReportedTest(
                    nodeid=item.nodeid,
                    outcome=_outcome(phases),
                    duration_s=sum(r.duration for r in phases),
                    traces=list(attached),
                    trace_ids=trace_ids_of(item),
                    longrepr=longrepr,
                    metrics=self._metric_changes(item),
                    conformance=item.stash.get(CONFORMANCE_KEY, []).copy(),
                )
            )
        return report

    def _refresh(self, result: ReportedTest, source: TraceSource | None) -> None:
        """Take the latest snapshot of each trace: spans of async consumers may have arrived
        after the test moved on."""
        if source is None:
            return
        have = {t.trace_id: t for t in result.traces}
        for trace_id in dict.fromkeys(result.trace_ids):
            fresh = source.get_trace(trace_id)
            if fresh is None or not len(fresh):
                continue
            old = have.get(trace_id)
            if old is None:
                result.traces.append(fresh)
            elif len(fresh) > len(old):
                result.traces[result.traces.index(old)] = fresh
            have[trace_id] = fresh
        # Traces that link into the test's traces (e.g. a Kafka consumer that started its own
        # trace) belong on the same page; a few are enough to show the hop.
        for trace in list(result.traces):
            for linked in trace.linked_spans()[:MAX_LINKED_TRACES]:
                if linked.trace_id not in have:
                    other = source.get_trace(linked.trace_id)
                    if other is not None and len(other):
                        result.traces.append(other)
                        have[other.trace_id] = other
        logs = getattr(source, "logs", None)
        if callable(logs):
            ids = [t.trace_id for t in result.traces] + result.trace_ids
            for trace_id in dict.fromkeys(ids):
                records: list[LogRecord] = logs(trace_id=trace_id)
                if records:
                    result.logs[trace_id] = records

    def _timeline(self) -> list[GanttRow]:
        rows = self.config.stash.get(TIMELINE_KEY, ())
        if callable(rows):
            rows = rows()
        return coerce_rows(rows)

    def _demo_version(self) -> str | None:
        # Set by whoever knows the stack (the bundled suite; the core once it reads the
        # stack's metadata). Under xdist only workers know it: the env var is the fallback.
        return self.config.stash.get(DEMO_VERSION_KEY, None) or os.environ.get(
            "TRACEBED_DEMO_VERSION"
        )

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A report that cannot be written must not hide the test results: say why, go on.
        source = self._source()
        entries = []
        for result in self.results:
            try:
                self._refresh(result, source)
            except (OSError, ValueError, RuntimeError) as exc:
                self.problems.append(f"{result.nodeid}: could not fetch its traces: {exc}")
            try:
                entries.append(self.writer.write_test(result))
            except (OSError, ValueError, TypeError) as exc:
                self.problems.append(f"{result.nodeid}: page not written: {exc}")
                entries.append(IndexEntry(result.nodeid, result.outcome, result.duration_s))
        try:
            timeline = self._timeline()
        except (ValueError, TypeError) as exc:
            self.problems.append(f"startup timeline not drawn: {exc}")
            timeline = []
        name = self.config.workerinput["workerid"] if self.is_worker else "main"  # type: ignore[attr-defined]
        try:
            self.writer.write_manifest(name, entries, timeline)
            if not self.is_worker:
                all_entries, gantt = self.writer.read_manifests()
                all_entries.sort(key=lambda entry: entry.nodeid)
                self.index_path = self.writer.write_index(
                    all_entries, gantt, demo_version=self._demo_version()
                )
                self.failed_pages = [
                    (e.nodeid, self.writer.directory / e.page_href)
                    for e in all_entries
                    if e.outcome in ("failed", "error") and e.page_href
                ]
        except (OSError, ValueError) as exc:
            self.problems.append(f"index not written: {exc}")

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        for problem in self.problems:
            terminalreporter.write_line(f"tracebed report: {problem}", red=True)
        if self.index_path is not None:
            terminalreporter.write_sep("-", f"tracebed report: {self.index_path}")
            # The page of each failure, so a CI log leads straight to its waterfall.
            for nodeid, page in self.failed_pages[:MAX_FAILED_LISTED]:
                terminalreporter.write_line(f"  {nodeid}: {page}")
            if len(self.failed_pages) > MAX_FAILED_LISTED:
                more = len(self.failed_pages) - MAX_FAILED_LISTED
                terminalreporter.write_line(f"  … and {more} more failures (see the index)")
