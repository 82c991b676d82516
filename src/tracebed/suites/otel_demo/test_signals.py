"""The signal matrix (fixtures/signals/<release>/matrix.yaml): each service's traces, metrics
and logs arrive, as the demo's own `test/telemetry` suite checks them (demo-facts-3.0 §13) —
from one warm-up checkout and the few flows that reach the other services, in seconds.

One test per release and service: after the session's warm-up, wait (the store's one wait,
woken by every arrival) until each signal the matrix requires of the service is there:
spans of it in the warm-up's traces, log records and metric points of it stored since the
warm-up began. A failure names the service and each missing signal. Services the stack leaves
out are skipped with the stack's reason, and so are the signals the reference stack's
stand-ins knowingly do not emit (`REFERENCE_LEFT_OUT`).

And where the demo logs on a flow's path (checkout's "order placed", payment's charge,
email's confirmation): the record carries the flow's trace id and the span id of a span of
that service in the trace.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tracebed.flows.registry import FLOWS
from tracebed.model import LogRecord, LogTimeoutError, Mark, Trace, TraceTimeoutError
from tracebed.plugin.core import trace_timeout
from tracebed.suites.otel_demo.release import fixtures_for, releases, require_release
from tracebed.suites.otel_demo.signals import (
    SDK_METRIC_INTERVAL_MS,
    SPAN_METRICS,
    FlowLog,
    ServiceSignals,
    SignalMatrix,
    load_matrix,
    metric_interval_s,
    wait_for_signals,
)

MATRICES: dict[str, SignalMatrix] = {
    release: load_matrix(fixtures_for("signals", release)) for release in releases("signals")
}

#: The flows of the warm-up: one checkout (frontend-proxy, frontend, checkout, cart,
#: product-catalog, currency, shipping, quote, payment, email, Kafka and its consumers) and
#: one flow for each service a checkout does not reach.
WARM_UP_FLOWS = ("checkout", "get_ads", "get_recommendations", "get_image")

# What the reference stack's stand-ins do not emit of what the demo's services do (its
# README: "What is left out"), by (service, signal), and by release where only one differs.
# On that stack these are skipped with the reason; on any other stack they are required.
_NO_RUNTIME = "the stand-in does not reproduce {}, the demo's only metrics of {}"
REFERENCE_LEFT_OUT: dict[tuple[str, str], str] = {
    ("image-provider", "traces"): "the reference stack's nginx (Debian) has no OpenTelemetry "
    "module",
    ("kafka", "metrics"): "Tansu, the reference stack's Kafka, exports no telemetry (the "
    "demo's broker runs the Java agent)",
    ("kafka", "logs"): "Tansu, the reference stack's Kafka, exports no telemetry (the demo's "
    "broker runs the Java agent)",
    ("accounting", "metrics"): _NO_RUNTIME.format(
        ".NET's runtime and Kafka-client metrics", "accounting"
    ),
    ("fraud-detection", "metrics"): _NO_RUNTIME.format(
        "the Java agent's JVM and Kafka-client metrics", "fraud-detection"
    ),
    ("load-generator", "metrics"): "the reference stack's Locust load generator exports "
    "traces only",
    ("load-generator", "logs"): "the reference stack's Locust load generator exports traces only",
    ("frontend-web", "traces"): "no browser runs here: the stand-in's load generator replays "
    "the browser's tasks as HTTP calls",
}
REFERENCE_LEFT_OUT_BY_RELEASE: dict[str, dict[tuple[str, str], str]] = {
    "3.0.0": {
        ("frontend", "metrics"): _NO_RUNTIME.format(
            "Node's http/undici/grpc instrumentation metrics", "3.0.0's frontend"
        ),
    },
}
NO_SPAN_METRICS = (
    "the demo's {service} metrics are derived from its spans, which the reference stack "
    "does not emit"
)

CASES = [
    pytest.param(release, service, id=f"{release}-{service}" if release else service)
    for release, matrix in MATRICES.items()
    for service in matrix.services
]
FLOW_LOG_CASES = [
    pytest.param(release, entry, id="-".join(p for p in (release, entry.flow, entry.service) if p))
    for release, matrix in MATRICES.items()
    for entry in matrix.flow_logs
]


@dataclass
class WarmUp:
    """What the warm-up drove: the mark it started at and each flow's run."""

    mark: Mark
    runs: dict[str, Any] = field(default_factory=dict)

    @property
    def trace_ids(self) -> list[str]:
        return [step.trace_id for run in self.runs.values() for step in _steps(run)]


def _steps(run: Any) -> list[Any]:
    return list(getattr(run, "results", [run]))


@pytest.fixture(scope="session")
def signals_warm_up(tracebed_harness: Any, demo_stack: Any, span_sink: Any) -> Iterator[WarmUp]:
    """One checkout and the flows reaching what it does not, once per session."""
    warm = WarmUp(span_sink.mark())
    shop = tracebed_harness.shop()
    try:
        for flow in WARM_UP_FLOWS:
            run = FLOWS[flow].drive(shop)
            warm.runs[flow] = run
            for step in _steps(run):
                if not step.ok:
                    pytest.fail(
                        f"warm-up: {flow} failed, so signals cannot be checked:\n"
                        f"{step.describe(with_trace=False)}"
                    )
        yield warm
    finally:
        shop.close()


def is_reference_stack(demo_stack: Any) -> bool:
    return bool(demo_stack.meta.declared)  # the reference stack describes itself


def skip_unless_here(demo_stack: Any, row: ServiceSignals) -> None:
    """Skip a service this stack leaves out (absent, not started, or not in its topology)."""
    for name in (row.service, row.via):
        if not name:
            continue
        if name in demo_stack.absent:
            pytest.skip(f"{name} is not part of this stack: {demo_stack.absent[name]}")
        not_started = demo_stack.meta.not_started
        if name in not_started:
            pytest.skip(f"{name} is not running in this stack: {not_started[name]}")
    topology = demo_stack.topology
    if topology is None:
        return  # an external stack: every service of the matrix is expected
    if row.via and row.via not in topology.services:
        pytest.skip(
            f"only {row.via}'s own traffic reaches {row.service}; this stack has no {row.via}"
        )
    if not row.via and row.service not in topology.services:
        pytest.skip(
            f"{row.service} is not part of this stack (the demo's {row.scope} scope has it)"
        )


def left_out_here(demo_stack: Any, release: str, row: ServiceSignals) -> dict[str, str]:
    """The signals of `row` this stack knowingly does not emit, with why."""
    if not is_reference_stack(demo_stack):
        return {}
    known = {**REFERENCE_LEFT_OUT, **REFERENCE_LEFT_OUT_BY_RELEASE.get(release, {})}
    out: dict[str, str] = {}
    for signal, source in row.sources.items():
        if (row.service, signal) in known:
            out[signal] = known[(row.service, signal)]
        elif source == SPAN_METRICS and (row.service, "traces") in known:
            out[signal] = NO_SPAN_METRICS.format(service=row.service)
    return out


def signals_timeout(
    demo_stack: Any, row: ServiceSignals, required: list[str], base: float
) -> float:
    """Traces and logs: the trace timeout. Metrics: one export interval more (the service's
    as the harness set it or the stack declares it; the SDK default otherwise)."""
    if "metrics" not in required:
        return base
    topology = demo_stack.topology
    svc = topology.services.get(row.service) if topology is not None else None
    if row.sources.get("metrics") == SPAN_METRICS or svc is None:
        interval = SDK_METRIC_INTERVAL_MS / 1000.0
    else:
        interval = metric_interval_s(svc.environment)
    return base + interval


@pytest.mark.flow
@pytest.mark.parametrize(("release", "service"), CASES)
def test_service_emits_its_signals(
    release: str,
    service: str,
    demo_stack: Any,
    span_sink: Any,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    row = MATRICES[release].services[service]
    skip_unless_here(demo_stack, row)
    left_out = left_out_here(demo_stack, release, row)
    required = [s for s in row.required if s not in left_out]
    if not required:
        pytest.skip("; ".join(f"no {s}: {why}" for s, why in left_out.items()))
    for signal, why in left_out.items():
        request.node.user_properties.append((f"left out: {signal}", why))
    warm: WarmUp = request.getfixturevalue("signals_warm_up")
    wait_for_signals(
        span_sink.store,
        service,
        required,
        since=warm.mark,
        # a service only another's traffic reaches has no span in the warm-up's traces
        trace_ids=None if row.via else warm.trace_ids,
        timeout=signals_timeout(demo_stack, row, required, trace_timeout(request.config)),
        release=release,
    )


def _body(record: LogRecord) -> str:
    return record.body if isinstance(record.body, str) else str(record.body)


@pytest.mark.flow
@pytest.mark.parametrize(("release", "entry"), FLOW_LOG_CASES)
def test_flow_log_carries_its_trace(
    release: str,
    entry: FlowLog,
    demo_stack: Any,
    span_sink: Any,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    if entry.service in demo_stack.absent:
        pytest.skip(
            f"{entry.service} is not part of this stack: {demo_stack.absent[entry.service]}"
        )
    warm: WarmUp = request.getfixturevalue("signals_warm_up")
    run = warm.runs.get(entry.flow)
    if run is None:
        pytest.skip(f"the warm-up does not drive {entry.flow}")
    main = getattr(run, "main", run)
    timeout = trace_timeout(request.config)
    try:
        records = span_sink.wait_for_logs(
            trace_id=main.trace_id,
            service=entry.service,
            until=lambda rs: any(_body(r) == entry.body for r in rs),
            timeout=timeout,
        )
    except LogTimeoutError as exc:
        pytest.fail(
            f"{entry.service}: no {entry.body!r} log record carries {entry.flow}'s trace id "
            f"{main.trace_id}\n{exc}"
        )
    record = next(r for r in records if _body(r) == entry.body)
    assert record.span_id, (
        f"{entry.service}'s {entry.body!r} record carries the trace id but no span id: {record}"
    )
    try:
        trace: Trace = span_sink.store.wait_for_trace(
            main.trace_id, until=lambda t: t.get(record.span_id) is not None, timeout=timeout
        )
    except TraceTimeoutError as exc:
        pytest.fail(
            f"{entry.service}'s {entry.body!r} record names span {record.span_id}, which is not "
            f"a span of {entry.flow}'s trace\n{exc}"
        )
    span = trace.get(record.span_id)
    assert span is not None and span.service == entry.service, (
        f"{entry.service}'s {entry.body!r} record was logged inside span {span}, not one of "
        f"{entry.service}'s:\n{trace.render()}"
    )
    if entry.order_id:
        order_id = (main.json or {}).get("orderId")
        assert order_id, f"{entry.flow} answered no orderId: {main.describe(with_trace=False)}"
        assert record.attributes.get(entry.order_id) == order_id, (
            f"{entry.service}'s {entry.body!r} record has {entry.order_id}="
            f"{record.attributes.get(entry.order_id)!r}; the checkout placed order {order_id}"
        )
