"""`tracebed compose-overlay DIR` gives a demo checkout the overlay files, from the package alone."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from tracebed.cli import cli
from tracebed.paths import compose_overlay_file

DEMO = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The demo 2.0.2 files laid out as in the demo's repository."""
    if not (DEMO / "docker-compose.yml").is_file():
        pytest.skip(f"the demo 2.0.2 reference files are not at {DEMO}")
    root = tmp_path / "demo"
    (root / "src" / "otel-collector").mkdir(parents=True)
    shutil.copy(DEMO / "docker-compose.yml", root)
    shutil.copy(DEMO / "demo.env", root / ".env")
    for name in ("otelcol-config.yml", "otelcol-config-extras.yml"):
        shutil.copy(DEMO / name, root / "src" / "otel-collector" / name)
    return root


def test_writes_the_compose_overlay_and_a_collector_overlay_of_the_checkouts_configs(
    checkout: Path,
) -> None:
    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout)])
    assert result.exit_code == 0, result.output
    written = checkout / "docker-compose.test.yml"
    assert written.read_bytes() == compose_overlay_file().read_bytes()
    overlay = yaml.safe_load((checkout / "src/otel-collector/otelcol-tracebed.yml").read_text())
    assert "otlp/tracebed" in overlay["exporters"]
    base = yaml.safe_load((checkout / "src/otel-collector/otelcol-config.yml").read_text())
    for name, pipeline in base["service"]["pipelines"].items():
        if name.startswith("traces"):
            exporters = overlay["service"]["pipelines"][name]["exporters"]
            assert exporters == [*pipeline["exporters"], "otlp/tracebed"]
    assert "docker compose -f docker-compose.yml -f docker-compose.test.yml" in result.output


def test_a_directory_with_no_compose_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compose-overlay", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path}: no docker-compose.yml or compose.yaml; name the files with --compose"
    ]
