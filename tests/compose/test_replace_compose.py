"""Bring your own service on the compose path, on a real dockerd: `--replace SERVICE=IMAGE` and
`SERVICE=compose:FILE` in the demo-shaped projects (2.0.2 and 3.0.0 layouts).

The replacement is a small image built FROM the reference image (no pulls): an HTTP server on the
front door's port that answers with its own marker and the environment it was given, so a test
sees that the user's image runs, with the environment the demo's compose gives the service and
the export delay only when asked.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from click.testing import CliRunner

from tests.compose.conftest import (
    REPO,
    demo30_shaped_project,
    demo_shaped_project,
    own_project,
    project_left,
    require_docker,
)
from tracebed.refstack.compose import build_reference_image

pytestmark = [pytest.mark.docker, pytest.mark.slow]
pytest_plugins = ["pytester"]

OVERLAY = REPO / "docker-compose.test.yml"
WATCHED = ("DEMO_MARK", "MINE", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_SERVICE_NAME")
SERVER = f"""
import http.server, json, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({{"replacement": "mine",
                           "env": {{k: os.environ.get(k) for k in {WATCHED!r}}}}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)
http.server.ThreadingHTTPServer(("", 8080), Handler).serve_forever()
"""


def _image(base: str, name: str, cmd: list[str]) -> str:
    """An image FROM `base` with its own CMD, tagged by its Dockerfile (built in seconds)."""
    dockerfile = f"FROM {base}\nCMD {json.dumps(cmd)}\n"
    tag = f"tracebed-test/{name}:{hashlib.sha256(dockerfile.encode()).hexdigest()[:12]}"
    subprocess.run(
        ["docker", "build", "-q", "-t", tag, "-"],
        input=dockerfile, text=True, capture_output=True, check=True, timeout=300,
    )  # fmt: skip
    return tag


@pytest.fixture(scope="module")
def images() -> Iterator[dict[str, str]]:
    require_docker()
    base = build_reference_image()
    made = {
        "base": base,
        "server": _image(base, "frontend", ["/opt/tracebed/bin/python", "-c", SERVER]),
        "broken": _image(
            base, "broken", ["sh", "-c", "echo my-frontend cannot start >&2; exit 3"]
        ),
        # the stand-in's own payment in an image of its own: it reads its port, flagd and
        # collector addresses from the environment compose gives the service
        "payment": _image(
            base, "payment",
            ["/opt/tracebed/bin/python", "-m", "tracebed.reference.services.payment"],
        ),  # fmt: skip
    }
    yield made
    ours = [tag for key, tag in made.items() if key != "base"]
    subprocess.run(["docker", "rmi", *ours], capture_output=True, check=False)


def _project_202(image: str, demo_dir: Path, dest: Path) -> Path:
    project = demo_shaped_project(image, demo_dir)
    # what the demo's compose gives the service, which its replacement must get too
    project["services"]["frontend-proxy"]["environment"] = {
        "DEMO_MARK": "the-demos",
        "OTEL_SERVICE_NAME": "frontend-proxy",
    }
    path = dest / "docker-compose.yml"
    path.write_text(yaml.safe_dump(project))
    return path


def test_up_runs_the_users_image_in_the_services_place_and_marks_it(
    images: dict[str, str],
    demo_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tracebed.cli import cli

    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    compose = _project_202(images["base"], demo_dir, tmp_path)
    project = own_project()
    args = ["up", "--stack", "compose", "-f", str(compose), "-f", str(OVERLAY)]
    args += ["--project", project, "--replace", f"frontend-proxy={images['server']}"]
    result = CliRunner().invoke(cli, [*args, "--detach", "--json", "--workdir", str(tmp_path / "w")])
    try:
        assert result.exit_code == 0, result.output
        summary = json.loads(result.stdout.strip().splitlines()[-1])
        assert summary["services"]["frontend-proxy"]["replaced_by"] == images["server"]
        assert "replaced_by" not in summary["services"]["otel-collector"]
        answer = requests.get(summary["frontend_url"] + "/", timeout=10).json()
        assert answer["replacement"] == "mine"  # the user's image, not the demo's command
        assert answer["env"]["DEMO_MARK"] == "the-demos"  # the demo's environment for it
        assert answer["env"]["OTEL_BSP_SCHEDULE_DELAY"] is None  # off unless asked
        labels = subprocess.run(
            ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
             "--filter", f"label=io.tracebed.replaced-by={images['server']}"],
            capture_output=True, text=True, check=True,
        ).stdout.split()  # fmt: skip
        assert len(labels) == 1
    finally:
        down = CliRunner().invoke(cli, ["down"])
    assert down.exit_code == 0, down.output
    assert not project_left(project)


def test_a_replacement_that_never_becomes_ready_names_service_image_and_log(
    images: dict[str, str], demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracebed.harness import Harness, HarnessOptions
    from tracebed.stack.errors import StackStartError

    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    compose = _project_202(images["base"], demo_dir, tmp_path)
    project = own_project()
    options = HarnessOptions(
        kind="compose",
        compose_files=(str(compose), str(OVERLAY)),
        project=project,
        workdir=tmp_path / "run",
        needs_front_door=False,
        progress=False,
        replace={"frontend-proxy": images["broken"]},
    )
    with pytest.raises(StackStartError) as err, Harness(options):
        pass
    message = str(err.value)
    assert err.value.service == "frontend-proxy"
    assert f"(replaced by: {images['broken']})" in message
    assert "my-frontend cannot start" in message  # its log tail
    assert not project_left(project)  # nothing left running


USER_TEST = """
import os
import requests

def test_the_users_compose_service_runs_in_its_place(demo_stack):
    svc = demo_stack.topology.services["frontend-proxy"]
    assert svc.replaced_by == os.environ["REPLACED_BY"]
    # probed as the original is: the demo's 3.0.0 healthcheck, evaluated by docker
    assert svc.healthcheck is not None
    ready = demo_stack.timeline.events("frontend-proxy", "ready")
    assert ready and ready[0].detail["probe"] == "healthcheck", ready
    answer = requests.get(demo_stack.frontend_url + "/", timeout=10).json()
    assert answer["replacement"] == "mine"
    assert answer["env"]["MINE"] == "from-my-compose-file"
    assert answer["env"]["OTEL_BSP_SCHEDULE_DELAY"] == "200"  # --tracebed-export-delay 0.2
    assert svc.environment["OTEL_BSP_SCHEDULE_DELAY"] == "200"
"""


def test_a_compose_service_of_the_users_replaces_one_of_a_3_0_0_project(
    images: dict[str, str],
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checkout = pytester.path / "demo"
    files = demo30_shaped_project(images["base"], checkout)
    result = CliRunner().invoke(
        __import__("tracebed.cli", fromlist=["cli"]).cli, ["compose-overlay", str(checkout)]
    )
    assert result.exit_code == 0, result.output
    mine = pytester.path / "mine" / "compose.yaml"
    mine.parent.mkdir()
    mine.write_text(
        yaml.safe_dump(
            {
                "services": {
                    "frontend-proxy": {
                        "image": images["server"],
                        "environment": {"MINE": "from-my-compose-file"},
                    }
                }
            }
        )
    )
    pytester.makepyfile(test_mine=USER_TEST)
    project = own_project()
    monkeypatch.setenv("REPLACED_BY", f"compose:{mine}")
    outcome = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tracebed-stack=compose", f"--tracebed-project={project}",
        *[f"--tracebed-compose={f}" for f in [*files, checkout / "docker-compose.test.yml"]],
        f"--tracebed-replace=frontend-proxy=compose:{mine}", "--tracebed-export-delay=0.2",
        timeout=600,
    )  # fmt: skip
    outcome.assert_outcomes(passed=1)
    assert not project_left(project)


def test_the_reference_stack_in_containers_takes_the_users_payment(
    images: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracebed.harness import Harness, HarnessOptions

    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    payment = images["payment"]
    project = own_project()
    options = HarnessOptions(
        kind="compose",
        project=project,
        workdir=tmp_path / "run",
        progress=False,
        replace={"payment": payment},
    )
    try:
        with Harness(options) as harness:
            assert harness.topology is not None
            assert harness.topology.services["payment"].replaced_by == payment
            cid = subprocess.run(
                ["docker", "ps", "-q", "--filter", f"label=com.docker.compose.project={project}",
                 "--filter", "label=com.docker.compose.service=payment"],
                capture_output=True, text=True, check=True,
            ).stdout.split()  # fmt: skip
            assert len(cid) == 1
            info = json.loads(
                subprocess.run(
                    ["docker", "inspect", cid[0]], capture_output=True, text=True, check=True
                ).stdout
            )[0]
            assert info["Config"]["Image"] == payment  # the only payment there is
            order = harness.shop().checkout().steps[-1]
            assert order.status_code == 200, order  # it charged the card
            trace = order.trace(until=lambda t: "payment" in t.services, timeout=60)
            assert "payment" in trace.services
    finally:
        assert not project_left(project)
