"""The bundled suite's one fixture of its own: the stack's release, named in the report."""

from __future__ import annotations

from typing import Any

import pytest

from tracebed.plugin.report import set_demo_version
from tracebed.suites.otel_demo.release import demo_version


@pytest.fixture(autouse=True)
def _tracebed_report_release(request: pytest.FixtureRequest, demo_stack: Any) -> None:
    """Tell the report which demo release the stack runs (its index page's header)."""
    set_demo_version(request.config, demo_version(demo_stack))
