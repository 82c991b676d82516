"""Startup: every service ready, after its dependencies, tier by tier."""

from __future__ import annotations

import pytest

from tracebed.harness import DemoStack


@pytest.fixture
def started(demo_stack: DemoStack) -> DemoStack:
    if demo_stack.stack is None:
        pytest.skip(
            "external stack given without compose files: no topology to check startup against"
        )
    return demo_stack


def test_every_service_became_ready(started: DemoStack) -> None:
    timeline = started.timeline
    not_ready = [s for s in started.topology.services if timeline.ready_at(s) is None]  # type: ignore[union-attr]
    assert not not_ready, f"never ready: {not_ready}\n{timeline.gantt()}"


def test_each_service_ready_after_its_dependencies(started: DemoStack) -> None:
    # service_healthy: after the dependency was ready; service_started: after it was up.
    started.timeline.assert_order()


def test_tiers_completed_in_order(started: DemoStack) -> None:
    assert started.timeline.tiers_completed_in_order(), started.timeline.gantt()


def test_front_door_after_everything_it_fronts(started: DemoStack) -> None:
    timeline = started.timeline
    topology = started.topology
    assert topology is not None
    if "frontend-proxy" not in topology.services:
        pytest.skip("this stack has no frontend-proxy")
    for dependency in topology.services["frontend-proxy"].depends_on:
        assert timeline.ready_before(dependency, "frontend-proxy"), timeline.gantt()


def test_critical_path_ends_at_the_last_ready_service(started: DemoStack) -> None:
    timeline = started.timeline
    path = timeline.critical_path()
    assert path, timeline.gantt()
    last = max(started.topology.services, key=lambda s: timeline.ready_at(s) or 0.0)  # type: ignore[union-attr]
    assert path[-1] == last, f"critical path {path} does not end at {last}\n{timeline.gantt()}"
