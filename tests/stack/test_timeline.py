"""Ordering checks, critical path and Gantt on a timeline driven by a controlled clock."""

from __future__ import annotations

import io

import pytest

from tracebed.stack import OrderingError, Timeline
from tracebed.stack.progress import LiveProgress


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def build(
    events: list[tuple[float, str, str]], tiers: list[list[str]], deps: dict[str, dict[str, str]]
) -> Timeline:
    clock = Clock()
    tl = Timeline(clock=clock)
    tl.set_plan(tiers, deps)
    for t, svc, kind in events:
        clock.t = 100.0 + t
        tl.record(svc, kind)
    return tl


TIERS = [["db", "cache"], ["api"], ["web"]]
DEPS = {
    "api": {"db": "service_healthy", "cache": "service_started"},
    "web": {"api": "service_started"},
}
GOOD = [
    (0.0, "db", "start_requested"),
    (0.0, "cache", "start_requested"),
    (0.1, "db", "up"),
    (0.1, "cache", "up"),
    (0.3, "cache", "ready"),
    (2.0, "db", "ready"),
    (2.0, "api", "start_requested"),
    (2.1, "api", "up"),
    (2.5, "api", "ready"),
    (2.5, "web", "start_requested"),
    (2.6, "web", "up"),
    (3.0, "web", "ready"),
]


def test_good_start() -> None:
    tl = build(GOOD, TIERS, DEPS)
    assert tl.ready_at("db") == pytest.approx(2.0)
    assert tl.up_at("api") == pytest.approx(2.1)
    assert [e.kind for e in tl.events("api")] == ["start_requested", "up", "ready"]
    assert tl.check_order() == []
    tl.assert_order()
    assert tl.tiers_completed_in_order()
    assert tl.ready_before("cache", "db")
    assert tl.critical_path() == ["db", "api", "web"]  # db was slow, not cache
    assert tl.total_s() == pytest.approx(3.0)
    g = tl.gantt(width=30)
    lines = g.splitlines()
    assert lines[1].startswith("db") and lines[1].rstrip().endswith("*")
    assert lines[2].startswith("cache") and not lines[2].rstrip().endswith("*")
    assert "3.000s" in g
    doc = tl.to_json()
    assert doc["critical_path"] == ["db", "api", "web"]
    assert doc["services"]["web"]["ready_at"] == pytest.approx(3.0)


def test_violations_are_named() -> None:
    bad = [
        (0.0, "db", "start_requested"),
        (0.0, "cache", "start_requested"),
        (0.1, "cache", "up"),
        (0.2, "cache", "ready"),
        (0.3, "api", "start_requested"),  # before tier 0 completed
        (0.4, "api", "up"),
        (0.5, "api", "ready"),  # before db was healthy
        (1.0, "db", "up"),
        (2.0, "db", "ready"),
    ]
    tl = build(bad, TIERS, DEPS)
    msgs = [v.message for v in tl.check_order()]
    assert any("api was ready at 0.500s before db was ready at 2.000s" in m for m in msgs)
    assert any("api (tier 1) was started at 0.300s before tier 0 completed" in m for m in msgs)
    assert not tl.tiers_completed_in_order()
    with pytest.raises(OrderingError, match="startup order violated"):
        tl.assert_order()


def test_started_condition_needs_only_up() -> None:
    evs = [
        (0.0, "cache", "start_requested"),
        (0.1, "cache", "up"),
        (0.2, "api", "start_requested"),
        (0.3, "api", "up"),
        (0.4, "api", "ready"),
        (0.9, "cache", "ready"),
    ]
    tl = build(evs, [["cache"], ["api"]], {"api": {"cache": "service_started"}})
    assert [v.condition for v in tl.check_order()] == ["tier"]  # tier barrier, not the edge
    tl2 = build(evs, [["cache", "api"]], {"api": {"cache": "service_started"}})
    assert tl2.check_order() == []


def test_unknown_kind_rejected() -> None:
    with pytest.raises(ValueError, match="unknown timeline event kind"):
        Timeline().record("x", "exploded")


def test_live_progress_renders_states() -> None:
    tl = Timeline()
    out = io.StringIO()
    live = LiveProgress([["db"], ["api"]], stream=out, force=True).attach(tl)
    tl.record("db", "start_requested")
    tl.record("db", "up")
    tl.record("db", "ready")
    tl.record("api", "start_requested")
    tl.record("api", "failed", reason="exited with code 3")
    live.close()
    text = out.getvalue()
    assert "ready" in text and "FAILED" in text and "exited with code 3" in text
    quiet = io.StringIO()
    assert not LiveProgress([["db"]], stream=quiet).attach(tl).enabled  # not a tty: quiet
    assert quiet.getvalue() == ""
