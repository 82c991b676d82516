"""Each shop flow's call chain, as fixtures/chains/<release>/*.yaml expects it.

The flows switch no flag: they are driven together in the session's flow batch (batch.py),
and each test checks its own flow's trace.
"""

from __future__ import annotations

from typing import Any

import pytest

from tracebed.model import SpanStore, Trace, TraceTimeoutError
from tracebed.query.chains import ChainFixture, load_chains
from tracebed.suites.otel_demo.batch import BatchContext, FlowBatch, Job, pre_driven
from tracebed.suites.otel_demo.release import (
    demo_version,
    fixtures_for,
    releases,
    require_release,
)
from tracebed.suites.otel_demo.waiting import settled

CASES = [
    pytest.param(release, chain, id="-".join(p for p in (release, name) if p))
    for release in releases("chains")
    for name, chain in load_chains(fixtures_for("chains", release)).items()
]


def wait_for_chain(result: Any, chain: ChainFixture, store: SpanStore, timeout: float) -> Trace:
    """The flow's trace once it follows `chain`; else fail showing expected vs actual trees.

    The chain is the trace's expected shape: it, not a quiet window, says the trace is complete.
    """
    matcher = chain.matcher(store)
    try:
        follows = settled(result, lambda t: matcher.match(t) is None)
        trace: Trace = result.trace(until=follows, timeout=timeout)
    except TraceTimeoutError as exc:
        matcher.check(exc.trace)  # raises ChainMismatch: expected and actual side by side
        raise
    return trace


def chain_job(ctx: BatchContext, release: str, chain: ChainFixture) -> Job | None:
    """Drive the chain's flow; its trace once it follows the chain."""
    if (release and demo_version(ctx.demo_stack) != release) or not chain.flow:
        return None  # the test skips

    def drive(shop: Any) -> Any:
        return getattr(shop, chain.flow)()

    def wait(outcome: Any) -> Trace:
        for step in outcome.results:
            assert step.ok, f"{chain.flow}: a request failed\n{step.describe(with_trace=False)}"
        return wait_for_chain(outcome.main, chain, ctx.span_sink.store, ctx.timeout)

    return Job(drive, wait)


@pytest.mark.flow
@pytest.mark.parametrize(("release", "chain"), CASES)
@pre_driven(chain_job)
def test_flow_follows_its_chain(
    release: str,
    chain: ChainFixture,
    shop: Any,
    demo_stack: Any,
    flow_batch: FlowBatch,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    if not chain.flow:
        pytest.skip(f"{chain.path}: no `flow:` names the shop task that drives this chain")
    trace = flow_batch.outcome(request)
    assert trace.errors == [], f"spans with ERROR status in a healthy flow:\n{trace.render()}"
