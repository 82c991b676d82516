"""The chain fixtures (fixtures/chains/*.yaml) hold for the shop flows on the reference stack."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracebed.model import TraceTimeoutError
from tracebed.query.chains import load_chains

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "2.0.2"
CHAINS = load_chains(FIXTURES)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CHAINS))
def test_chain_fixture_holds_on_the_reference_stack(name: str, shop: Any, span_sink: Any) -> None:
    fixture = CHAINS[name]
    result = getattr(shop, fixture.flow)().main
    assert result.ok, f"{fixture.flow} failed:\n{result}"
    try:
        span_sink.store.wait_for_trace(
            result.trace_id, until=fixture.matcher(span_sink.store).condition(), timeout=20
        )
    except TraceTimeoutError as exc:
        trace = span_sink.store.trace(result.trace_id)
        pytest.fail(f"{name} ({fixture.path}):\n{exc}\n\n{trace.render(attributes=False)}", pytrace=False)
