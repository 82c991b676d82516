"""Where the project's data lives: `fixtures/` (expected chains, contracts, readiness)."""

from __future__ import annotations

import os
from pathlib import Path


def fixtures_dir() -> Path:
    """`$TRACEBED_FIXTURES`, else the checkout's `fixtures/` (editable installs)."""
    configured = os.environ.get("TRACEBED_FIXTURES")
    if configured:
        return Path(configured)
    candidate = Path(__file__).resolve().parents[2] / "fixtures"
    if candidate.is_dir():
        return candidate
    raise FileNotFoundError(
        "cannot find tracebed's fixtures/ directory: set TRACEBED_FIXTURES to it "
        "(it sits at the top of the tracebed checkout)"
    )
