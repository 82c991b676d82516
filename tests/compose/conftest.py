"""Shared pieces of the Docker Compose tests.

Tests that need a daemon call ``require_docker()`` (through the ``docker_daemon`` fixture): in
CI (CI=true) a missing or dead dockerd is a failure, locally it is a skip that says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from tracebed.stack import Stack

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO / ".." / "shared"
DEMO = (SHARED / "reference" / "otel-demo-2.0.2").resolve()


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Fail in CI, skip locally: CI must prove the Docker path, a laptop may lack Docker."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        unavailable(f"{name} is not installed (scripts/setup.sh installs it)")
        raise AssertionError  # unreachable: unavailable() raises
    return path


def require_docker() -> None:
    require_tool("docker")
    try:
        proc = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except subprocess.TimeoutExpired:
        unavailable("`docker info` did not answer within 20 s")
        return
    if proc.returncode != 0:
        unavailable(
            "dockerd is not answering (start it with scripts/docker-up.sh): "
            + (proc.stderr.strip().splitlines() or ["no output"])[-1]
        )


def require_demo() -> Path:
    if not (DEMO / "docker-compose.yml").is_file():
        unavailable(f"the demo 2.0.2 reference files are not at {DEMO}")
    return DEMO


def labelled(kind: str, label: str) -> list[str]:
    argv = {"container": ["docker", "ps", "-a", "-q"]}.get(kind, ["docker", kind, "ls", "-q"])
    res = subprocess.run(
        [*argv, "--filter", f"label={label}"], capture_output=True, text=True, check=True
    )
    return res.stdout.split()


def assert_nothing_left(stack: Stack) -> None:
    """No container of the run (its label) and no container, network or volume of its project."""
    project = f"com.docker.compose.project={stack.backend.project_name}"  # type: ignore[attr-defined]
    left = {
        "run containers": labelled("container", f"io.tracebed.run={stack.record.run_id}"),
        **{f"project {k}s": labelled(k, project) for k in ("container", "network", "volume")},
    }
    assert all(not v for v in left.values()), left


@pytest.fixture(scope="session")
def docker_daemon() -> None:
    require_docker()


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    return require_demo()


STANDIN = Path(__file__).resolve().parent / "standin"


def demo_shaped_project(image: str, demo_dir: Path) -> dict[str, Any]:
    """A compose project shaped like the demo, with stand-ins for images that cannot be pulled:
    `otel-collector` runs the demo's own collector configs (merged with any overlay, as the
    collector merges them) through rotel; `frontend-proxy` is a plain HTTP server."""
    return {
        "services": {
            "otel-collector": {
                "image": image,
                "entrypoint": ["/opt/tracebed/bin/python", "/standin/otelcol.py"],
                # the demo's own command and config mounts (docker-compose.yml 2.0.2)
                "command": [
                    "--config=/etc/otelcol-config.yml",
                    "--config=/etc/otelcol-config-extras.yml",
                ],
                "volumes": [
                    f"{demo_dir / 'otelcol-config.yml'}:/etc/otelcol-config.yml",
                    f"{demo_dir / 'otelcol-config-extras.yml'}:/etc/otelcol-config-extras.yml",
                    f"{STANDIN}:/standin:ro",
                ],
                "ports": ["4317"],
            },
            "frontend-proxy": {
                "image": image,
                "command": ["python", "-m", "http.server", "8080"],
                "depends_on": {"otel-collector": {"condition": "service_started"}},
            },
        }
    }
