"""The bundled suite with `--tracebed-stack=compose`: the reference stack in containers, tier
by tier, with the same readiness and ordering checks as the local backend."""

from __future__ import annotations

import pytest

from tests.compose.conftest import own_project, project_left

pytest_plugins = ["pytester"]


@pytest.mark.docker
@pytest.mark.slow
def test_bundled_suite_passes_on_compose(pytester: pytest.Pytester, docker_daemon: None) -> None:
    project = own_project()  # what is left is this run's, whatever else shares the dockerd
    result = pytester.runpytest_subprocess(
        "--pyargs",
        "tracebed.suites.otel_demo",
        "-p",
        "no:cacheprovider",
        "--tracebed-stack=compose",
        f"--tracebed-project={project}",
        # Startup ordering and every flow's call chain; contracts and faults run on the local
        # backend (the same services, the same spans).
        "-k",
        "test_startup or test_flows",
        timeout=1500,
    )
    outcomes = result.parseoutcomes()
    failed = outcomes.get("failed", 0) + outcomes.get("errors", 0)
    assert failed == 0, result.stdout.str()[-5000:]
    assert outcomes.get("passed", 0) >= 11, result.stdout.str()[-2000:]
    left = project_left(project)
    assert not left, f"the run left behind: {left}"
