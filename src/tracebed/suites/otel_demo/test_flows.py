"""Each shop flow's call chain, as fixtures/chains/<release>/*.yaml expects it."""

from __future__ import annotations

from typing import Any

import pytest

from tracebed.model import SpanStore, Trace, TraceTimeoutError
from tracebed.otlp import Sink
from tracebed.plugin.core import trace_timeout
from tracebed.query.chains import ChainFixture, load_chains
from tracebed.suites.otel_demo.release import fixtures_for, releases, require_release
from tracebed.suites.otel_demo.waiting import QUIET_S

CASES = [
    pytest.param(release, chain, id="-".join(p for p in (release, name) if p))
    for release in releases("chains")
    for name, chain in load_chains(fixtures_for("chains", release)).items()
]


def wait_for_chain(result: Any, chain: ChainFixture, store: SpanStore, timeout: float) -> Trace:
    """The flow's trace once it follows `chain`; else fail showing expected vs actual trees."""
    matcher = chain.matcher(store)
    try:
        trace: Trace = result.trace(
            until=lambda t: matcher.match(t) is None, quiet=QUIET_S, timeout=timeout
        )
    except TraceTimeoutError as exc:
        matcher.check(exc.trace)  # raises ChainMismatch: expected and actual side by side
        raise
    return trace


@pytest.mark.flow
@pytest.mark.parametrize(("release", "chain"), CASES)
def test_flow_follows_its_chain(
    release: str,
    chain: ChainFixture,
    shop: Any,
    span_sink: Sink,
    demo_stack: Any,
    request: pytest.FixtureRequest,
) -> None:
    require_release(demo_stack, release)
    if not chain.flow:
        pytest.skip(f"{chain.path}: no `flow:` names the shop task that drives this chain")
    outcome = getattr(shop, chain.flow)()
    main = outcome.main
    for step in outcome.results:
        assert step.ok, f"{chain.flow}: a request failed\n{step.describe(with_trace=False)}"
    trace = wait_for_chain(main, chain, span_sink.store, trace_timeout(request.config))
    assert trace.errors == [], f"spans with ERROR status in a healthy flow:\n{trace.render()}"
