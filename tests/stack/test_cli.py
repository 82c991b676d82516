"""`tracebed topology`, `up`, `status`, `down` as a user runs them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from tracebed.cli import cli
from tracebed.stack.state import list_records, proc_alive

from .conftest import PY, assert_gone, free_port

TRACEBED = [PY, "-c", "from tracebed.cli import main; main()"]


@pytest.mark.parametrize("fmt", ["text", "json", "mermaid"])
def test_topology_on_every_demo_compose_file(demo: Path, fmt: str) -> None:
    files = sorted(demo.glob("docker-compose*.yml"))
    assert files
    for f in files:
        res = CliRunner().invoke(
            cli,
            [
                "topology",
                "--compose",
                str(f),
                "--env-file",
                str(demo / "demo.env"),
                "--format",
                fmt,
            ],
        )
        assert res.exit_code == 0, res.output
        if fmt == "json":
            data = json.loads(res.output)
            assert data["tiers"][0][0] == "flagd"
            assert data["services"]["frontend-proxy"]["depends_on"]["load-generator"] == (
                "service_started"
            )
            assert data["services"]["frontend-proxy"]["tier"] == 6
            assert data["conflicts"][0]["service"] == "frontend-proxy"
        elif fmt == "text":
            assert "tier 6:" in res.output and "frontend-proxy" in res.output
            assert "conflicts with the declared grouping" in res.output
        else:
            assert res.output.startswith("flowchart LR")


def test_topology_merges_files_and_reports_errors(demo: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yml"
    extra.write_text(
        "services:\n  frontend-proxy:\n    depends_on: !reset []\n    ports: !override []\n"
    )
    res = CliRunner().invoke(
        cli,
        [
            "topology",
            "-f",
            str(demo / "docker-compose.yml"),
            "-f",
            str(extra),
            "--env-file",
            str(demo / "demo.env"),
            "--format",
            "json",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["services"]["frontend-proxy"]["tier"] == 0  # its dependencies were reset
    assert [c for c in data["conflicts"] if c["kind"] == "order"] == []
    [proxy] = [c for c in data["conflicts"] if c["service"] == "frontend-proxy"]
    assert proxy["kind"] == "placement" and "otel-collector" in proxy["before"]
    bad = tmp_path / "bad.yml"
    bad.write_text("services:\n  a: {depends_on: [b]}\n")
    res = CliRunner().invoke(cli, ["topology", "-f", str(bad)])
    assert res.exit_code == 2 and "depends on undefined service 'b'" in res.output
    res = CliRunner().invoke(cli, ["topology"])  # cwd is an empty tmp dir
    assert res.exit_code == 2 and "no compose file" in res.output
    (tmp_path / "compose.yaml").write_text("services:\n  solo: {image: x}\n")
    res = CliRunner().invoke(cli, ["topology", "--format", "json"])  # found like Compose does
    assert list(json.loads(res.output)["services"]) == ["solo"]
    res = CliRunner().invoke(cli, ["topology", "--format", "json"], env={"COMPOSE_FILE": str(bad)})
    assert res.exit_code == 2 and "undefined service 'b'" in res.output
    res = CliRunner().invoke(cli, ["topology", "--seed", "--format", "json"])
    assert json.loads(res.output)["tier_names"][0] == "infrastructure"


def _compose_file(tmp_path: Path) -> tuple[Path, int]:
    port = free_port()
    f = tmp_path / "compose.yml"
    f.write_text(f"""
services:
  cache:
    command: ["redis-server", "--port", "{free_port()}", "--save", "", "--appendonly", "no"]
    x-tracebed: {{probe: {{type: started}}}}
  web:
    command: ["{PY}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    ports: ["{port}"]
    depends_on: [cache]
    x-tracebed: {{probe: {{type: http, port: {port}, path: /}}}}
""")
    return f, port


def test_up_detach_status_down(tmp_path: Path, state_dir: Path, reap_pids: list[int]) -> None:
    f, port = _compose_file(tmp_path)
    env = {**os.environ, "TRACEBED_STATE_DIR": str(state_dir)}
    res = subprocess.run(
        [
            *TRACEBED,
            "up",
            "--compose",
            str(f),
            "--detach",
            "--json",
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout.strip().splitlines()[-1])
    assert set(summary["services"]) == {"cache", "web"}
    assert summary["services"]["web"]["tier"] == 1
    assert summary["services"]["web"]["endpoints"] == {"http": f"http://127.0.0.1:{port}"}
    assert summary["sink"]["grpc"].startswith("127.0.0.1:")
    [record] = list_records()
    pids = [p["pid"] for p in record.backend_state["processes"].values()]
    sink_pid = record.info["sink"]["pid"]
    reap_pids.extend([*pids, sink_pid])
    # the detached stack and sink outlive `up`
    assert requests.get(f"http://127.0.0.1:{port}/", timeout=5).status_code == 200
    stats = requests.get(summary["sink"]["http"] + "/api/stats", timeout=5)
    assert stats.status_code == 200
    status = CliRunner().invoke(cli, ["status", "--json"])
    assert status.exit_code == 0, status.output
    doc = json.loads(status.output)
    assert doc["running"] is True
    [run] = doc["runs"]
    assert run["state"] == "detached" and run["sink"]["alive"] is True
    assert all(s["alive"] for s in run["services"].values())
    assert run["services"]["web"]["endpoints"]["http"] == f"http://127.0.0.1:{port}"
    text = CliRunner().invoke(cli, ["status"]).output
    assert f"run {run['run_id']} [local, detached]" in text and "tier 1: web" in text
    down = CliRunner().invoke(cli, ["down"])
    assert down.exit_code == 0 and "stopped detached run" in down.output
    assert_gone([*pids, sink_pid])
    assert list_records() == []


def test_up_foreground_tears_down_on_sigint(
    tmp_path: Path, state_dir: Path, reap_pids: list[int]
) -> None:
    f, port = _compose_file(tmp_path)
    env = {**os.environ, "TRACEBED_STATE_DIR": str(state_dir)}
    proc = subprocess.Popen(
        [*TRACEBED, "up", "--compose", str(f), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        summary = json.loads(proc.stdout.readline())
        assert summary["services"]["web"]["ready_at"] > summary["services"]["cache"]["ready_at"]
        [record] = list_records()
        pids = [p["pid"] for p in record.backend_state["processes"].values()]
        reap_pids.extend(pids)
        assert all(proc_alive(p) for p in pids)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert_gone(pids)
    assert list_records() == []


def test_up_failure_exit_code_and_message(tmp_path: Path, state_dir: Path) -> None:
    f = tmp_path / "compose.yml"
    f.write_text(f"""
services:
  broken:
    command: ["{PY}", "-c", "import sys; print('bad config'); sys.exit(2)"]
    x-tracebed: {{probe: {{type: tcp, host: 127.0.0.1, port: {free_port()}}}}}
""")
    env = {**os.environ, "TRACEBED_STATE_DIR": str(state_dir)}
    res = subprocess.run(
        [*TRACEBED, "up", "--compose", str(f), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert res.returncode == 1
    assert "service 'broken' (tier 0)" in res.stderr and "bad config" in res.stderr
    assert "exited with code 2" in res.stderr
    assert res.stdout == ""
    res = subprocess.run(
        [*TRACEBED, "up", "--stack", "compose"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert res.returncode == 2 and "--stack compose needs --compose" in res.stderr
