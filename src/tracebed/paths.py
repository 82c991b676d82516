"""Where the package's data lives: `resources/` inside the installed package.

`fixtures/` (expected chains, contracts, readiness, seed tiers), the compose overlay
`docker-compose.test.yml` and `collector-config/` ship as package data, so a wheel works from any
directory; the checkout's top-level names are links to them.
"""

from __future__ import annotations

import os
from pathlib import Path

from tracebed.errors import ConfigError

RESOURCES = Path(__file__).resolve().parent / "resources"


def fixtures_dir() -> Path:
    """`$TRACEBED_FIXTURES` (an override), else the fixtures shipped in the package."""
    configured = os.environ.get("TRACEBED_FIXTURES")
    if configured:
        return Path(configured)
    return RESOURCES / "fixtures"


#: The demo releases tracebed knows (fixtures, the stand-in's modes), newest -- the default,
#: the demo's current release -- first. The same as ``tracebed.reference.versions.VERSIONS`` (a
#: test checks it), kept here so that no layer depends on the stand-in to name them.
DEMO_VERSIONS: tuple[str, ...] = ("3.0.0", "2.0.2")
DEFAULT_DEMO_VERSION = DEMO_VERSIONS[0]


def release_fixtures(kind: str, version: str | None = None) -> Path:
    """`fixtures/<kind>/<version>/` (kind: contracts, chains), for the demo release `version`.

    A fixtures tree without per-release folders (a `$TRACEBED_FIXTURES` override laid out
    flat) is used as it is, whatever the release.
    """
    base = fixtures_dir() / kind
    release = base / (version or DEFAULT_DEMO_VERSION)
    if release.is_dir():
        return release
    if any(base.glob("*.y*ml")):
        return base
    known = sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []
    raise ConfigError(
        f"no {kind} for demo release {version or DEFAULT_DEMO_VERSION} under {base} "
        f"(releases there: {', '.join(known) or 'none'})"
    )


def release_versions(kind: str) -> list[str]:
    """The demo releases `fixtures/<kind>/` holds, oldest first ([] for a flat tree)."""
    base = fixtures_dir() / kind
    if not base.is_dir():
        return []
    found = [p.name for p in base.iterdir() if p.is_dir() and any(p.glob("*.y*ml"))]
    return sorted(found, key=lambda v: tuple(int(x) if x.isdigit() else 0 for x in v.split(".")))


def compose_overlay_file() -> Path:
    """`docker-compose.test.yml`: the overlay that joins a demo compose project to tracebed."""
    return RESOURCES / "docker-compose.test.yml"


def collector_config_dir() -> Path:
    """`collector-config/`: collector overlays (the one for demo 2.0.2 is pre-generated)."""
    return RESOURCES / "collector-config"
