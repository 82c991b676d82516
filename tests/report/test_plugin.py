"""The report plugin in real pytest runs (a child `python -m pytest` with the installed plugins)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tracebed.otlp.otlp_json import read_otlp_json
from tracebed.report.writer import slug

REPO = Path(__file__).resolve().parents[2]

# The inner suite: builds traces with the same factory the unit tests use, attaches them the
# way the shop fixture will, and fails one test so the report has both outcomes.
INNER = """
import pytest
from tests.report.factory import checkout_trace
from tracebed.model import Link, Span, SpanStore
from tracebed.plugin.report import (
    TRACES_KEY, attach_trace, attach_trace_id, set_timeline, set_trace_source,
)

LATE_ID = "5" * 32


@pytest.fixture(scope="session", autouse=True)
def stack(pytestconfig):
    store = SpanStore()
    set_trace_source(pytestconfig, store)
    set_timeline(pytestconfig, [("kafka", 0, 0.0, 2.5, "ready"), ("cart", 1, 2.5, 3.1, "ready")])
    yield store
    # spans that arrive after the test that recorded the id (async consumers) still make it
    late = checkout_trace(trace_id=LATE_ID)
    store.add_spans(late)
    # ... and a consumer that started its own trace with a link back (found via the link)
    store.add_spans([
        Span("6" * 32, "7" * 16, "orders process", resource={"service.name": "accounting"},
             links=(Link(LATE_ID, late.spans[0].span_id),))
    ])


def test_checkout(request):
    trace = checkout_trace(trace_id="1" * 32)
    attach_trace(request, trace)
    attach_trace(request, trace)  # the same trace twice is recorded once
    assert request.node.stash[TRACES_KEY] == [trace]


def test_payment_failure(request):
    trace = checkout_trace(trace_id="2" * 32, payment_error=True)
    attach_trace(request.node, trace)
    assert not trace.errors, "payment failed"


def test_only_an_id(request):
    attach_trace_id(request, LATE_ID.upper())


def test_no_trace():
    pass


def test_bad_id(request):
    with pytest.raises(ValueError, match="32 hex characters"):
        attach_trace_id(request, "xyz")
"""


# Stands in for the core plugin, which adds the flows a failed test drove as a report section.
INNER_CONFTEST = """
import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.failed:
        report.sections.append(("tracebed: flows this test drove", "POST /api/checkout -> 500"))
    return report
"""


def run_pytest(
    tmp_path: Path,
    *args: str,
    source: str = INNER,
    all_plugins: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run pytest in `tmp_path`. Only the report plugin is loaded unless `all_plugins` (the
    other tracebed plugins import the whole harness, a second of start-up per process)."""
    (tmp_path / "test_inner.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (tmp_path / "conftest.py").write_text(INNER_CONFTEST, encoding="utf-8")
    # This tree's sources first (not whatever tree the venv's editable install points at).
    path = os.pathsep.join([str(REPO), str(REPO / "src")])
    env = dict(os.environ, PYTHONPATH=path, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTEST_ADDOPTS", None)
    isolate = () if all_plugins else ("-p", "no:tracebed", "-p", "no:tracebed_tracetest")
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *isolate, *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def junit_properties(path: Path) -> dict[str, list[str]]:
    props: dict[str, list[str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        props[case.get("name", "")] = [
            p.get("value", "")
            for p in case.iter("property")
            if p.get("name") == "tracebed.trace_id"
        ]
    return props


def test_report_pages_index_and_junit_properties(tmp_path: Path) -> None:
    result = run_pytest(
        tmp_path, "--tracebed-report", "report", "--junitxml", "junit.xml", all_plugins=True
    )
    assert result.returncode == 1, result.stdout + result.stderr  # one test fails on purpose
    assert "1 failed, 4 passed" in result.stdout, result.stdout
    report = tmp_path / "report"
    assert f"tracebed report: {report / 'index.html'}" in result.stdout
    failing_page = report / "tests" / f"{slug('test_inner.py::test_payment_failure')}.html"
    assert f"  test_inner.py::test_payment_failure: {failing_page}" in result.stdout

    index = (report / "index.html").read_text(encoding="utf-8")
    for name in ("test_checkout", "test_payment_failure", "test_only_an_id", "test_no_trace"):
        page = report / "tests" / f"{slug(f'test_inner.py::{name}')}.html"
        assert page.exists(), f"no page for {name}"
        assert f'href="tests/{page.name}"' in index
    assert '<span class="outcome passed">4 passed</span>' in index
    assert '<span class="outcome failed">1 failed</span>' in index
    assert 'data-service="kafka"' in index  # the startup Gantt from the timeline rows

    failing = (report / "tests" / f"{slug('test_inner.py::test_payment_failure')}.html").read_text()
    assert '<span class="outcome failed">failed</span>' in failing
    assert "AssertionError: payment failed" in failing  # the failure text is on the page
    assert (
        "tracebed: flows this test drove" in failing and "POST /api/checkout -&gt; 500" in failing
    )
    spans = read_otlp_json(
        report / "tests" / f"{slug('test_inner.py::test_payment_failure')}.1.otlp.json"
    )
    assert {s.trace_id for s in spans} == {"2" * 32} and any(s.status.is_error for s in spans)

    # a test that only recorded an id gets the trace from the trace source at session end
    late = read_otlp_json(
        report / "tests" / f"{slug('test_inner.py::test_only_an_id')}.1.otlp.json"
    )
    assert {s.trace_id for s in late} == {"5" * 32} and len(late) == 21
    linked = read_otlp_json(
        report / "tests" / f"{slug('test_inner.py::test_only_an_id')}.2.otlp.json"
    )
    assert [(s.trace_id, s.name) for s in linked] == [("6" * 32, "orders process")]
    only_id_page = (report / "tests" / f"{slug('test_inner.py::test_only_an_id')}.html").read_text()
    assert f'linked from <a href="#trace-{"6" * 32}">' in only_id_page

    props = junit_properties(tmp_path / "junit.xml")
    assert props["test_checkout"] == ["1" * 32]
    assert props["test_payment_failure"] == ["2" * 32]
    assert props["test_only_an_id"] == ["5" * 32]
    assert props["test_no_trace"] == []


def test_junit_properties_without_a_report(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--junitxml", "junit.xml", "-k", "checkout")
    assert result.returncode == 0, result.stdout + result.stderr
    assert junit_properties(tmp_path / "junit.xml") == {"test_checkout": ["1" * 32]}
    assert "tracebed report" not in result.stdout


def test_ini_setting_and_rerun_replaces_stale_pages(tmp_path: Path) -> None:
    (tmp_path / "pytest.ini").write_text("[pytest]\ntracebed_report = out/rep\n", encoding="utf-8")
    stale = tmp_path / "out" / "rep" / "tests" / "gone.html"
    stale.parent.mkdir(parents=True)
    stale.write_text("from an earlier run")
    result = run_pytest(tmp_path, "-k", "no_trace")
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "out" / "rep" / "index.html").exists()
    assert not stale.exists()
    pages = sorted(p.name for p in (tmp_path / "out" / "rep" / "tests").glob("*.html"))
    assert pages == [f"{slug('test_inner.py::test_no_trace')}.html"]


def test_report_path_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("")
    result = run_pytest(tmp_path, "--tracebed-report", "taken")
    assert result.returncode == 4  # pytest's usage-error exit code
    assert "exists and is not a directory" in result.stderr


def test_xdist_workers_write_pages_and_the_controller_the_index(tmp_path: Path) -> None:
    pytest.importorskip("xdist", reason="pytest-xdist (a dev dependency) is not installed")
    result = run_pytest(tmp_path, "-n", "2", "--tracebed-report", "report")
    assert result.returncode == 1, result.stdout + result.stderr
    report = tmp_path / "report"
    manifests = sorted(p.name for p in (report / ".manifests").glob("*.json"))
    assert "main.json" in manifests and any(name.startswith("gw") for name in manifests)
    tests = [
        t["nodeid"]
        for m in (report / ".manifests").glob("gw*.json")
        for t in json.loads(m.read_text())["tests"]
    ]
    assert sorted(tests) == sorted(
        f"test_inner.py::{n}"
        for n in (
            "test_checkout",
            "test_payment_failure",
            "test_only_an_id",
            "test_no_trace",
            "test_bad_id",
        )
    )
    index = (report / "index.html").read_text(encoding="utf-8")
    assert index.count('<tr class="test ') == 5
    assert '<span class="outcome failed">1 failed</span>' in index
    assert "1" * 32 in index and "2" * 32 in index
    assert 'data-service="kafka"' in index  # the Gantt came over from a worker


UNWRITABLE = """
from tracebed.model import Span, Trace
from tracebed.plugin.report import attach_trace


def test_odd_attribute(request):
    span = Span("3" * 32, "4" * 16, "odd", attributes={"when": object()})
    attach_trace(request, Trace(span.trace_id, [span]))
"""


def test_a_page_that_cannot_be_written_does_not_hide_results(tmp_path: Path) -> None:
    result = run_pytest(tmp_path, "--tracebed-report", "report", source=UNWRITABLE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_odd_attribute: page not written: cannot write object value" in result.stdout
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "test_inner.py::test_odd_attribute" in index and "1 passed" in index
