"""Demo 3.0.0's reference files laid out as in the demo's repository (per its MANIFEST.md).

The compose files name their collector configs, init.sql and flag file by repository paths
(``./src/otel-collector/...``, ``./src/postgresql/init.sql``); a test that reads or runs them
needs that layout. The compose files and .env are copied (tracebed's loader resolves symlinks
to find the project directory); the rest is linked, so what is read is the real file.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
DEMO30 = (REFERENCE / "otel-demo-3.0.0").resolve()

# local reference file -> its path in the demo repository at 3.0.0 (MANIFEST.md)
LAYOUT = {
    "compose.yaml": "compose.yaml",
    "compose.full.yaml": "compose.full.yaml",
    "compose.observability.yaml": "compose.observability.yaml",
    "compose.agent.yaml": "compose.agent.yaml",
    "demo.env": ".env",
    "otel-config.yml": "otel-config.yml",
    "otelcol-config.yml": "src/otel-collector/otelcol-config.yml",
    "otelcol-config-full.yml": "src/otel-collector/otelcol-config-full.yml",
    "otelcol-config-observability.yml": "src/otel-collector/otelcol-config-observability.yml",
    "otelcol-config-extras.yml": "src/otel-collector/otelcol-config-extras.yml",
    "demo.flagd.json": "src/flagd/demo.flagd.json",
    "init.sql": "src/postgresql/init.sql",
}
LAYERS = ("compose.yaml", "compose.full.yaml", "compose.observability.yaml")


def require_demo30() -> Path:
    if not (DEMO30 / "compose.yaml").is_file():
        pytest.skip(f"the demo 3.0.0 reference files are not at {DEMO30}")
    return DEMO30


def demo30_checkout(dest: Path) -> Path:
    """``dest`` laid out as a demo 3.0.0 checkout; returns ``dest``."""
    demo = require_demo30()
    for local, repo_path in LAYOUT.items():
        target = dest / repo_path
        target.parent.mkdir(parents=True, exist_ok=True)
        if local.startswith("compose") or local == "demo.env":
            target.write_bytes((demo / local).read_bytes())
        else:
            target.symlink_to(demo / local)
    return dest
