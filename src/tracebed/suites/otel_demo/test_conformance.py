"""Each bundled flow's telemetry (spans, log records, metric points) checked against the
release's telemetry registry, as Weaver's live-check would check it.

One test per release and flow (flows/registry.py `FLOWS`): drive the flow, wait for its traces
(and the traces that link to them: the Kafka consumers), then check their spans, the log
records of those traces, and the metric points the services of those traces exported since
the flow started. Violations fail the test, except the non-conformances of the demo itself
(`fixtures/conformance/<release>/known.yaml`, each saying what the demo does): a failure lists
each new finding with its id, attribute, service, span name and trace id. Improvements and
information are not failed on; the report shows every finding under its span.

The registry: `--tracebed-registry DIR` with `--tracebed-registry-dependency DIR`, else a
compose stack's `telemetry-schema/` beside its compose files (see schema.py); without one, or
for demo 2.0.2 (which ships none), the tests skip saying so.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterable
from typing import Any

import pytest

from tracebed.flows.registry import FLOWS
from tracebed.model import SpanStore, Trace, TraceTimeoutError
from tracebed.model.logs import LogRecord
from tracebed.model.metrics import DataPoint, Metric, MetricPoint
from tracebed.model.store import Mark
from tracebed.otlp import Sink
from tracebed.paths import DEMO_VERSIONS, fixtures_dir
from tracebed.plugin.core import trace_timeout
from tracebed.plugin.report import attach_conformance
from tracebed.query.conformance import Level, Policy, check
from tracebed.suites.otel_demo.release import require_release
from tracebed.suites.otel_demo.schema import (
    REGISTRY_DIRS,
    KnownFinding,
    describe,
    known_for,
    load_known,
    release_registry,
)
from tracebed.suites.otel_demo.waiting import QUIET_S, settled

MAX_LINKED_TRACES = 10  # traces that link into a flow's (consumers): enough to see each hop
METRICS_WAIT_S = 10.0  # at most this long for one metric export of each service of the flow


def _known(release: str) -> list[KnownFinding]:
    path = fixtures_dir() / "conformance" / release / "known.yaml"
    return load_known(path) if path.is_file() else []


KNOWN: dict[str, list[KnownFinding]] = {release: _known(release) for release in REGISTRY_DIRS}

CASES = [
    pytest.param(release, flow, id=f"{release}-{flow}")
    for release in DEMO_VERSIONS
    if release in REGISTRY_DIRS
    for flow in FLOWS
] + [
    # A release without a registry: one case, which skips saying why.
    pytest.param(release, "", id=release)
    for release in DEMO_VERSIONS
    if release not in REGISTRY_DIRS
]


@pytest.fixture
def known_findings(release: str) -> list[KnownFinding]:
    """The release's expected non-conformances (the demo's own), from its fixture file."""
    return KNOWN.get(release, [])


def _steps(run: Any) -> list[Any]:
    return list(getattr(run, "results", [run]))


def _wait(store: SpanStore, step_or_id: Any, timeout: float) -> Trace:
    """The trace once settled and quiet; what arrived when that does not happen in time."""
    try:
        if isinstance(step_or_id, str):
            return store.wait_for_trace(step_or_id, quiet=QUIET_S, timeout=timeout)
        trace: Trace = step_or_id.trace(until=settled(step_or_id), quiet=QUIET_S, timeout=timeout)
        return trace
    except TraceTimeoutError as exc:
        return exc.trace


def flow_traces(store: SpanStore, steps: Iterable[Any], timeout: float) -> list[Trace]:
    """Each request's trace, then the traces linking to them (Kafka consumers start their own)."""
    traces = [_wait(store, step, timeout) for step in steps]
    have = {t.trace_id for t in traces}
    for trace in list(traces):
        for span in store.spans_linking_to(trace.trace_id)[:MAX_LINKED_TRACES]:
            if span.trace_id not in have:
                have.add(span.trace_id)
                traces.append(_wait(store, span.trace_id, timeout))
    return [t for t in traces if len(t)]


def flow_logs(
    store: SpanStore, traces: Iterable[Trace], services: set[str], since: Mark
) -> list[LogRecord]:
    """The log records of the traces, and the flow's services' records with no span context
    (e.g. checkout's `sending to postProcessor`)."""
    records: list[LogRecord] = []
    for trace in traces:
        records += store.logs(trace_id=trace.trace_id)
    records += [r for r in store.logs(since=since) if not r.trace_id and r.service in services]
    return records


def flow_metrics(store: SpanStore, services: set[str], since: Mark) -> list[Metric]:
    """The newest point of each series the flow's services exported since it started, as
    metrics; waits (bounded) for one export from each service known to export metrics."""
    exporting = {service for service, _ in store.metric_names()} & services

    def exported() -> bool:
        return all(len(store.metric_points(service, since=since)) for service in exporting)

    # Past the bound, check what did arrive: the registry check is about names, not counts.
    with contextlib.suppress(TimeoutError):
        store.wait(exported, on="metrics", timeout=METRICS_WAIT_S, description="metric exports")
    grouped: dict[tuple[object, ...], tuple[Metric, list[DataPoint]]] = {}
    for mp in store.metric_points(since=since).latest():
        if mp.service not in services:
            continue
        grouped.setdefault(_identity(mp), (mp.metric, []))[1].append(mp.point)
    return [
        dataclasses.replace(metric, points=tuple(points)) for metric, points in grouped.values()
    ]


def _identity(mp: MetricPoint) -> tuple[object, ...]:
    m = mp.metric
    return (m.service, m.name, m.unit, m.instrument, m.kind, m.scope_name)


@pytest.mark.flow
@pytest.mark.parametrize(("release", "flow"), CASES)
def test_flow_telemetry_conforms_to_the_registry(
    release: str,
    flow: str,
    known_findings: list[KnownFinding],
    shop: Any,
    span_sink: Sink,
    demo_stack: Any,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    registry = release_registry(request.config, demo_stack, release)
    store = span_sink.store
    since = store.mark()
    steps = _steps(FLOWS[flow].drive(shop))
    if not steps:
        pytest.skip(f"{flow}: the flow sent no request here")
    timeout = trace_timeout(request.config)
    traces = flow_traces(store, steps, timeout)
    if not traces:
        pytest.fail(f"{flow}: no span of its {len(steps)} request(s) arrived in {timeout}s")
    services = {service for trace in traces for service in trace.services}
    report = check(
        registry,
        spans=[span for trace in traces for span in trace],
        logs=flow_logs(store, traces, services, since),
        metrics=flow_metrics(store, services, since),
        policy=Policy(),
    )
    notes = {
        i: known.demo
        for i, finding in enumerate(report.findings)
        if (known := known_for(finding, known_findings)) is not None
    }
    attach_conformance(request, report, notes)
    new = [
        finding
        for i, finding in enumerate(report.findings)
        if finding.level >= Level.VIOLATION and i not in notes
    ]
    if new:
        pytest.fail(
            f"{flow}: {len(new)} finding(s) of demo {release}'s registry ({report.registry}) "
            f"that are not known non-conformances of the demo (fixtures/conformance/{release}/"
            f"known.yaml), in {len(traces)} trace(s):\n"
            + "\n".join(f"  {describe(f)}" for f in new),
            pytrace=False,
        )
