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
        if name.startswith(("traces", "metrics", "logs")):
            exporters = overlay["service"]["pipelines"][name]["exporters"]
            assert exporters == [*pipeline["exporters"], "otlp/tracebed"]
    assert set(overlay["service"]["pipelines"]) == {"traces", "metrics", "logs"}
    assert "docker compose -f docker-compose.yml -f docker-compose.test.yml" in result.output


def test_a_directory_with_no_compose_file_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["compose-overlay", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"Error: {tmp_path}: no docker-compose.yml or compose.yaml; name the files with --compose"
    ]


def test_a_3_0_0_checkout_gets_the_overlay_for_its_three_layers(tmp_path: Path) -> None:
    from tests.demo_layout import LAYERS, demo30_checkout
    from tracebed.stack.collector_overlay import collector_command

    checkout = demo30_checkout(tmp_path / "demo")
    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout)])
    assert result.exit_code == 0, result.output
    files = [checkout / f for f in LAYERS]
    written = yaml.safe_load((checkout / "docker-compose.test.yml").read_text())
    # the default stack's own command (four configs, --feature-gates), then tracebed's config
    assert written["services"]["otel-collector"]["command"] == [
        *collector_command(files, env_file=checkout / ".env"),
        "--config=/etc/otelcol-tracebed.yml",
    ]
    assert len([a for a in written["services"]["otel-collector"]["command"] if "config=" in a]) == 5
    shipped = yaml.safe_load(compose_overlay_file().read_text())
    del written["services"]["otel-collector"]["command"]
    del shipped["services"]["otel-collector"]["command"]
    assert written == shipped  # nothing else differs
    overlay = yaml.safe_load((checkout / "src/otel-collector/otelcol-tracebed.yml").read_text())
    assert overlay["service"]["pipelines"] == {
        # 3.0.0 names its exporters otlp_grpc (otlp is a deprecated alias since collector 0.144)
        "traces": {
            "exporters": ["debug", "otlp_grpc/jaeger", "span_metrics", "otlp_grpc/tracebed"]
        },
        "metrics": {"exporters": ["debug", "otlp_http/prometheus", "otlp_grpc/tracebed"]},
        "logs": {"exporters": ["debug", "opensearch", "otlp_grpc/tracebed"]},
    }
    names = " ".join(f"-f {f}" for f in LAYERS)
    assert f"next: docker compose {names} -f docker-compose.test.yml config -q" in result.output

    # named files win over the default; a docker-compose.test.yml among them is not the demo's
    result = CliRunner().invoke(
        cli,
        ["compose-overlay", str(checkout), "--compose", str(checkout / "compose.yaml")]
        + ["--compose", str(checkout / "docker-compose.test.yml")],
    )
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((checkout / "docker-compose.test.yml").read_text())
    assert written["services"]["otel-collector"]["command"] == [
        "--config=/etc/otelcol-config.yml",
        "--config=/etc/otelcol-config-extras.yml",
        "--feature-gates=service.profilesSupport",
        "--config=/etc/otelcol-tracebed.yml",
    ]


def _environment(svc: dict[str, object]) -> dict[str, str]:
    env = svc.get("environment") or []
    assert isinstance(env, list)
    return dict(str(item).split("=", 1) for item in env)


def test_export_delay_is_off_unless_asked(checkout: Path) -> None:
    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout)])
    assert result.exit_code == 0, result.output
    written = yaml.safe_load((checkout / "docker-compose.test.yml").read_text())
    assert set(written["services"]) == {"otel-collector", "frontend-proxy"}
    for svc in written["services"].values():
        assert not [k for k in _environment(svc) if k.startswith("OTEL_")]


@pytest.mark.parametrize(("seconds", "metric_ms"), [("0.2", "1000"), ("2.5", "2500")])
def test_export_delay_reaches_every_service_of_the_project(
    checkout: Path, seconds: str, metric_ms: str
) -> None:
    from tracebed.harness.core import export_delay_environment
    from tracebed.stack.compose import load_compose

    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout), "--export-delay", seconds])
    assert result.exit_code == 0, result.output
    assert f"export delay {seconds} s for every service" in result.output
    text = (checkout / "docker-compose.test.yml").read_text()
    written = yaml.safe_load(text)
    project = load_compose([checkout / "docker-compose.yml"], profiles=("*",))
    assert set(written["services"]) == set(project.services)
    delays = export_delay_environment(float(seconds))
    assert delays["OTEL_METRIC_EXPORT_INTERVAL"] == metric_ms
    for name, svc in written["services"].items():
        assert {k: v for k, v in _environment(svc).items() if k.startswith("OTEL_")} == delays, name
    # what was there stays: the collector's sink variable, the command, the front door's port
    assert _environment(written["services"]["otel-collector"])["TRACEBED_SINK_OTLP"] == (
        "${TRACEBED_SINK_OTLP:-host.docker.internal:4317}"
    )
    shipped = yaml.safe_load(compose_overlay_file().read_text())
    for name, svc in shipped["services"].items():
        got = {k: v for k, v in written["services"][name].items() if k != "environment"}
        assert got == {k: v for k, v in svc.items() if k != "environment"}
    assert text.startswith(compose_overlay_file().read_text().split("services:\n")[0])
    # compose merges it into the demo's own environment, key by key
    merged = load_compose([checkout / "docker-compose.yml", checkout / "docker-compose.test.yml"])
    checkout_env = merged.services["checkout"]["environment"]
    assert checkout_env["OTEL_BSP_SCHEDULE_DELAY"] == delays["OTEL_BSP_SCHEDULE_DELAY"]
    assert checkout_env["OTEL_SERVICE_NAME"] == "checkout"


def test_a_negative_export_delay_is_refused_in_one_line(checkout: Path) -> None:
    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout), "--export-delay", "-1"])
    assert result.exit_code == 2
    assert "--export-delay" in result.output and "Traceback" not in result.output
    assert not (checkout / "docker-compose.test.yml").exists()
