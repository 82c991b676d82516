"""Each service's contract (fixtures/contracts/<release>/*.yaml), checked on the traces of the bundled flows.

One test per service and operation: drive a flow that reaches the operation, wait for its
traces, and check the spans the service emitted there (names, kinds, attributes and their
types, status) and the calls it made. A failure names the attribute or call at fault and
shows the span in its trace. Also: the calls seen at run time against the topology's
declared `depends_on` (start-order races), and, with `--tracebed-baseline DIR`, each flow's
trace shape against a recording (`tracebed record DIR`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tracebed.contracts import (
    DEMO_ALIASES,
    Contract,
    Operation,
    analyse_dependencies,
    check_operation,
    declared_dependencies,
    load_contracts,
    observed_calls,
)
from tracebed.contracts.check import find_entries
from tracebed.flows.registry import FLOWS, RECORDED_FLOWS
from tracebed.model import SpanKind, Trace, TraceTimeoutError
from tracebed.plugin.core import trace_timeout
from tracebed.plugin.report import attach_trace
from tracebed.query.conditions import settled as settled_under
from tracebed.suites.otel_demo.batch import BatchContext, FlowBatch, Job, pre_driven
from tracebed.suites.otel_demo.release import (
    demo_version,
    fixtures_for,
    releases,
    require_release,
)
from tracebed.suites.otel_demo.waiting import exported, quiet_s

# Per release: the stack's release picks its set at run time (see release.py).
CONTRACTS: dict[str, dict[str, Contract]] = {
    release: load_contracts(fixtures_for("contracts", release)) for release in releases("contracts")
}

# Services the reference stack runs without their tracing (it says which in its own metadata
# only for absent services; these run but cannot emit spans).
UNTRACED_IN_REFERENCE = {
    "image-provider": "the reference stack's nginx (Debian) has no OpenTelemetry module",
}


class DirectCall:
    """A gRPC call straight to a service (no frontend route reaches it), traced like a flow."""

    def __init__(self, sink: Any, trace_id: str, span_id: str, error: str | None):
        self.sink, self.trace_id, self.span_id, self.error = sink, trace_id, span_id, error
        self.ok = error is None
        self.source = sink.store  # where `exported` waits, as for a shop request

    def trace(self, until: Any = None, quiet: float | None = None, timeout: float = 30.0) -> Trace:
        trace: Trace = self.sink.store.wait_for_trace(
            self.trace_id, until=until, quiet=quiet, timeout=timeout
        )
        return trace

    def __str__(self) -> str:
        return f"direct gRPC call, trace {self.trace_id}: {self.error or 'ok'}"


def search_products(demo_stack: Any, span_sink: Any) -> DirectCall:
    """`ProductCatalogService/SearchProducts("Roof Binoculars")`, as the demo's Tracetest does."""
    import grpc

    from tracebed.flows.context import TraceContext
    from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

    try:
        target = demo_stack.endpoint("product-catalog")
    except LookupError as exc:
        pytest.skip(f"cannot reach product-catalog directly on this stack: {exc}")
    ctx = TraceContext.fresh()
    error = None
    with grpc.insecure_channel(target) as channel:
        stub = demo_pb2_grpc.ProductCatalogServiceStub(channel)
        try:
            stub.SearchProducts(
                demo_pb2.SearchProductsRequest(query="Roof Binoculars"),
                metadata=[("traceparent", ctx.traceparent)],
                timeout=10,
            )
        except grpc.RpcError as err:
            error = f"{err.code()}: {err.details()}"  # type: ignore[attr-defined]
    return DirectCall(span_sink, ctx.trace_id, ctx.span_id, error)


# Flows that call a service directly, for operations no frontend route reaches.
DIRECT: dict[str, Callable[[Any, Any], DirectCall]] = {"search_products": search_products}

CASES = [
    pytest.param(release, service, name, id="-".join(p for p in (release, service, name) if p))
    for release, contracts in CONTRACTS.items()
    for service, contract in contracts.items()
    for name in contract.operations
]


def is_reference_stack(demo_stack: Any) -> bool:
    return bool(demo_stack.meta.declared)  # the reference stack describes itself


def steps_of(run: Any) -> list[Any]:
    return list(getattr(run, "results", [run]))


def wait_settled(step: Any, timeout: float, until: Callable[[Trace], bool] | None = None) -> Trace:
    try:
        trace: Trace = exported(step, timeout, until)
    except TraceTimeoutError as exc:
        trace = exc.trace  # the contract check then says what is missing, with the tree
    return trace


def linked_traces(trace: Trace) -> list[Trace]:
    """The traces whose spans link to one of `trace`'s spans, as its source holds them now.

    At 3.0.0 the Kafka consumers start traces of their own, linked to checkout's publish span
    (demo-facts-3.0 §5.3.11-12); the store indexes span links, so this costs one lookup.
    """
    source = trace.source
    if source is None:
        return []
    linked = trace.linked_spans(span_ids={s.span_id for s in trace})
    others = (source.get_trace(t) for t in dict.fromkeys(s.trace_id for s in linked))
    return [other for other in others if other is not None]


def traces_of(
    run: Any,
    contract: Contract,
    op: Operation,
    timeout: float,
) -> list[Trace]:
    """Each request's settled trace; if none holds the operation, wait for it (async consumers):
    in the request's trace (2.0.2: consumers are children of the publish span) or in a trace
    linked to it (3.0.0). Linked traces that hold it are returned too (the test attaches
    them, so its failure output and report show them)."""
    steps = steps_of(run)
    traces = [wait_settled(step, timeout) for step in steps]
    if any(find_entries(contract, op, t) for t in traces):
        return traces

    def has_entry(trace: Trace) -> bool:
        return bool(find_entries(contract, op, trace))

    def linked_with_entry(trace: Trace) -> list[Trace]:
        return [t for t in linked_traces(trace) if has_entry(t)]

    def reached(trace: Trace) -> bool:
        return has_entry(trace) or bool(linked_with_entry(trace))

    # Async consumers are fed by a producer: wait on the requests whose trace published.
    producers = [i for i, t in enumerate(traces) if any(s.kind is SpanKind.PRODUCER for s in t)]
    for i in producers or range(len(steps)):
        step = steps[i]
        traces[i] = wait_settled(step, timeout, reached)
        if has_entry(traces[i]):
            break
        linked = linked_with_entry(traces[i])
        source = traces[i].source
        if linked and source is not None:
            # the entry is there; wait (once each) for the rest of its trace to arrive
            settle = settled_under() & has_entry
            for n, other in enumerate(linked):
                try:
                    linked[n] = source.wait_for_trace(
                        other.trace_id, until=settle, quiet=quiet_s(), timeout=timeout
                    )
                except TraceTimeoutError as exc:
                    linked[n] = exc.trace  # the contract check says what is missing
            traces += linked
            break
    return traces


def drive(shop: Any, flow: str) -> Any:
    run = FLOWS[flow].drive(shop)  # contracts name flows of the one registry
    for step in steps_of(run):
        assert step.ok, f"{flow}: a request failed, so the contract cannot be checked:\n{step}"
    return run


def skip_reason(demo_stack: Any, release: str, service: str, operation: str) -> str | None:
    """Why the contract test of this operation skips on this stack (None: it runs)."""
    running = demo_version(demo_stack)
    if release and running != release:
        return f"a demo {release} case; this stack runs demo {running}"
    op = CONTRACTS[release][service].operations[operation]
    if service in demo_stack.absent:
        return f"{service} is not part of this stack: {demo_stack.absent[service]}"
    if service in UNTRACED_IN_REFERENCE and is_reference_stack(demo_stack):
        return f"{service} emits no spans here: {UNTRACED_IN_REFERENCE[service]}"
    if not flows_reaching(op):
        return (
            f"no bundled flow reaches {service} {operation} "
            f"(contract flows: {list(op.flows) or 'none'})"
        )
    return None


def flows_reaching(op: Operation) -> list[str]:
    return [f for f in op.flows if f in FLOWS or f in DIRECT]


def contract_job(ctx: BatchContext, release: str, service: str, operation: str) -> Job | None:
    """Drive the first flow that reaches the operation; the traces of its requests."""
    if skip_reason(ctx.demo_stack, release, service, operation) is not None:
        return None
    contract = CONTRACTS[release][service]
    op = contract.operations[operation]
    flow = flows_reaching(op)[0]

    def drive_it(shop: Any) -> Any:
        if flow in DIRECT:
            run = DIRECT[flow](ctx.demo_stack, ctx.span_sink)
            assert run.ok, str(run)
            return run
        return drive(shop, flow)

    return Job(drive_it, lambda run: traces_of(run, contract, op, ctx.timeout))


@pytest.mark.flow
@pytest.mark.parametrize(("release", "service", "operation"), CASES)
@pre_driven(contract_job)
def test_service_contract(
    release: str,
    service: str,
    operation: str,
    shop: Any,
    demo_stack: Any,
    flow_batch: FlowBatch,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    contract = CONTRACTS[release][service]
    op = contract.operations[operation]
    reason = skip_reason(demo_stack, release, service, operation)
    if reason is not None:
        pytest.skip(reason)
    traces = flow_batch.outcome(request)  # drive(...), then traces_of(...): see contract_job
    for trace in traces:  # the Kafka consumers' linked traces too: the report shows them
        attach_trace(request, trace)
    check_operation(contract, op, traces).assert_ok()


DEPENDENCY_FLOWS = ("browse_product", "get_recommendations", "get_ads", "view_cart", "checkout")


def dependency_job(ctx: BatchContext) -> Job | None:
    """The five flows, one after another; every request's settled trace."""
    if ctx.demo_stack.topology is None:
        return None  # the test skips

    def drive_all(shop: Any) -> list[Any]:
        return [step for flow in DEPENDENCY_FLOWS for step in steps_of(drive(shop, flow))]

    return Job(drive_all, lambda steps: [wait_settled(step, ctx.timeout) for step in steps])


@pytest.mark.flow
@pre_driven(dependency_job)
def test_runtime_calls_against_declared_dependencies(
    shop: Any, demo_stack: Any, flow_batch: FlowBatch, request: pytest.FixtureRequest
) -> None:
    """Every call the flows make has a declared dependency (direct or through a chain).

    The demo 2.0.2 compose file does not declare shipping -> quote: that race is known
    (demo-facts §15.3) and reported, not failed on; any other is a finding.
    """
    topology = demo_stack.topology
    if topology is None:
        pytest.skip("an external stack has no topology to compare with")
    declared = declared_dependencies(topology)
    traces: list[Trace] = flow_batch.outcome(request)  # see dependency_job
    calls = observed_calls(traces, declared, DEMO_ALIASES)
    report = analyse_dependencies(calls, declared)
    known_races = {("shipping", "quote")}
    unexpected = {(f.caller, f.callee) for f in report.races} - known_races
    assert not unexpected, f"runtime calls with no declared dependency:\n{report.explain()}"
    # The flows do reach shipping -> quote, so the known race is seen, not just assumed.
    if "quote" in declared:
        assert ("shipping", "quote") in {(f.caller, f.callee) for f in report.races}, (
            report.explain()
        )


def _baseline_dir(config: pytest.Config) -> Path | None:
    """`--tracebed-baseline DIR` (or `tracebed_baseline` in the ini file), if the core has it."""
    from tracebed.plugin import core

    if "baseline" not in core.OPTIONS:
        return None
    value = core.option(config, "baseline")
    return Path(value) if value else None


@pytest.mark.flow
@pytest.mark.parametrize("flow", RECORDED_FLOWS)
def test_flow_shape_matches_baseline(flow: str, shop: Any, request: pytest.FixtureRequest) -> None:
    """With `--tracebed-baseline DIR`: the flow's trace shape equals its recording."""
    from tracebed.plugin import core
    from tracebed.regress.baseline import assert_matches_baseline
    from tracebed.regress.record import run_flow

    if "baseline" not in core.OPTIONS:
        pytest.skip("this tracebed core registers no --tracebed-baseline option")
    directory = _baseline_dir(request.config)
    if directory is None:
        pytest.skip("no --tracebed-baseline DIR given (record one with `tracebed record DIR`)")
    timeout = trace_timeout(request.config)
    run = run_flow(shop, flow)  # as `tracebed record` drives it
    for step in steps_of(run):
        assert step.ok, f"{flow}: a request failed:\n{step}"
    traces = [wait_settled(step, timeout) for step in steps_of(run)]
    assert_matches_baseline(flow, traces, directory)
