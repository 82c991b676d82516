"""Bring your own service on the compose path, without a daemon: the run overlay the harness adds
after the project's files (`--replace SERVICE=IMAGE`, `SERVICE=compose:FILE`, the export delay),
read back with the project as compose merges it, and the option checks that refuse a value that
fits neither before anything starts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from tests.demo_layout import LAYERS, demo30_checkout
from tracebed.plugin.validate import replacement_problem
from tracebed.stack.compose import (
    LABEL_REPLACED_BY,
    ComposeReplacement,
    is_image_reference,
    load_compose,
    run_overlay,
    write_run_overlay,
)
from tracebed.stack.errors import TopologyError

pytest_plugins = ["pytester"]

IMAGE_CONFIG = {"Cmd": ["python", "-m", "mine"], "Entrypoint": None, "WorkingDir": "/srv"}


def _images(known: dict[str, dict[str, Any]]) -> Any:
    return lambda image: known.get(image)


def _merged(files: list[Path], doc: dict[str, Any], tmp: Path, env: Path | None) -> Any:
    overlay = write_run_overlay(doc, tmp / "run" / "tracebed-run.compose.yml")
    return load_compose([*files, overlay], env_file=env).services


@pytest.fixture
def demo30(tmp_path: Path) -> tuple[list[Path], Path]:
    checkout = demo30_checkout(tmp_path / "demo")
    return [checkout / f for f in LAYERS], checkout / ".env"


def test_an_image_replaces_only_how_the_service_runs(
    demo30: tuple[list[Path], Path], tmp_path: Path
) -> None:
    files, env = demo30
    project = load_compose(files, env_file=env)
    rep = ComposeReplacement.parse("payment", "my-payment:dev")
    doc = run_overlay(project, [rep], _images({"my-payment:dev": IMAGE_CONFIG}))
    after = _merged(files, doc, tmp_path, env)
    before = project.services
    assert after["payment"]["image"] == "my-payment:dev"
    assert after["payment"]["labels"][LABEL_REPLACED_BY] == "my-payment:dev"
    # its place in the demo: environment, ports, depends_on, healthcheck, networks unchanged
    for key in ("environment", "ports", "depends_on", "healthcheck", "networks"):
        assert after["payment"].get(key) == before["payment"].get(key), key
    assert "command" not in after["payment"]  # the demo's payment sets none: the image's runs
    # every other service is the demo's own
    assert {n: s for n, s in after.items() if n != "payment"} == {
        n: s for n, s in before.items() if n != "payment"
    }


def test_the_demos_command_is_not_handed_to_the_users_image(
    demo30: tuple[list[Path], Path], tmp_path: Path
) -> None:
    files, env = demo30
    project = load_compose(files, env_file=env)
    assert "command" in project.services["flagd"]  # the demo's flagd runs its own arguments
    doc = run_overlay(
        project,
        [ComposeReplacement.parse("flagd", "my-flagd:1")],
        _images({"my-flagd:1": {"Cmd": ["serve", "$FLAGS"], "Entrypoint": ["/flagd"]}}),
    )
    flagd = _merged(files, doc, tmp_path, env)["flagd"]
    assert flagd["command"] == ["serve", "$FLAGS"]  # the image's own, literally
    assert flagd["environment"] == project.services["flagd"]["environment"]


def test_a_compose_service_of_the_users_is_merged_over_the_demos(
    demo30: tuple[list[Path], Path], tmp_path: Path
) -> None:
    files, env = demo30
    mine = tmp_path / "mine" / "compose.yaml"
    mine.parent.mkdir()
    mine.write_text(
        yaml.safe_dump(
            {
                "services": {
                    "payment": {
                        "image": "my-payment:dev",
                        "build": {"context": "./payment"},
                        "environment": {"PAYMENT_MODE": "strict"},
                        "volumes": ["./payment/config.json:/etc/payment.json:ro"],
                    }
                }
            }
        )
    )
    project = load_compose(files, env_file=env)
    doc = run_overlay(
        project,
        [ComposeReplacement.parse("payment", f"compose:{mine}")],
        _images({"my-payment:dev": IMAGE_CONFIG}),
    )
    payment = _merged(files, doc, tmp_path, env)["payment"]
    assert payment["image"] == "my-payment:dev"
    assert payment["build"]["context"] == str(tmp_path / "mine" / "payment")  # from its file
    assert payment["build"]["dockerfile"] == "Dockerfile"  # not the demo's Dockerfile
    assert payment["volumes"] == [f"{tmp_path / 'mine' / 'payment' / 'config.json'}:/etc/payment.json:ro"]
    environment = payment["environment"]
    assert environment["PAYMENT_MODE"] == "strict"
    assert environment["OTEL_SERVICE_NAME"] == "payment"  # the demo's environment kept
    assert payment["healthcheck"] == project.services["payment"]["healthcheck"]


def test_the_export_delay_goes_to_every_service_only_when_asked(
    demo30: tuple[list[Path], Path], tmp_path: Path
) -> None:
    from tracebed.harness.core import export_delay_environment

    files, env = demo30
    project = load_compose(files, env_file=env)
    assert run_overlay(project, [], _images({})) == {"services": {}}
    delay = export_delay_environment(0.2)
    rep = ComposeReplacement.parse("payment", "my-payment:dev")
    doc = run_overlay(project, [rep], _images({"my-payment:dev": IMAGE_CONFIG}), delay)
    after = _merged(files, doc, tmp_path, env)
    for name, svc in after.items():
        environment = svc["environment"]
        if isinstance(environment, list):
            environment = dict(e.split("=", 1) for e in environment)
        assert environment["OTEL_BSP_SCHEDULE_DELAY"] == "200", name
        assert environment["OTEL_METRIC_EXPORT_INTERVAL"] == "1000", name
    assert after["payment"]["environment"]["OTEL_SERVICE_NAME"] == "payment"


def test_what_cannot_be_replaced_is_one_line(
    demo30: tuple[list[Path], Path], tmp_path: Path
) -> None:
    files, env = demo30
    project = load_compose(files, env_file=env)
    cases = [
        (ComposeReplacement.parse("paymnt", "my-payment:dev"), "unknown service 'paymnt'"),
        (ComposeReplacement.parse("payment", "missing:1"), "no image 'missing:1'"),
        (ComposeReplacement.parse("payment", f"compose:{tmp_path}/x.yml"), "compose file not found"),
    ]
    empty = tmp_path / "empty.yml"
    empty.write_text("services:\n  other:\n    image: x:1\n")
    cases.append((ComposeReplacement.parse("payment", f"compose:{empty}"), "defines no service"))
    for rep, why in cases:
        with pytest.raises(TopologyError) as info:
            run_overlay(project, [rep], _images({"my-payment:dev": IMAGE_CONFIG}))
        assert why in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(TopologyError, match="neither"):
        ComposeReplacement.parse("payment", "node index.js")


@pytest.mark.parametrize(
    ("value", "image"),
    [
        ("my-payment:dev", True),
        ("ghcr.io/open-telemetry/demo:2.0.2-payment", True),
        ("localhost:5000/team/payment", True),
        ("payment@sha256:" + "a" * 64, True),
        ("node index.js", False),
        ("My-Payment:dev", False),
        ("./payment", False),
        ("payment:", False),
    ],
)
def test_image_references(value: str, image: bool) -> None:
    assert is_image_reference(value) is image


def test_command_and_image_are_told_apart_by_the_stack(tmp_path: Path) -> None:
    mine = tmp_path / "mine.yml"
    mine.write_text("services: {}\n")
    assert replacement_problem("payment=my-payment:dev", "compose") is None
    assert replacement_problem(f"payment=compose:{mine}", "compose") is None
    assert replacement_problem("payment=node index.js", "local") is None
    assert replacement_problem("payment=python3", "local") is None  # a command on PATH
    refused = {
        ("payment=node index.js", "compose"): "is neither an IMAGE",
        ("payment=compose:nope.yml", "compose"): "nope.yml: no such file",
        (f"payment=compose:{mine}", "local"): "compose:FILE replaces a service of the compose",
        ("payment=my-payment:dev", "local"): "names an IMAGE",
        ("payment=true", "external"): "an external stack is only probed",
    }
    for (value, stack), why in refused.items():
        message = replacement_problem(value, stack)
        assert message is not None and why in message and "\n" not in message


def test_pytest_refuses_a_value_that_fits_neither_before_collection(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_x="def test_x():\n    raise AssertionError('collected')\n")
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--tracebed-stack=compose", "--tracebed-replace=payment=node index.js"
    )
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1 and "--tracebed-replace payment='node index.js' is neither" in errors[0]
    assert "collected" not in result.stdout.str()


@pytest.mark.parametrize("verb", ["up", "demo"])
def test_the_cli_refuses_it_with_exit_2(verb: str) -> None:
    from tracebed.cli import cli

    args = [verb, "--stack", "compose", "--compose", "x.yml", "--replace", "payment=node index.js"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.output.strip().splitlines() == [
        "Error: --replace payment='node index.js' is neither an IMAGE (e.g. "
        "payment=my-payment:dev) nor compose:FILE, which the compose stack runs in a service's "
        "place; a COMMAND replaces a service of the local stack"
    ]
