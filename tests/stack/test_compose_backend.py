"""The compose backend against a real dockerd, with a tiny image from a debootstrap base.

Marked `docker`: in CI (CI=true) a missing dockerd fails these tests; locally they skip and
say why.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tracebed.stack import Stack, StackStartError, Topology
from tracebed.stack.backends import ComposeBackend, ExternalBackend
from tracebed.stack.backends.compose import PROJECT_LABEL, compose_command, docker_available
from tracebed.stack.state import list_records

from .conftest import PY

pytestmark = pytest.mark.docker


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI=true but Docker is unavailable: {reason}", pytrace=False)
    pytest.skip(f"Docker unavailable: {reason}")


@pytest.fixture(scope="module")
def base_image() -> str:
    ok, reason = docker_available()
    if not ok:
        _unavailable(reason)
    try:
        compose_command()
    except Exception as exc:  # noqa: BLE001 - any reason is a reason to skip/fail
        _unavailable(str(exc))
    try:
        from tracebed.refstack.images import ensure_base_image
    except ImportError as exc:
        _unavailable(f"tracebed.refstack.images is not available: {exc}")
    try:
        return ensure_base_image()
    except Exception as exc:  # noqa: BLE001
        _unavailable(f"cannot build the debootstrap base image: {exc}")
        raise


def _docker_ids(kind: str, project: str) -> list[str]:
    verb = ["ps", "-a"] if kind == "ps" else [kind, "ls"]
    cmd = ["docker", *verb, "-q", "--filter", f"label={PROJECT_LABEL}={project}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=True)
    return res.stdout.split()


def assert_project_gone(project: str) -> None:
    for kind in ("ps", "network", "volume"):
        left = _docker_ids(kind, project)
        assert not left, f"{kind} of project {project} left behind: {left}"


THREE_TIERS = """
services:
  cache:
    image: ${BASE_IMAGE}
    command: ["redis-server", "--bind", "0.0.0.0", "--protected-mode", "no", "--save", ""]
    healthcheck:
      test: ["CMD", "redis-cli", "ping"]
      interval: 1s
      timeout: 2s
      retries: 20
    volumes: ["cache-data:/data"]
  api:
    image: ${BASE_IMAGE}
    command: ["python3", "-m", "http.server", "8000"]
    ports: ["8000"]
    depends_on:
      cache: {condition: service_healthy}
  web:
    image: ${BASE_IMAGE}
    command: ["python3", "-m", "http.server", "8001"]
    ports: ["8001"]
    depends_on: [api]
    x-tracebed:
      probe: {type: http, port: 8001, path: /, status: 200}
volumes:
  cache-data: {}
"""


@pytest.fixture
def compose_env(base_image: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setenv("BASE_IMAGE", base_image)
    yield base_image


def test_three_tiers_with_healthcheck(tmp_path: Path, compose_env: str) -> None:
    f = tmp_path / "compose.yml"
    f.write_text(THREE_TIERS)
    topo = Topology.from_compose([f])
    assert topo.tiers == [["cache"], ["api"], ["web"]]
    backend = ComposeBackend(grace_s=1)
    with Stack(topo, backend, run_dir=tmp_path / "run") as stack:
        project = str(backend.project_name)
        assert project.startswith("tracebed-")
        tl = stack.timeline
        tl.assert_order()
        assert tl.ready_at("cache") < tl.ready_at("api") < tl.ready_at("web")  # type: ignore
        cache_probes = tl.events("cache", "probe")
        assert cache_probes[-1].detail["detail"] == "docker health: healthy"
        host, port = stack.endpoint("api").split(":")
        assert host == "127.0.0.1" and int(port) != 8000  # a random published port
        assert requests.get(stack.url("web"), timeout=5).status_code == 200
        # The same running project seen as an external stack: only probed, never touched.
        seen = Stack(topo, ExternalBackend(compose_project=project)).start(progress=False)
        assert [e.kind for e in seen.timeline.events("cache")][-1] == "seen_ready"
        assert seen.endpoint("api") == stack.endpoint("api")
        seen.stop()
        assert len(_docker_ids("ps", project)) == 3  # stop() of an external stack is a no-op
        labels = subprocess.run(
            [
                "docker",
                "inspect",
                "--format",
                "{{json .Config.Labels}}",
                _docker_ids("ps", project)[0],
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(labels.stdout)["io.tracebed.run"] == stack.record.run_id
    assert_project_gone(project)
    assert list_records() == []


def test_failing_container_reports_logs_and_cleans_up(tmp_path: Path, compose_env: str) -> None:
    f = tmp_path / "compose.yml"
    f.write_text("""
services:
  base:
    image: ${BASE_IMAGE}
    command: ["sleep", "300"]
    x-tracebed: {probe: {type: started}}
  broken:
    image: ${BASE_IMAGE}
    command: ["sh", "-c", "echo cannot open config; exit 4"]
    depends_on: [base]
    ports: ["9000"]
  after:
    image: ${BASE_IMAGE}
    command: ["sleep", "300"]
    depends_on: [broken]
""")
    backend = ComposeBackend(grace_s=1)
    stack = Stack(Topology.from_compose([f]), backend, run_dir=tmp_path / "run")
    with pytest.raises(StackStartError) as info:
        stack.start()
    err = info.value
    assert err.service == "broken" and err.tier == 1
    assert "exited with code 4" in err.reason
    assert "cannot open config" in err.log_tail
    assert stack.timeline.requested_at("after") is None
    assert_project_gone(str(backend.project_name))


OWNER = """
import sys, time
from tracebed.stack import Stack, Topology
from tracebed.stack.backends import ComposeBackend, ExternalBackend
backend = ComposeBackend(grace_s=1)
stack = Stack(Topology.from_compose([sys.argv[1]]), backend, run_dir=sys.argv[2])
stack.start(progress=False)
print(backend.project_name, flush=True)
time.sleep(300)
"""


def test_killed_run_is_removed_by_label(tmp_path: Path, compose_env: str) -> None:
    f = tmp_path / "compose.yml"
    f.write_text("""
services:
  idle:
    image: ${BASE_IMAGE}
    command: ["sleep", "300"]
    x-tracebed: {probe: {type: started}}
""")
    owner = subprocess.Popen(
        [PY, "-c", OWNER, str(f), str(tmp_path / "run")],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert owner.stdout is not None
        project = owner.stdout.readline().strip()
        assert project.startswith("tracebed-"), project
        os.kill(owner.pid, signal.SIGKILL)
        owner.wait(timeout=30)
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
    assert _docker_ids("ps", project), "the container should outlive its killed owner"
    # Even without the run record, the owner label tells the next run it is abandoned.
    for record in list_records():
        record.remove()
    assert project in ComposeBackend.cleanup_orphans()
    assert_project_gone(project)
