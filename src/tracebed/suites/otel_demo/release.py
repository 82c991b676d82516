"""Which demo release the stack under test runs, and the suite's fixtures for it.

The suite holds contracts and chains per release (`fixtures/contracts/<release>/`,
`fixtures/chains/<release>/`): the releases differ in span names, kinds and attribute keys
(demo 3.0.0 renamed `app.*` to `demo.*`), so one set cannot describe both. Tests are
collected for every release the fixtures hold and skip those of another release than the
running stack's; the stack is only known once started, after collection.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tracebed.paths import DEFAULT_DEMO_VERSION, release_fixtures, release_versions

ENV = "TRACEBED_DEMO_VERSION"


def _from_env_file(path: Path) -> str | None:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for key in ("DEMO_VERSION", "IMAGE_VERSION"):
        for line in lines:
            name, sep, value = line.strip().partition("=")
            if sep and name.strip() == key and value.strip().strip("'\""):
                return value.strip().strip("'\"")
    return None


def demo_version(demo_stack: Any) -> str:
    """The release the stack runs: its metadata, the stand-in's mode, env, `.env`, default.

    Order: `demo_stack.meta.demo_version`; the reference stack's topology extras
    (`x-tracebed-stack.demo_version`); `$TRACEBED_DEMO_VERSION`; the compose project's
    `.env` (`DEMO_VERSION`, then `IMAGE_VERSION`); else the demo's current release.
    """
    meta = getattr(demo_stack, "meta", None)
    found = getattr(meta, "demo_version", None)
    if found:
        return str(found)
    topology = getattr(demo_stack, "topology", None)
    extras = getattr(topology, "extras", None) or {}
    stack_extras = extras.get("x-tracebed-stack") if isinstance(extras, dict) else None
    if isinstance(stack_extras, dict) and stack_extras.get("demo_version"):
        return str(stack_extras["demo_version"])
    if os.environ.get(ENV):
        return os.environ[ENV]
    for path in _env_files(demo_stack):
        found = _from_env_file(path)
        if found:
            return found
    return DEFAULT_DEMO_VERSION


def _env_files(demo_stack: Any) -> list[Path]:
    """The compose project's `.env`: the topology's env file, else `.env` by its compose files."""
    topology = getattr(demo_stack, "topology", None)
    out: list[Path] = []
    env_file = getattr(topology, "env_file", None)
    if env_file:
        out.append(Path(env_file))
    for f in getattr(topology, "compose_files", None) or ():
        candidate = Path(f).parent / ".env"
        if candidate not in out:
            out.append(candidate)
    return out


def releases(kind: str) -> list[str]:
    """The releases whose `kind` fixtures the package holds ([""] for a flat tree)."""
    return release_versions(kind) or [""]


def fixtures_for(kind: str, release: str) -> Path:
    return release_fixtures(kind, release or None)


def require_release(demo_stack: Any, release: str) -> str:
    """Skip unless the stack runs `release` ("" = any); the running release otherwise."""
    running = demo_version(demo_stack)
    if release and running != release:
        pytest.skip(f"a demo {release} case; this stack runs demo {running}")
    return running
