"""The startup timeline: what happened to each service, on one monotonic clock.

Times are seconds since the timeline's origin (`Timeline.origin`, a `time.monotonic()` value).
Event kinds: `start_requested`, `up`, `probe` (one per attempt), `ready`, `failed`,
`stopped`, plus `tier_started` / `tier_ready` (service = "") for the tier barrier.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracebed.errors import ExpectationFailed

KINDS = (
    "start_requested",
    "up",
    "probe",
    "ready",
    "failed",
    "stopped",
    "seen_ready",
    "tier_started",
    "tier_ready",
)


@dataclass(frozen=True)
class TimelineEvent:
    t: float
    service: str
    kind: str
    detail: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"t": round(self.t, 6), "service": self.service, "kind": self.kind, **self.detail}


@dataclass(frozen=True)
class OrderViolation:
    service: str
    dependency: str
    condition: str
    message: str


class OrderingError(ExpectationFailed):
    """The startup order broke a rule; the message lists each violation."""

    def __init__(self, violations: list[OrderViolation]) -> None:
        self.violations = violations
        super().__init__(
            "startup order violated:\n" + "\n".join(f"  - {v.message}" for v in violations)
        )


Listener = Callable[[TimelineEvent], None]


class Timeline:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.origin = clock()
        self._events: list[TimelineEvent] = []
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []
        self.tiers: list[list[str]] = []
        self.depends_on: dict[str, dict[str, str]] = {}

    # -- recording ----------------------------------------------------------------------

    def now(self) -> float:
        return self._clock() - self.origin

    def record(self, service: str, kind: str, **detail: Any) -> TimelineEvent:
        if kind not in KINDS:
            raise ValueError(f"unknown timeline event kind {kind!r}")
        with self._lock:
            ev = TimelineEvent(self.now(), service, kind, detail)
            self._events.append(ev)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(ev)
        return ev

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def set_plan(self, tiers: list[list[str]], depends_on: Mapping[str, Mapping[str, str]]) -> None:
        """The tiers and dependency conditions the ordering checks compare against."""
        self.tiers = [list(t) for t in tiers]
        self.depends_on = {k: dict(v) for k, v in depends_on.items()}

    # -- queries ------------------------------------------------------------------------

    def events(self, service: str | None = None, kind: str | None = None) -> list[TimelineEvent]:
        with self._lock:
            evs = list(self._events)
        return [
            e
            for e in evs
            if (service is None or e.service == service) and (kind is None or e.kind == kind)
        ]

    def _first(self, service: str, *kinds: str) -> float | None:
        for e in self.events(service):
            if e.kind in kinds:
                return e.t
        return None

    def ready_at(self, service: str) -> float | None:
        """When the service was first ready (or first seen ready, for an external stack)."""
        return self._first(service, "ready", "seen_ready")

    def up_at(self, service: str) -> float | None:
        return self._first(service, "up")

    def requested_at(self, service: str) -> float | None:
        return self._first(service, "start_requested")

    def failed_at(self, service: str) -> float | None:
        return self._first(service, "failed")

    def stopped_at(self, service: str) -> float | None:
        return self._first(service, "stopped")

    def services(self) -> list[str]:
        seen: dict[str, None] = {}
        for e in self.events():
            if e.service:
                seen.setdefault(e.service, None)
        return list(seen)

    def probe_attempts(self, service: str) -> int:
        return len(self.events(service, "probe"))

    def ready_before(self, a: str, b: str) -> bool:
        ra, rb = self.ready_at(a), self.ready_at(b)
        if ra is None:
            return False
        return rb is None or ra <= rb

    def total_s(self) -> float | None:
        times = [t for s in self.services() if (t := self.ready_at(s)) is not None]
        return max(times) if times else None

    # -- ordering checks ----------------------------------------------------------------

    def check_order(self) -> list[OrderViolation]:
        """Every dependency rule and tier barrier that the recorded start broke."""
        out: list[OrderViolation] = []
        for svc, deps in self.depends_on.items():
            ready = self.ready_at(svc)
            if ready is None:
                continue
            for dep, cond in deps.items():
                if cond == "service_healthy":
                    dep_t, what = self.ready_at(dep), "ready"
                elif cond == "service_completed_successfully":
                    dep_t, what = self._first(dep, "ready"), "completed"
                else:
                    dep_t, what = self.up_at(dep) or self.ready_at(dep), "up"
                if dep_t is None:
                    out.append(
                        OrderViolation(
                            svc, dep, cond, f"{svc} became ready but {dep} was never {what}"
                        )
                    )
                elif dep_t > ready:
                    out.append(
                        OrderViolation(
                            svc,
                            dep,
                            cond,
                            f"{svc} was ready at {ready:.3f}s before {dep} was {what} "
                            f"at {dep_t:.3f}s ({cond})",
                        )
                    )
        for i in range(len(self.tiers) - 1):
            readies = [self.ready_at(s) for s in self.tiers[i]]
            if any(r is None for r in readies):
                continue
            done = max(r for r in readies if r is not None)
            for s in self.tiers[i + 1]:
                req = self.requested_at(s)
                if req is not None and req < done:
                    out.append(
                        OrderViolation(
                            s,
                            "",
                            "tier",
                            f"{s} (tier {i + 1}) was started at {req:.3f}s before tier {i} "
                            f"completed at {done:.3f}s",
                        )
                    )
        return out

    def assert_order(self) -> None:
        violations = self.check_order()
        if violations:
            raise OrderingError(violations)

    def tiers_completed_in_order(self) -> bool:
        return not any(v.condition == "tier" for v in self.check_order())

    def critical_path(self) -> list[str]:
        """The chain of services that set the total start time, first to last.

        From the last service to become ready, step back to whatever gated its start: the
        latest-ready service that was ready before it was requested (its slowest dependency
        when several qualify equally).
        """
        ready = {s: t for s in self.services() if (t := self.ready_at(s)) is not None}
        if not ready:
            return []
        current = max(ready, key=lambda s: ready[s])
        path = [current]
        while True:
            req = self.requested_at(current)
            if req is None:
                break
            deps = self.depends_on.get(current, {})
            gates = [s for s, t in ready.items() if t <= req + 1e-9 and s not in path]
            if not gates:
                break
            latest = max(ready[s] for s in gates)
            candidates = [s for s in gates if ready[s] >= latest - 1e-3]
            preferred = [s for s in candidates if s in deps] or candidates
            current = max(preferred, key=lambda s: ready[s])
            path.append(current)
        return list(reversed(path))

    # -- rendering ----------------------------------------------------------------------

    def gantt(self, width: int = 60) -> str:
        """A text Gantt: `.` requested -> up, `=` up -> probing -> ready, `X` failed."""
        order = [s for tier in self.tiers for s in tier] or self.services()
        order = [
            s
            for s in order
            if self.requested_at(s) is not None
            or self.ready_at(s) is not None
            or self.failed_at(s) is not None
        ]
        ends = [t for s in order for t in (self.ready_at(s), self.failed_at(s)) if t is not None]
        total = max(ends, default=0.0) or 1e-9
        scale = width / total
        name_w = max((len(s) for s in order), default=7)
        critical = set(self.critical_path())
        tier_of = {s: i for i, tier in enumerate(self.tiers) for s in tier}
        lines = [f"{'service':<{name_w}}  tier  {'0s':<{width - 8}}{total:>7.2f}s   ready"]
        for s in order:
            req = self.requested_at(s)
            up = self.up_at(s)
            end = self.ready_at(s)
            failed = self.failed_at(s)
            start = req if req is not None else (end or 0.0)
            stop = end if end is not None else (failed if failed is not None else start)
            row = [" "] * width
            a = min(width - 1, int(start * scale))
            u = min(width - 1, int((up if up is not None else start) * scale))
            b = min(width - 1, max(a, int(stop * scale)))
            for i in range(a, b + 1):
                row[i] = "." if i < u else "="
            if failed is not None and end is None:
                row[b] = "X"
            mark = "*" if s in critical else " "
            when = f"{end:8.3f}s" if end is not None else ("  FAILED" if failed else "       -")
            tier = tier_of.get(s, "")
            lines.append(f"{s:<{name_w}}  {tier!s:>4} |{''.join(row)}|{when} {mark}")
        lines.append("legend: '.' requested->up  '=' up->ready  'X' failed  '*' critical path")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "services": {
                s: {
                    "requested_at": self.requested_at(s),
                    "up_at": self.up_at(s),
                    "ready_at": self.ready_at(s),
                    "failed_at": self.failed_at(s),
                    "stopped_at": self.stopped_at(s),
                    "probe_attempts": self.probe_attempts(s),
                }
                for s in self.services()
            },
            "tiers": self.tiers,
            "critical_path": self.critical_path(),
            "total_s": self.total_s(),
            "events": [e.to_json() for e in self.events()],
        }
