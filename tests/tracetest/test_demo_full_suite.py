"""All ten folders of the demo 2.0.2 Tracetest suite, unchanged, against the reference stack.

58 of 61 specs pass. The 3 that fail are the checkout order's: its test card expired in 3/2025,
so payment rejects it and no order is placed — the real demo 2.0.2 fails them the same way today
(demo-facts §13). The test pins exactly that, so any other regression shows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

DEMO = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2" / "tracetesting"
).resolve()


@pytest.mark.slow
def test_whole_demo_suite_on_the_reference_stack(pytester: pytest.Pytester) -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    # the 2.0.2 suite tests demo 2.0.2: the stand-in impersonates that release
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-rf", "--tracebed-demo-version=2.0.2", str(DEMO), timeout=900
    )
    outcomes = result.parseoutcomes()
    failures = [line for line in result.outlines if line.startswith("FAILED ")]
    assert outcomes.get("passed") == 58, result.stdout.str()[-4000:]
    assert outcomes.get("failed") == 3, "\n".join(failures)
    assert all("checkout" in line for line in failures), "\n".join(failures)
