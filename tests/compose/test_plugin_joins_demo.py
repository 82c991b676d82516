"""The pytest plugin joining a demo-shaped compose project through docker-compose.test.yml.

`--tracebed-stack=compose --tracebed-compose PROJECT --tracebed-compose docker-compose.test.yml`:
the harness generates the collector overlay from the project's own collector configs, sets the
variables the overlay reads, and listens on docker's bridge gateway so the containers reach the
sink. (The demo's images cannot be pulled here: the project is the stand-in of test_demo_join.)
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.compose.conftest import REPO, demo_shaped_project, own_project, project_left
from tracebed.refstack.compose import build_reference_image

pytest_plugins = ["pytester"]

USER_TEST = """
import os
import secrets
import requests
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

def test_collector_reaches_the_plugins_sink(demo_stack, span_sink):
    assert span_sink.host != "127.0.0.1"  # the bridge gateway, where containers reach the host
    # the project the test named: what it finds left afterwards is this run's
    assert demo_stack.stack.backend.project_name == os.environ["TRACEBED_TEST_PROJECT"]
    assert demo_stack.frontend_url.startswith("http://127.0.0.1:")
    assert requests.get(demo_stack.frontend_url + "/", timeout=10).status_code == 200
    provider = TracerProvider(resource=Resource.create({"service.name": "plugin-join"}))
    exporter = OTLPSpanExporter(endpoint=demo_stack.endpoint("otel-collector"), insecure=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    name = "join-" + secrets.token_hex(4)
    with provider.get_tracer("t").start_as_current_span(name) as span:
        trace_id = format(span.get_span_context().trace_id, "032x")
    provider.shutdown()
    trace = span_sink.wait_for_trace(trace_id, until=lambda t: bool(t.named(name)), timeout=30)
    assert [s.service for s in trace.named(name)] == ["plugin-join"]
"""


@pytest.mark.docker
@pytest.mark.slow
def test_plugin_joins_a_demo_shaped_project(
    pytester: pytest.Pytester, docker_daemon: None, demo_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = build_reference_image()
    project = demo_shaped_project(image, demo_dir)
    compose_file = pytester.path / "docker-compose.yml"
    compose_file.write_text(yaml.safe_dump(project))
    pytester.makepyfile(test_join=USER_TEST)
    run_project = own_project()
    monkeypatch.setenv("TRACEBED_TEST_PROJECT", run_project)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--tracebed-stack=compose",
        f"--tracebed-project={run_project}",
        f"--tracebed-compose={compose_file}",
        f"--tracebed-compose={REPO / 'docker-compose.test.yml'}",
        timeout=600,
    )
    result.assert_outcomes(passed=1)
    assert not project_left(run_project)


@pytest.mark.docker
@pytest.mark.slow
def test_plugin_joins_a_3_0_0_layered_project(
    pytester: pytest.Pytester, docker_daemon: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The README's commands from a 3.0.0 checkout: `tracebed compose-overlay .`, then pytest
    # with the three layers and docker-compose.test.yml.
    from click.testing import CliRunner

    from tests.compose.conftest import demo30_shaped_project
    from tracebed.cli import cli

    image = build_reference_image()
    checkout = pytester.path / "demo"
    files = demo30_shaped_project(image, checkout)
    result = CliRunner().invoke(cli, ["compose-overlay", str(checkout)])
    assert result.exit_code == 0, result.output
    pytester.makepyfile(test_join=USER_TEST)
    run_project = own_project()
    monkeypatch.setenv("TRACEBED_TEST_PROJECT", run_project)
    compose_args = [
        f"--tracebed-compose={f}" for f in [*files, checkout / "docker-compose.test.yml"]
    ]
    outcome = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "--tracebed-stack=compose",
        f"--tracebed-project={run_project}",
        *compose_args,  # the checkout's .env is found next to compose.yaml, as compose finds it
        timeout=600,
    )
    outcome.assert_outcomes(passed=1)
    assert not project_left(run_project)
