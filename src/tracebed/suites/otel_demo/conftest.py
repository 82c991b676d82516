"""The bundled suite's fixtures of its own: the stack's release (named in the report), the
session's quiet window (from the stack's export delay), the flow batch (`batch.py`) and the
side-by-side fault scenarios (`scenarios.py`)."""

from __future__ import annotations

from typing import Any

import pytest

from tracebed.plugin.report import set_demo_version
from tracebed.suites.otel_demo.batch import BatchContext, FlowBatch, drivers_from_env
from tracebed.suites.otel_demo.release import demo_version
from tracebed.suites.otel_demo.scenarios import ScenarioBatch, mark_items
from tracebed.suites.otel_demo.waiting import export_delay_of, use_export_delay


@pytest.fixture(autouse=True)
def _tracebed_report_release(request: pytest.FixtureRequest, demo_stack: Any) -> None:
    """Tell the report which demo release the stack runs (its index page's header)."""
    set_demo_version(request.config, demo_version(demo_stack))


@pytest.fixture(scope="session", autouse=True)
def _tracebed_quiet_window(demo_stack: Any) -> None:
    """Every wait's quiet window is at least the stack's export delay (waiting.py)."""
    use_export_delay(export_delay_of(demo_stack))


@pytest.fixture(scope="session")
def flow_batch(
    request: pytest.FixtureRequest,
    tracebed_harness: Any,
    demo_stack: Any,
    span_sink: Any,
    _tracebed_quiet_window: None,
) -> FlowBatch:
    """The session's flag-free flows, driven concurrently at the first test that takes one."""
    ctx = BatchContext(demo_stack, span_sink, request.config)
    return FlowBatch(tracebed_harness, ctx, request.session, drivers_from_env())


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    mark_items(items)  # before any setup: their flags markers are switched by the batch


@pytest.fixture(scope="session")
def scenario_batch(
    request: pytest.FixtureRequest,
    tracebed_harness: Any,
    demo_stack: Any,
    span_sink: Any,
    _tracebed_quiet_window: None,
) -> ScenarioBatch:
    """The session's fault scenarios, side by side where their flags allow (scenarios.py)."""
    fixtures = {"tracebed_harness": tracebed_harness, "demo_stack": demo_stack,
                "span_sink": span_sink}
    return ScenarioBatch(fixtures, request.session, drivers_from_env())
