"""Where the package's data lives: `resources/` inside the installed package.

`fixtures/` (expected chains, contracts, readiness, seed tiers), the compose overlay
`docker-compose.test.yml` and `collector-config/` ship as package data, so a wheel works from any
directory; the checkout's top-level names are links to them.
"""

from __future__ import annotations

import os
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent / "resources"


def fixtures_dir() -> Path:
    """`$TRACEBED_FIXTURES` (an override), else the fixtures shipped in the package."""
    configured = os.environ.get("TRACEBED_FIXTURES")
    if configured:
        return Path(configured)
    return RESOURCES / "fixtures"


def compose_overlay_file() -> Path:
    """`docker-compose.test.yml`: the overlay that joins a demo compose project to tracebed."""
    return RESOURCES / "docker-compose.test.yml"


def collector_config_dir() -> Path:
    """`collector-config/`: collector overlays (the one for demo 2.0.2 is pre-generated)."""
    return RESOURCES / "collector-config"
