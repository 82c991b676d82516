"""The demo 2.0.2 Tracetest suite of the frontend, unchanged, against the reference stack
(started by the tracebed pytest plugin): every spec of the six tests passes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reference.infra.conftest import require_debian

pytest_plugins = ["pytester"]

FRONTEND_SUITE = (
    Path(__file__).resolve().parents[3]
    / ".."
    / "shared"
    / "reference"
    / "otel-demo-2.0.2"
    / "tracetesting"
    / "frontend"
).resolve()


@pytest.mark.slow
def test_demo_frontend_tracetest_suite_passes(pytester: pytest.Pytester) -> None:
    if not FRONTEND_SUITE.is_dir():
        pytest.skip(f"demo reference files not found at {FRONTEND_SUITE}")
    require_debian("redis-server", "nginx", "prometheus")
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-v",
        "--tracebed-demo-version=2.0.2",  # the demo 2.0.2's own suite
        str(FRONTEND_SUITE),
        timeout=240,
    )
    # 6 tests, 17 specs: ads, recommendations, browse, add to cart, view cart, checkout
    result.assert_outcomes(passed=17)
    result.stdout.fnmatch_lines(["*Checking out shopping cart::The order was placed PASSED*"])
