"""docker-compose.test.yml joined to the real demo 2.0.2 compose project changes only what it says.

Checked twice: with the real compose CLIs (`docker-compose config`, `docker compose config`; no
daemon needed) and with tracebed's own compose loader.
"""

from __future__ import annotations

import copy
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.compose.conftest import REPO, unavailable
from tracebed.stack.compose import load_compose

OVERLAY = REPO / "docker-compose.test.yml"
SHIPPED_COLLECTOR_OVERLAY = REPO / "collector-config" / "otelcol-tracebed.yml"
ENV = {
    "TRACEBED_COLLECTOR_OVERLAY": str(SHIPPED_COLLECTOR_OVERLAY),
    "TRACEBED_SINK_OTLP": "host.docker.internal:45317",
}


def _compose_clis() -> list[list[str]]:
    clis: list[list[str]] = []
    if shutil.which("docker-compose"):
        clis.append(["docker-compose"])
    if shutil.which("docker"):
        probe = subprocess.run(
            ["docker", "compose", "version"], capture_output=True, text=True, check=False
        )
        if probe.returncode == 0:
            clis.append(["docker", "compose"])
    return clis


def _config(
    cli: list[str], demo: Path, files: list[Path], env_file: Path | None = None
) -> dict[str, Any]:
    argv = [*cli, "--env-file", str(env_file or demo / "demo.env")]
    for f in files:
        argv += ["-f", str(f)]
    proc = subprocess.run(
        [*argv, "config"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **ENV},
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def _as_env_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, list):
        out: dict[str, Any] = {}
        for item in value:
            key, sep, val = str(item).partition("=")
            out[key] = val if sep else None
        return out
    return dict(value or {})


def _as_hosts(value: Any) -> dict[str, str]:
    if isinstance(value, list):
        out = {}
        for item in value:
            sep = "=" if "=" in item else ":"
            host, ip = item.split(sep, 1)
            out[host] = ip
        return out
    return dict(value or {})


def _volume_target(v: Any) -> str:
    if isinstance(v, dict):
        return str(v["target"])
    return str(v).split(":")[1]


def _port_fields(p: Any) -> tuple[str | None, str | None, str]:
    """(host_ip, published, target) of a short or long port entry."""
    if isinstance(p, dict):
        published = p.get("published")
        return (
            p.get("host_ip"),
            None if published in (None, "") else str(published),
            str(p["target"]),
        )
    parts = str(p).split("/")[0].split(":")
    if len(parts) == 3:
        return parts[0], parts[1] or None, parts[2]
    if len(parts) == 2:
        return None, parts[0], parts[1]
    return None, None, parts[0]


def _canon(node: Any, key: str = "") -> Any:
    """Order-free lists where compose itself does not keep order (v1 merges them as sets)."""
    if isinstance(node, dict):
        return {k: _canon(v, str(k)) for k, v in node.items()}
    if isinstance(node, list):
        items = [_canon(v) for v in node]
        return sorted(items, key=repr) if key in {"ports", "volumes", "expose"} else items
    return node


def _strip_allowed_changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """`after` with exactly the overlay's documented additions checked and removed."""
    after = copy.deepcopy(after)
    col_b = before["services"]["otel-collector"]
    col_a = after["services"]["otel-collector"]

    assert col_a["command"] == [*col_b["command"], "--config=/etc/otelcol-tracebed.yml"]
    col_a["command"] = col_b["command"]

    added = [v for v in col_a["volumes"] if _volume_target(v) == "/etc/otelcol-tracebed.yml"]
    assert len(added) == 1
    source = added[0]["source"] if isinstance(added[0], dict) else added[0].split(":")[0]
    assert Path(source) == SHIPPED_COLLECTOR_OVERLAY
    col_a["volumes"] = [v for v in col_a["volumes"] if v not in added]

    env_a = _as_env_dict(col_a["environment"])
    assert env_a.pop("TRACEBED_SINK_OTLP") == ENV["TRACEBED_SINK_OTLP"]
    assert env_a == _as_env_dict(col_b["environment"])
    col_a["environment"] = col_b["environment"]

    assert "extra_hosts" not in col_b
    assert _as_hosts(col_a.pop("extra_hosts")) == {"host.docker.internal": "host-gateway"}

    fp_b = before["services"]["frontend-proxy"]
    fp_a = after["services"]["frontend-proxy"]
    new_ports = [p for p in fp_a["ports"] if p not in fp_b["ports"]]
    assert [_port_fields(p) for p in new_ports] == [("127.0.0.1", None, "8080")]
    fp_a["ports"] = [p for p in fp_a["ports"] if p not in new_ports]
    return after


def _project_copy(demo: Path, name: str, dest: Path) -> Path:
    """The demo compose file in a scratch project, with empty build contexts.

    Compose v1 checks that every build context exists, and the reference copy of the demo has
    no sources; the file itself is linked, not copied, so what is checked is the real file.
    """
    (dest / name).symlink_to(demo / name)
    for svc in (yaml.safe_load((demo / name).read_text())["services"] or {}).values():
        build = svc.get("build")
        context = build.get("context") if isinstance(build, dict) else build
        if context:
            (dest / context).mkdir(parents=True, exist_ok=True)
    return dest / name


@pytest.mark.parametrize("files", ["docker-compose.yml", "docker-compose.minimal.yml"])
def test_real_compose_sees_only_the_documented_changes(
    demo_dir: Path, files: str, tmp_path: Path
) -> None:
    clis = _compose_clis()
    if not clis:
        unavailable("neither docker-compose nor `docker compose` is installed")
    demo_file = _project_copy(demo_dir, files, tmp_path)
    for cli in clis:
        before = _config(cli, demo_dir, [demo_file])
        after = _config(cli, demo_dir, [demo_file, OVERLAY])
        assert _canon(_strip_allowed_changes(before, after)) == _canon(before), " ".join(cli)


def test_tracebed_loader_sees_only_the_documented_changes(demo_dir: Path) -> None:
    environ = {**os.environ, **ENV}
    files = [demo_dir / "docker-compose.yml"]
    before = load_compose(files, env_file=demo_dir / "demo.env", environ=environ)
    after = load_compose([*files, OVERLAY], env_file=demo_dir / "demo.env", environ=environ)
    assert after.services.keys() == before.services.keys()
    stripped = _strip_allowed_changes({"services": before.services}, {"services": after.services})
    for name in ("otel-collector", "frontend-proxy"):
        # provenance the loader may record (which file last set the service); not compose's
        stripped["services"][name].pop("x-tracebed-source", None)
        before.services[name].pop("x-tracebed-source", None)
    assert _canon(stripped["services"]) == _canon(before.services)


def test_overlay_restates_the_demo_collector_command(demo_dir: Path) -> None:
    # If a demo upgrade changes the collector's --config list, the overlay must follow.
    demo = yaml.safe_load((demo_dir / "docker-compose.yml").read_text())
    ours = yaml.safe_load(OVERLAY.read_text())
    assert ours["services"]["otel-collector"]["command"][:-1] == [
        c.strip() for c in demo["services"]["otel-collector"]["command"]
    ]
    assert set(ours["services"]) == {"otel-collector", "frontend-proxy"}
    assert set(ours) == {"services"}


def _demo_checkout(demo: Path, dest: Path) -> Path:
    """A demo checkout's layout: compose file at the top, collector configs in src/."""
    dest.mkdir(parents=True, exist_ok=True)
    # A copy in the scratch checkout (tracebed's loader resolves symlinks to find the project).
    compose = dest / "docker-compose.yml"
    compose.write_text((demo / "docker-compose.yml").read_text())
    collector = dest / "src" / "otel-collector"
    collector.mkdir(parents=True, exist_ok=True)
    for name in ("otelcol-config.yml", "otelcol-config-extras.yml"):
        (collector / name).symlink_to(demo / name)
    return compose


def test_join_environment_generates_the_overlay_from_the_checkout(
    demo_dir: Path, tmp_path: Path
) -> None:
    from tracebed.stack.collector_overlay import (
        OverlayError,
        collector_config_files,
        join_environment,
        render_overlay,
    )

    compose = _demo_checkout(demo_dir, tmp_path / "demo")
    env_file = demo_dir / "demo.env"
    bases = collector_config_files([compose], env_file=env_file)
    assert bases == [
        tmp_path / "demo" / "src" / "otel-collector" / "otelcol-config.yml",
        tmp_path / "demo" / "src" / "otel-collector" / "otelcol-config-extras.yml",
    ]
    # With tracebed's overlay in the project too, its own file is not a base.
    assert collector_config_files([compose, OVERLAY], env_file=env_file) == bases

    env = join_environment([compose], 4999, tmp_path / "run", env_file=env_file)
    assert env["TRACEBED_SINK_OTLP"] == "host.docker.internal:4999"
    generated = Path(env["TRACEBED_COLLECTOR_OVERLAY"]).read_text()
    assert generated == render_overlay(
        [demo_dir / "otelcol-config.yml", demo_dir / "otelcol-config-extras.yml"]
    )
    assert generated == SHIPPED_COLLECTOR_OVERLAY.read_text()

    with pytest.raises(OverlayError, match="sink port"):
        join_environment([compose], 0, tmp_path / "run", env_file=env_file)
    other = tmp_path / "other.yml"
    other.write_text("services:\n  web:\n    image: x\n")
    with pytest.raises(OverlayError, match="no 'otel-collector' service"):
        collector_config_files([other])
    other.write_text(
        "services:\n  otel-collector:\n    image: x\n    command: ['--config=/etc/c.yml']\n"
    )
    with pytest.raises(OverlayError, match="not a file mounted from the host"):
        collector_config_files([other])


# -- demo 3.0.0: compose.yaml + compose.full.yaml + compose.observability.yaml ------------------


def _overlay_for(files: list[Path], env_file: Path, dest: Path) -> Path:
    """docker-compose.test.yml as `tracebed compose-overlay` writes it for these files."""
    from tracebed.stack.collector_overlay import collector_command, render_compose_overlay

    command = collector_command(files, env_file=env_file)
    dest.write_text(render_compose_overlay(OVERLAY.read_text(), command))
    return dest


def test_the_generated_overlay_for_2_0_2_is_the_shipped_one(demo_dir: Path) -> None:
    from tracebed.stack.collector_overlay import collector_command, render_compose_overlay

    command = collector_command([demo_dir / "docker-compose.yml"], env_file=demo_dir / "demo.env")
    assert render_compose_overlay(OVERLAY.read_text(), command) == OVERLAY.read_text()


@pytest.mark.parametrize(
    "layers",
    [
        ("compose.yaml",),
        ("compose.yaml", "compose.full.yaml"),
        ("compose.yaml", "compose.full.yaml", "compose.observability.yaml"),
    ],
)
def test_real_compose_sees_only_the_documented_changes_at_3_0_0(
    layers: tuple[str, ...], tmp_path: Path
) -> None:
    from tests.demo_layout import demo30_checkout

    clis = _compose_clis()
    if not clis:
        unavailable("neither docker-compose nor `docker compose` is installed")
    checkout = demo30_checkout(tmp_path / "demo")
    files = [checkout / f for f in layers]
    env_file = checkout / ".env"
    overlay = _overlay_for(files, env_file, checkout / "docker-compose.test.yml")
    for cli in clis:
        before = _config(cli, checkout, files, env_file)
        after = _config(cli, checkout, [*files, overlay], env_file)
        # the collector keeps the layer's own configs, in order, and --feature-gates
        assert (
            after["services"]["otel-collector"]["command"][:-1]
            == before["services"]["otel-collector"]["command"]
        )
        assert _canon(_strip_allowed_changes(before, after)) == _canon(before), " ".join(cli)


def test_a_mismatched_overlay_is_refused_in_one_line(tmp_path: Path) -> None:
    from tests.demo_layout import LAYERS, demo30_checkout
    from tracebed.stack.collector_overlay import (
        OverlayError,
        check_overlay_command,
        join_environment,
        render_overlay,
    )

    checkout = demo30_checkout(tmp_path / "demo")
    env_file = checkout / ".env"
    everything = [checkout / f for f in LAYERS]
    core_only = _overlay_for([checkout / "compose.yaml"], env_file, tmp_path / "core.test.yml")
    # generated for compose.yaml alone, run with all three layers: the collector would lose the
    # full and observability configs (and with them otlp_grpc/jaeger)
    with pytest.raises(OverlayError) as info:
        check_overlay_command([*everything, core_only], env_file=env_file)
    message = str(info.value)
    assert "\n" not in message
    assert f"tracebed compose-overlay {checkout} --compose {checkout / 'compose.yaml'}" in message
    assert "--config=/etc/otelcol-config-observability.yml" in message
    with pytest.raises(OverlayError, match="regenerate it"):
        join_environment([*everything, core_only], 4999, tmp_path / "run", env_file=env_file)
    with pytest.raises(OverlayError, match="regenerate it"):  # the shipped one is 2.0.2's
        check_overlay_command([*everything, OVERLAY], env_file=env_file)

    right = _overlay_for(everything, env_file, tmp_path / "all.test.yml")
    check_overlay_command([*everything, right], env_file=env_file)
    env = join_environment([*everything, right], 4999, tmp_path / "run", env_file=env_file)
    collector = checkout / "src" / "otel-collector"
    assert Path(env["TRACEBED_COLLECTOR_OVERLAY"]).read_text() == render_overlay(
        [collector / n for n in ("otelcol-config.yml", "otelcol-config-full.yml",
                                 "otelcol-config-observability.yml", "otelcol-config-extras.yml")]
    )  # fmt: skip


@pytest.mark.parametrize("release", ["2.0.2", "3.0.0"])
def test_real_compose_gives_every_service_the_export_delays_and_nothing_else(
    release: str, demo_dir: Path, tmp_path: Path
) -> None:
    # `tracebed compose-overlay --export-delay 0.2`: the harness's export delays, for a project
    # started by hand, in every service, merged into each one's own environment.
    from tests.demo_layout import LAYERS, demo30_checkout
    from tracebed.harness.core import export_delay_environment
    from tracebed.stack.collector_overlay import (
        collector_command,
        project_services,
        render_compose_overlay,
    )

    clis = _compose_clis()
    if not clis:
        unavailable("neither docker-compose nor `docker compose` is installed")
    if release == "2.0.2":
        root, env_file = tmp_path, demo_dir / "demo.env"
        files = [_project_copy(demo_dir, "docker-compose.yml", root)]
    else:
        root = demo30_checkout(tmp_path / "demo")
        env_file, files = root / ".env", [root / f for f in LAYERS]
    delays = export_delay_environment(0.2)
    overlay = root / "docker-compose.test.yml"
    overlay.write_text(
        render_compose_overlay(
            OVERLAY.read_text(),
            collector_command(files, env_file=env_file),
            delays,
            project_services(files, env_file=env_file),
        )
    )
    for cli in clis:
        before = _config(cli, root, files, env_file)
        after = _config(cli, root, [*files, overlay], env_file)
        assert after["services"].keys() == before["services"].keys()
        for name, svc in after["services"].items():
            env = _as_env_dict(svc.pop("environment", None))
            own = _as_env_dict(before["services"][name].get("environment"))
            assert {k: env.get(k) for k in delays} == delays, name
            # the rest as it was (a delay the demo sets itself is overridden, nothing more)
            rest = {k: v for k, v in env.items() if k not in delays}
            rest.update({k: v for k, v in own.items() if k in delays})
            if rest or "environment" in before["services"][name]:
                svc["environment"] = rest
                before["services"][name]["environment"] = own
        assert _canon(_strip_allowed_changes(before, after)) == _canon(before), " ".join(cli)
