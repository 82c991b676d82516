"""How the bundled suite waits for a request's trace: its expected shape, else settled and
then the stack's export delay after its spans ended (`exported`), or a quiet window longer
than that delay (`quiet_s()`).

A process exports a finished span after up to its batch processor's schedule delay
(`OTEL_BSP_SCHEDULE_DELAY`; the SDK default is 5 s, the stand-in's 50 ms), and each process
on its own timer: a quiet window shorter than that delay can end while a span still waits in
some service. So the window is derived from the stack's export delay (`DemoStack.export_delay`:
what `--tracebed-export-delay` set, what the reference stack says, else the SDK default), and
where the expected shape is known (a chain fixture, a contract's entries, the spans a fault
scenario asserts on) the shape, not a window, says the trace is complete.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from tracebed.model import Span, SpanStore, Trace
from tracebed.model.source import quiet_after_export_delay
from tracebed.query.conditions import Condition
from tracebed.query.conditions import settled as settled_under

QUIET_S = 0.3  # the floor of the quiet window: the collector's batch and the network
SDK_EXPORT_DELAY_S = 5.0  # a stack that does not say: the OpenTelemetry SDKs' default
_window = [QUIET_S]  # this session's window (`use_export_delay`, from the suite's conftest)


def quiet_window(export_delay: float) -> float:
    """No new span for this long after the trace settled: every process has exported since."""
    return quiet_after_export_delay(export_delay, QUIET_S)


def use_export_delay(export_delay: float | None) -> None:
    """Set the session's quiet window from the stack's export delay (None: the SDK default)."""
    _window[0] = quiet_window(SDK_EXPORT_DELAY_S if export_delay is None else export_delay)


def quiet_s() -> float:
    """The session's quiet window (seconds), at least the stack's export delay."""
    return _window[0]


def exported(step: Any, timeout: float, until: Callable[[Trace], bool] | None = None) -> Trace:
    """The request's trace once settled (and `until`), and once every span that ended before
    the latest one seen has had the export delay to arrive.

    Each process exports what has ended within its export delay, so a span that ended at
    time `e` is in the sink by `e + delay` (plus the collector's batching): once the clock
    passes that after the latest end seen (the entry span's, which ends after every
    synchronous call it made), no span of the request's synchronous work can still come.
    That is usually well before a quiet window measured from the last arrival ends; it is
    never later than one (spans' clocks are this host's for the stand-in and compose; a
    remote clock far behind ours would end the wait early, as too short a window would).
    """
    trace: Trace = step.trace(until=settled(step, until), timeout=timeout)
    left = export_left(trace)
    if left <= 0:
        return trace
    store = getattr(step, "source", None)
    if isinstance(store, SpanStore):  # the store's one wait, told when to look again
        until_at = time.monotonic() + left
        store.wait(
            lambda: True if time.monotonic() >= until_at else until_at,
            timeout=left + 1.0,
            description="the export delay after the trace's last span ended",
        )
    else:  # over the sink's HTTP API: a quiet window of that length stands in
        return step.trace(until=settled(step, until), quiet=quiet_s(), timeout=timeout)
    return step.trace(until=settled(step, until), timeout=timeout)  # as it stands now


def export_left(spans: Iterable[Span], window: float | None = None) -> float:
    """Seconds until every span that ended before the latest end among `spans` has had
    `window` (default: the session's quiet window) to be exported; <= 0: it has. (At most
    `window`: a clock ahead of ours must not stretch the wait.)"""
    window = quiet_s() if window is None else window
    latest = max((span.end_ns for span in spans), default=0) / 1e9
    return min(window, latest + window - time.time())


def export_delay_of(demo_stack: Any) -> float:
    """The stack's export delay; one that does not say has the SDK default."""
    delay = getattr(demo_stack, "export_delay", None)
    return SDK_EXPORT_DELAY_S if delay is None else float(delay)


def settled(step: Any, until: Callable[[Trace], bool] | None = None) -> Condition:
    """No span of the request's trace waits for its parent any more, and `until` holds."""
    complete = settled_under(step.span_id)
    return complete if until is None else complete & until


def spans(
    *wanted: tuple[str, str | None, Any], description: str = ""
) -> Callable[[Trace], bool]:
    """The trace holds a span of each (service, name or None: any, kind or None: any): the
    expected shape of a trace whose spans a test asserts on."""

    def present(trace: Trace) -> bool:
        return all(
            any(
                s.service == service
                and (name is None or s.name == name)
                and (kind is None or s.kind is kind)
                for s in trace
            )
            for service, name, kind in wanted
        )

    present.__name__ = description or "spans " + ", ".join(
        f"{service}: {name or kind}" for service, name, kind in wanted
    )
    return present


def chain_of(demo_stack: Any, flow: str) -> Any:
    """The chain fixture of the stack's release whose `flow:` is `flow` (None: there is none)."""
    from tracebed.query.chains import load_chains
    from tracebed.suites.otel_demo.release import demo_version, fixtures_for, releases

    release = demo_version(demo_stack)
    for known in releases("chains"):
        if known in ("", release):
            for chain in load_chains(fixtures_for("chains", known)).values():
                if chain.flow == flow:
                    return chain
    return None


def follows_its_chain(demo_stack: Any, store: Any, flow: str) -> Callable[[Trace], bool] | None:
    """The flow's chain fixture as a wait condition (None: no fixture, so no known shape)."""
    chain = chain_of(demo_stack, flow)
    if chain is None:
        return None
    matcher = chain.matcher(store)

    def follows(trace: Trace) -> bool:
        return matcher.match(trace) is None

    follows.__name__ = f"call chain of {flow}"
    return follows
