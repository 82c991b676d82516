"""The reference stack's compose file, derived from its spec (no daemon needed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import tracebed
from tests.compose.conftest import require_tool
from tracebed.refstack.compose import (
    CONTAINER_PACKAGE,
    CONTAINER_PREFIX,
    DOCKERFILE_DIR,
    PathMap,
    ReferenceComposeError,
    compose_from_spec,
    render,
    rewrite_workdir_configs,
    write_reference_compose,
)
from tracebed.stack.topology import Topology

IMAGE = "tracebed/reference:test"


def _spec(workdir: Path, command: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "name": "tracebed-reference",
        "services": {
            "kafka": {
                "command": command,
                "environment": {"A": "1"},
                "healthcheck": {"test": ["CMD", *command, "check"], "interval": "1s"},
                "x-tracebed": {"probe": {"type": "tcp", "host": "127.0.0.1", "port": 1}},
            },
            "checkout": {
                "command": command,
                "environment": {"FLAGS": str(workdir / "flags.json"), "PRICE": "$5"},
                "depends_on": {"kafka": {"condition": "service_healthy"}},
                **extra,
            },
        },
        "x-tracebed-stack": {"frontend_url": "http://127.0.0.1:1"},
    }


def test_host_paths_become_container_paths(tmp_path: Path) -> None:
    py = [sys.executable, "-m", "tracebed.reference.services.checkout"]
    doc = compose_from_spec(_spec(tmp_path, py), image=IMAGE, workdir=tmp_path, run_id="r1")
    checkout = doc["services"]["checkout"]
    assert checkout["command"][0].startswith(CONTAINER_PREFIX + "/")
    assert checkout["command"][1:] == py[1:]
    assert checkout["environment"]["FLAGS"] == str(tmp_path.resolve() / "flags.json")
    assert checkout["volumes"] == [f"{tmp_path.resolve()}:{tmp_path.resolve()}"]
    assert checkout["network_mode"] == "host" and checkout["init"] is True
    assert checkout["depends_on"] == {"kafka": {"condition": "service_healthy"}}
    assert checkout["labels"] == {
        "io.tracebed.stack": "tracebed-reference",
        "io.tracebed.run": "r1",
    }
    kafka = doc["services"]["kafka"]
    assert kafka["healthcheck"]["test"][1].startswith(CONTAINER_PREFIX + "/")
    assert kafka["x-tracebed"]["probe"]["port"] == 1
    assert doc["x-tracebed-stack"] == {"frontend_url": "http://127.0.0.1:1"}


def test_package_files_map_into_the_installed_package(tmp_path: Path) -> None:
    pkg = Path(tracebed.__file__).resolve().parent
    conf = tmp_path / "image-provider" / "nginx.conf"
    conf.parent.mkdir()
    conf.write_text(f"root {pkg}/reference/data/images;\n")
    (tmp_path / "data.bin").write_bytes(b"\xff\xfe" + str(pkg).encode())
    changed = rewrite_workdir_configs(tmp_path, PathMap(tmp_path))
    assert changed == [conf]
    assert conf.read_text() == f"root {CONTAINER_PACKAGE}/reference/data/images;\n"


def test_a_host_path_the_container_cannot_see_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ReferenceComposeError, match="service (kafka|checkout).*/home/someone"):
        compose_from_spec(
            _spec(tmp_path, ["/home/someone/bin/tool"]), image=IMAGE, workdir=tmp_path
        )
    with pytest.raises(ReferenceComposeError, match="no services"):
        compose_from_spec({"services": {}}, image=IMAGE, workdir=tmp_path)
    with pytest.raises(ReferenceComposeError, match="non-empty list"):
        compose_from_spec({"services": {"a": {"command": "x"}}}, image=IMAGE, workdir=tmp_path)


def test_dollars_survive_compose_interpolation(tmp_path: Path) -> None:
    doc = compose_from_spec(_spec(tmp_path, ["/usr/bin/true"]), image=IMAGE, workdir=tmp_path)
    (tmp_path / "c.yml").write_text(render(doc))
    topo = Topology.from_compose([tmp_path / "c.yml"], environ={})
    assert topo.services["checkout"].environment["PRICE"] == "$5"


@pytest.fixture(scope="module")
def real_compose(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """The real reference spec rendered for containers (needs the Debian parts on the host)."""
    for tool in ("redis-server", "nginx", "prometheus"):
        if not any(Path(d, tool).exists() for d in ("/usr/bin", "/usr/sbin")):
            require_tool(tool)
    workdir = tmp_path_factory.mktemp("ref")
    path = write_reference_compose(workdir, "127.0.0.1:4317", image=IMAGE)
    return path, yaml.safe_load(path.read_text())


def test_real_spec_gives_the_same_topology_as_the_local_backend(
    real_compose: tuple[Path, dict[str, Any]],
) -> None:
    from tracebed.reference.spec import build_spec

    path, _doc = real_compose
    from_file = Topology.from_compose([path])
    # both at the default release (the compose rendering and the local spec of one release)
    local = Topology.from_spec(build_spec(path.parent / "local", "127.0.0.1:4317"))
    assert set(from_file.services) == set(local.services)
    assert from_file.tiers == local.tiers
    for name, svc in local.services.items():
        got = from_file.services[name]
        assert {d: c.condition for d, c in got.depends_on.items()} == {
            d: c.condition for d, c in svc.depends_on.items()
        }, name
        assert (got.probe is None) == (svc.probe is None), name
        if svc.probe is not None and got.probe is not None:
            # a host-side command probe becomes the container's healthcheck (same check)
            want = (
                "healthcheck" if svc.probe.type == "command" and svc.healthcheck else svc.probe.type
            )
            assert got.probe.type == want, name


def test_real_spec_has_only_container_visible_paths(
    real_compose: tuple[Path, dict[str, Any]],
) -> None:
    path, doc = real_compose
    workdir = str(path.parent)
    host_roots = {os.path.abspath(sys.prefix), str(Path(tracebed.__file__).resolve().parent)}
    # x-tracebed probes run on the host (the harness probes from outside): they keep host paths.
    in_containers = yaml.safe_dump(
        {n: {k: v for k, v in s.items() if k != "x-tracebed"} for n, s in doc["services"].items()}
    )
    for root in host_roots:
        assert root not in in_containers, f"host path {root} leaked into a container's config"
    for config in path.parent.rglob("*.y*ml"):
        if config != path:
            for root in host_roots:
                assert root not in config.read_text(), config
    for name, svc in doc["services"].items():
        assert svc["image"] == IMAGE
        assert svc["volumes"] == [f"{workdir}:{workdir}"], name


def test_real_compose_cli_accepts_the_file(real_compose: tuple[Path, dict[str, Any]]) -> None:
    path, doc = real_compose
    require_tool("docker-compose")
    res = subprocess.run(
        ["docker-compose", "-f", str(path), "config", "--services"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.split()) == set(doc["services"])


def test_command_probes_become_the_containers_healthcheck(tmp_path: Path) -> None:
    spec = _spec(tmp_path, ["/usr/bin/true"])
    spec["services"]["kafka"]["x-tracebed"]["probe"] = {"type": "command", "argv": ["/x/check"]}
    doc = compose_from_spec(spec, image=IMAGE, workdir=tmp_path)
    assert doc["services"]["kafka"]["x-tracebed"]["probe"] == {"type": "healthcheck"}


def test_shipped_reference_compose_file(tmp_path: Path) -> None:
    """refstack/docker/docker-compose.yml (package data): the demo's names and edges, no host paths."""
    from tracebed.reference.spec import build_spec

    shipped = DOCKERFILE_DIR / "docker-compose.yml"
    doc = yaml.safe_load(shipped.read_text())
    spec = build_spec(tmp_path, "127.0.0.1:14317", demo_version="2.0.2")
    assert set(doc["services"]) == set(spec["services"])
    for name, svc in spec["services"].items():
        assert doc["services"][name].get("depends_on", {}) == svc.get("depends_on", {}), name
        assert doc["services"][name]["network_mode"] == "host"
    text = shipped.read_text()
    for root in (os.path.abspath(sys.prefix), str(Path(tracebed.__file__).resolve().parent)):
        assert root not in text
    require_tool("docker-compose")
    res = subprocess.run(
        ["docker-compose", "-f", str(shipped), "config"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "TRACEBED_REFERENCE_IMAGE"},
    )
    assert res.returncode == 0, res.stderr
    images = {s["image"] for s in yaml.safe_load(res.stdout)["services"].values()}
    assert images == {"tracebed/reference:latest"}
