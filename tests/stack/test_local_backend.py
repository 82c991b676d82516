"""The local backend with small real servers: start tier by tier, fail cleanly, leave nothing."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tracebed.stack import Stack, StackError, StackStartError, Topology
from tracebed.stack.backends import LocalBackend
from tracebed.stack.state import group_alive, list_records, proc_alive
from tracebed.stack.timeline import TimelineEvent

from .conftest import PY, SERVERS, assert_gone, free_port


def up_pids(stack: Stack) -> list[int]:
    return [int(e.detail["pid"]) for e in stack.timeline.events(kind="up")]


def three_tier_spec(gate: Path | None = None) -> dict[str, Any]:
    pr, pg, ph = free_port(), free_port(), free_port()
    return {
        "services": {
            "cache": {
                "command": [
                    "redis-server",
                    "--port",
                    str(pr),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                ],
                "x-tracebed": {
                    "probe": {"type": "redis", "host": "127.0.0.1", "port": pr},
                    "endpoints": {"redis": f"127.0.0.1:{pr}"},
                },
            },
            "api": {
                # NOT_SERVING until the gate file exists (or at once, without a gate).
                "command": [
                    PY,
                    str(SERVERS / "grpc_health_server.py"),
                    str(pg),
                    str(gate) if gate else "0",
                ],
                "depends_on": {"cache": {"condition": "service_started"}},
                "x-tracebed": {
                    "probe": {"type": "grpc", "host": "127.0.0.1", "port": pg},
                    "endpoints": {"grpc": f"127.0.0.1:{pg}"},
                },
            },
            "web": {
                "command": [PY, "-m", "http.server", str(ph), "--bind", "127.0.0.1"],
                "depends_on": {
                    "api": {"condition": "service_healthy"},
                    "cache": {"condition": "service_started"},
                },
                "x-tracebed": {
                    "probe": {"type": "http", "url": f"http://127.0.0.1:{ph}/", "status": 200}
                },
            },
        }
    }


def test_three_tiers_start_in_order_and_stop_clean(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    topo = Topology.from_spec(three_tier_spec(gate))
    assert topo.tiers == [["cache"], ["api"], ["web"]]
    stack = Stack(topo, LocalBackend(), run_dir=tmp_path / "run")

    def open_gate(ev: TimelineEvent) -> None:
        # The server says NOT_SERVING (or is not up yet) until a probe has failed.
        if ev.service == "api" and ev.kind == "probe" and not ev.detail["ok"]:
            gate.touch()

    stack.timeline.subscribe(open_gate)
    with stack:
        tl = stack.timeline
        t_cache, t_api, t_web = (tl.ready_at(s) for s in ("cache", "api", "web"))
        assert t_cache is not None and t_api is not None and t_web is not None
        assert t_cache < t_api < t_web
        tl.assert_order()
        assert tl.tiers_completed_in_order()
        assert tl.ready_before("cache", "web") and not tl.ready_before("web", "cache")
        # the gRPC server said NOT_SERVING first: more than one probe attempt, the first failed
        attempts = tl.events("api", "probe")
        assert len(attempts) > 1 and attempts[0].detail["ok"] is False
        assert attempts[-1].detail["detail"] == "grpc health SERVING"
        assert all(not a.detail["ok"] for a in attempts[:-1])
        kinds = [e.kind for e in tl.events("web")]
        assert kinds[0] == "start_requested" and kinds[1] == "up" and kinds[-1] == "ready"
        assert tl.requested_at("api") >= t_cache  # type: ignore[operator]
        assert tl.critical_path() == ["cache", "api", "web"]
        gantt = tl.gantt()
        assert "web" in gantt and "critical path" in gantt
        assert requests.get(stack.url("web"), timeout=5).status_code == 200
        assert stack.endpoint("api").startswith("127.0.0.1:")
        desc = stack.describe()
        assert desc["services"]["web"]["tier"] == 2
        assert desc["services"]["api"]["endpoints"] == {"grpc": stack.endpoint("api")}
        pids = up_pids(stack)
        assert len(pids) == 3 and all(proc_alive(p) for p in pids)
        [record] = list_records()  # the run is on record while it runs
        watchdog = int(record.info["watchdog"]["pid"])
        assert proc_alive(watchdog)
        assert "SERVING" in (tmp_path / "run" / "logs" / "api.log").read_text()
    assert_gone(pids)
    assert not proc_alive(watchdog), "a stopped stack leaves no watchdog behind"
    stopped = [e.service for e in stack.timeline.events(kind="stopped")]
    assert stopped == ["web", "api", "cache"]  # reverse tier order
    assert list_records() == []


def test_never_ready_service_fails_with_details(tmp_path: Path) -> None:
    dead_port = free_port()
    spec = three_tier_spec()
    spec["services"]["api"] = {
        # sh prints at once (a Python start-up could outlast a short probe timeout).
        "command": ["/bin/sh", "-c", "echo warming up; exec sleep 120"],
        "depends_on": {"cache": {"condition": "service_started"}},
        "x-tracebed": {
            "probe": {"type": "tcp", "host": "127.0.0.1", "port": dead_port, "timeout_s": 1.5}
        },
    }
    stack = Stack(Topology.from_spec(spec), "local", run_dir=tmp_path / "run")
    began = time.monotonic()
    with pytest.raises(StackStartError) as info:
        stack.start()
    err = info.value
    assert err.service == "api" and err.tier == 1
    assert err.probe == f"tcp(host=127.0.0.1, port={dead_port})"
    assert 1.5 <= err.waited_s < 10
    assert err.log_tail == ["warming up"]
    assert "not ready after 1.5s" in str(err) and "warming up" in str(err)
    assert time.monotonic() - began < 15
    assert stack.timeline.requested_at("web") is None  # dependents never started
    assert_gone(up_pids(stack))
    assert list_records() == []


def test_crashing_service_fails_fast_with_last_40_lines(tmp_path: Path) -> None:
    spec = three_tier_spec()
    spec["services"]["api"] = {
        "command": [PY, "-c", "import sys\nfor i in range(50): print(f'line {i}')\nsys.exit(3)"],
        "depends_on": ["cache"],
        "x-tracebed": {
            "probe": {"type": "tcp", "host": "127.0.0.1", "port": free_port(), "timeout_s": 30}
        },
    }
    stack = Stack(Topology.from_spec(spec), "local", run_dir=tmp_path / "run")
    with pytest.raises(StackStartError) as info:
        stack.start()
    err = info.value
    assert err.service == "api"
    assert "exited with code 3" in err.reason
    assert err.waited_s < 10  # noticed the exit, did not wait for the 30 s timeout
    assert len(err.log_tail) == 40
    assert err.log_tail[0] == "line 10" and err.log_tail[-1] == "line 49"
    assert stack.timeline.failed_at("api") is not None
    assert stack.timeline.requested_at("web") is None
    assert_gone(up_pids(stack))


def test_missing_executable_is_a_start_error(tmp_path: Path) -> None:
    spec = {"services": {"ghost": {"command": ["/no/such/binary-xyz"]}}}
    with pytest.raises(StackStartError, match="cannot run '/no/such/binary-xyz'"):
        Stack(Topology.from_spec(spec), "local", run_dir=tmp_path).start()


def test_stop_escalates_to_sigkill_after_the_grace_period(tmp_path: Path) -> None:
    f = tmp_path / "compose.yml"
    # The shell ignores SIGTERM (and so does its child): only SIGKILL ends the group.
    f.write_text(f"""
services:
  stubborn:
    command: ["/bin/sh", "-c", "trap '' TERM; echo ignoring; sleep 60 & wait; sleep 60"]
    stop_grace_period: 300ms
    x-tracebed: {{probe: {{type: started}}}}
  polite:
    command: ["{PY}", "-c", "import time; time.sleep(60)"]
    stop_signal: SIGINT
    x-tracebed: {{probe: {{type: started}}}}
""")
    topo = Topology.from_compose([f])
    assert topo.services["stubborn"].stop_grace_s == pytest.approx(0.3)
    assert topo.services["polite"].stop_signal == "SIGINT"
    stack = Stack(topo, "local", run_dir=tmp_path / "run").start()
    pids = up_pids(stack)
    began = time.monotonic()
    stack.stop()
    assert time.monotonic() - began < 5  # 0.3 s grace, then SIGKILL: not the default 5 s
    assert_gone(pids)


def test_start_twice_is_an_error(tmp_path: Path) -> None:
    spec = {"services": {"noop": {"command": [PY, "-c", "import time; time.sleep(30)"]}}}
    with Stack(Topology.from_spec(spec), "local", run_dir=tmp_path) as stack:
        with pytest.raises(StackError, match="already started"):
            stack.start()
        pids = up_pids(stack)
    assert_gone(pids)


def test_until_starts_only_the_first_tiers(tmp_path: Path) -> None:
    stack = Stack(Topology.from_spec(three_tier_spec()), "local", run_dir=tmp_path)
    with stack.start(until=1):
        assert stack.timeline.ready_at("api") is not None
        assert stack.timeline.requested_at("web") is None
        pids = up_pids(stack)
    stack.stop()
    assert_gone(pids)


def test_compose_file_on_local_backend(tmp_path: Path) -> None:
    """Compose semantics on processes: a healthcheck, a one-shot job, bare depends_on."""
    marker = tmp_path / "ready.flag"
    port = free_port()
    compose = tmp_path / "compose.yml"
    compose.write_text(f"""
services:
  db:
    command: ["{PY}", "-c", "import pathlib,time; time.sleep(0.3); pathlib.Path('{marker}').touch(); time.sleep(60)"]
    healthcheck:
      test: ["CMD", "test", "-f", "{marker}"]
      interval: 1s
      retries: 5
  migrate:
    command: ["{PY}", "-c", "print('migrated')"]
    depends_on:
      db: {{condition: service_healthy}}
  web:
    command: ["{PY}", "-m", "http.server", "${{WEB_PORT}}", "--bind", "127.0.0.1"]
    ports: ["${{WEB_PORT}}"]
    depends_on:
      migrate: {{condition: service_completed_successfully}}
""")
    topo = Topology.from_compose([compose], environ={**os.environ, "WEB_PORT": str(port)})
    assert topo.probe_for("db").type == "healthcheck"
    assert topo.probe_for("migrate").type == "exited"
    assert topo.probe_for("web").type == "tcp"
    with Stack(topo, "local", run_dir=tmp_path / "run") as stack:
        tl = stack.timeline
        tl.assert_order()
        assert tl.ready_at("db") < tl.ready_at("migrate") < tl.ready_at("web")  # type: ignore
        assert stack.url("web") == f"http://127.0.0.1:{port}"
        pids = up_pids(stack)
    assert_gone(pids)


SCRIPT = """
import json, sys, time
from tracebed.stack import Stack, Topology
spec = json.loads(sys.argv[1])
stack = Stack(Topology.from_spec(spec), "local", run_dir=sys.argv[2])
def report(ev):
    if ev.kind == "up":
        print(json.dumps({"up": ev.service, "pid": ev.detail["pid"]}), flush=True)
stack.timeline.subscribe(report)
stack.start(progress=False)
print(json.dumps({"started": True}), flush=True)
time.sleep(120)
"""


def _spawn_owner(spec: dict[str, Any], run_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [PY, "-c", SCRIPT, json.dumps(spec), str(run_dir)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _read_until(proc: subprocess.Popen[str], key: str, pids: list[int]) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        msg = json.loads(line)
        if "pid" in msg:
            pids.append(int(msg["pid"]))
        if key in msg:
            return
    raise AssertionError(f"owner exited before {key!r} (code {proc.wait()})")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_during_start_tears_down(
    tmp_path: Path, reap_pids: list[int], sig: signal.Signals
) -> None:
    spec = three_tier_spec()
    spec["services"]["api"]["x-tracebed"]["probe"] = {
        "type": "tcp",
        "host": "127.0.0.1",
        "port": free_port(),
        "timeout_s": 60,
    }
    owner = _spawn_owner(spec, tmp_path / "run")
    pids: list[int] = []
    try:
        _read_until(owner, "up", pids)  # cache is up
        _read_until(owner, "up", pids)  # api is up and never ready: we are mid-start
        reap_pids.extend(pids)
        owner.send_signal(sig)  # SIGINT is what Ctrl-C sends
        assert owner.wait(timeout=30) != 0
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
    assert_gone(pids)
    assert list_records() == []


def _wait_gone(pids: list[int], timeout_s: float) -> None:
    """Bounded wait for processes we do not own (their stopper is another process)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and any(proc_alive(p) or group_alive(p) for p in pids):
        time.sleep(0.1)


def test_killed_runner_stack_stops_by_itself(tmp_path: Path, reap_pids: list[int]) -> None:
    owner = _spawn_owner(three_tier_spec(), tmp_path / "run")
    pids: list[int] = []
    try:
        _read_until(owner, "started", pids)
        reap_pids.extend(pids)
        [record] = list_records()
        watchdog = int(record.info["watchdog"]["pid"])
        reap_pids.append(watchdog)
        assert all(proc_alive(p) for p in pids)
        os.kill(owner.pid, signal.SIGKILL)  # no chance to tear down
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
    # Generous bound for a loaded machine; the watchdog acts at once, then a 3 s grace.
    _wait_gone([*pids, watchdog], 60)
    assert_gone(pids)
    assert not proc_alive(watchdog), "the watchdog exits once it has stopped the stack"
    assert list_records() == []


def test_killed_run_is_cleaned_up_by_the_next(tmp_path: Path, reap_pids: list[int]) -> None:
    owner = _spawn_owner(three_tier_spec(), tmp_path / "run1")
    pids: list[int] = []
    try:
        _read_until(owner, "started", pids)
        reap_pids.extend(pids)
        # The watchdog killed too (OOM killer, `kill -9 -1`): only the next run is left.
        [record] = list_records()
        os.kill(int(record.info["watchdog"]["pid"]), signal.SIGKILL)
        os.kill(owner.pid, signal.SIGKILL)  # no chance to tear down
        owner.wait(timeout=10)
    finally:
        if owner.poll() is None:
            os.killpg(owner.pid, signal.SIGKILL)
            owner.wait()
    assert all(proc_alive(p) for p in pids), "services should outlive a SIGKILLed owner"
    [record] = list_records()
    assert record.is_stale()
    # The next run finds the record and cleans it up before it starts.
    spec = {"services": {"noop": {"command": [PY, "-c", "import time; time.sleep(30)"]}}}
    with Stack(Topology.from_spec(spec), "local", run_dir=tmp_path / "run2") as nxt:
        assert_gone(pids)
        assert [r.run_id for r in list_records()] == [nxt.record.run_id]


def test_compose_backend_needs_compose_files(tmp_path: Path) -> None:
    from tracebed.stack.backends import ComposeBackend
    from tracebed.stack.errors import BackendError

    stack = Stack(
        Topology.from_spec({"services": {"a": {"command": ["true"]}}}),
        ComposeBackend(command=["docker-compose"]),
        run_dir=tmp_path,
    )
    with pytest.raises(BackendError, match="needs a topology loaded from compose files"):
        stack.start()
    assert not stack.started and list_records() == []


def test_reference_preset_infrastructure_tier(tmp_path: Path) -> None:
    """The built-in reference stack through the same path as `tracebed up` (tier 0 only)."""
    from tracebed.refstack import reference_topology

    try:
        topo = reference_topology(tmp_path / "ref", f"127.0.0.1:{free_port()}")
    except Exception as exc:  # noqa: BLE001 - the reference stack needs its binaries
        pytest.skip(f"the reference stack cannot be described here: {exc}")
    assert "otel-collector" in topo.tiers[0] and "frontend-proxy" in topo.tiers[-1]
    assert topo.conflicts == []  # the spec drops the edges to absent services
    with Stack(topo, "local", run_dir=tmp_path / "run").start(until=0) as stack:
        assert all(stack.timeline.ready_at(s) is not None for s in topo.tiers[0])
        assert stack.timeline.requested_at(topo.tiers[1][0]) is None
        assert stack.frontend_url() == topo.extras["x-tracebed-stack"]["frontend_url"]
        pids = up_pids(stack)
    assert_gone(pids)
