"""The library Harness without pytest fixtures: parts, ownership, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebed.harness import (
    Harness,
    HarnessOptions,
    RecordedStack,
    SinkHandle,
    stacks_on_record,
    start_sink,
)
from tracebed.otlp.sink import Sink
from tracebed.stack.backends import ComposeBackend, ExternalBackend, LocalBackend, make_backend
from tracebed.stack.state import RunRecord


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))
    return tmp_path / "state"


def test_external_stack_known_by_its_front_door(tmp_path: Path) -> None:
    options = HarnessOptions(kind="external", frontend_url="http://127.0.0.1:9/", workdir=tmp_path)
    with Harness(options) as harness:
        demo = harness.demo_stack
        assert demo is not None and demo.stack is None and demo.topology is None
        assert demo.frontend_url == "http://127.0.0.1:9"
        assert demo.flags is not None and demo.flags.ui_url == "http://127.0.0.1:9/feature"
        assert demo.flags.ofrep_url is None and not harness.meta.declared
        sink = harness.sink
        assert sink is not None and sink.sink is not None  # its own sink, in this process
        assert harness.source is sink.sink.store
        assert harness.shop().base_url.startswith("http://127.0.0.1:9")
    assert harness.sink is None  # stopped with the harness
    with pytest.raises(RuntimeError, match="not started"):
        _ = sink.sink.grpc_port
    assert tmp_path.is_dir()  # a given work directory is never removed
    harness.remove_workdir()
    assert tmp_path.is_dir()


def test_own_work_directory_removed_after_a_clean_exit_only() -> None:
    with Harness(kind="external", frontend_url="http://x:1", sink_mode="none") as harness:
        made = harness.workdir
        assert made.is_dir()
    assert not made.exists()
    with pytest.raises(KeyError), Harness(kind="external", frontend_url="http://x:1") as failing:
        kept = failing.workdir
        raise KeyError("the test failed")
    assert kept.is_dir()  # its logs stay to read
    failing.remove_workdir()
    assert not kept.exists()


def test_a_sink_handed_in_stays_its_owners() -> None:
    sink = Sink().start()
    try:
        harness = Harness(HarnessOptions(kind="external", frontend_url="http://x:1"), sink=sink)
        with harness:
            assert harness.source is sink.store
        assert sink.grpc_port > 0  # still listening: the harness did not stop it
    finally:
        sink.stop()


def test_ofrep_option_and_no_front_door() -> None:
    harness = Harness(
        kind="external", frontend_url="http://x:1", ofrep_url="http://x:2", sink_mode="none"
    )
    demo = harness.start()
    assert demo.flags is not None and demo.flags.ofrep_url == "http://x:2"
    assert harness.sink is None and harness.source is None
    with pytest.raises(ValueError, match="no front door"):
        Harness(kind="external", sink_mode="none").start()
    demo = Harness(kind="external", sink_mode="none", needs_front_door=False).start()
    assert demo.frontend_url == "" and demo.flags is None


def test_failed_start_stops_the_sink_it_opened() -> None:
    harness = Harness(kind="external")  # no front door: start fails after the sink is up
    with pytest.raises(ValueError):
        harness.start()
    assert harness.sink is None
    opened = Harness(kind="external")
    sink = opened.open_sink()  # opened before start(): a failed start leaves it to its opener
    with pytest.raises(ValueError):
        opened.start()
    assert opened.sink is sink
    opened.stop()
    assert opened.sink is None


def test_reference_stack_needs_a_sink_it_can_point_at() -> None:
    harness = Harness(kind="local", sink_url="http://127.0.0.1:9")
    with pytest.raises(ValueError, match="export to a sink"):
        harness.start()


def test_remote_sink_handle() -> None:
    handle = SinkHandle.remote("http://127.0.0.1:9/")
    assert handle.http_url == "http://127.0.0.1:9" and handle.sink is None
    with pytest.raises(LookupError):
        _ = handle.grpc_port
    with pytest.raises(ValueError):
        SinkHandle.remote("127.0.0.1:9")


def test_start_sink_in_process() -> None:
    handle = start_sink(max_spans=10)
    try:
        assert handle.sink is not None and handle.grpc_port == handle.sink.grpc_port
        assert handle.info() == {"grpc": handle.grpc_endpoint, "http": handle.http_url}
        handle.check()  # ours answers without asking
    finally:
        handle.stop()
    with pytest.raises(ValueError, match="work directory"):
        start_sink(process=True)


def test_one_backend_registry_with_projects() -> None:
    assert isinstance(make_backend("local", "ignored"), LocalBackend)
    compose = make_backend("compose", "proj")
    assert isinstance(compose, ComposeBackend) and compose.project_name == "proj"
    external = make_backend("external", "proj")
    assert isinstance(external, ExternalBackend) and external.docker is not None
    assert make_backend("external").docker is None


def test_stacks_on_record() -> None:
    assert stacks_on_record() == []
    live = RunRecord.new("local")
    live.detached = True
    live.info = {
        "frontend_url": "http://127.0.0.1:8080",
        "sink": {"http": "http://127.0.0.1:4318"},
        "services": {"flagd": {"endpoints": {"ofrep": "http://127.0.0.1:8016"}}},
    }
    live.save()
    faceless = RunRecord.new("local")  # no front door: not a stack to drive
    faceless.detached = True
    faceless.save()
    gone = RunRecord.new("local")  # neither detached nor owned by a live process
    gone.owner_pid, gone.owner_start = 2**22 + 1, None
    gone.info = {"frontend_url": "http://127.0.0.1:1"}
    gone.save()
    assert stacks_on_record() == [
        RecordedStack(
            run_id=live.run_id,
            frontend_url="http://127.0.0.1:8080",
            sink_url="http://127.0.0.1:4318",
            ofrep_url="http://127.0.0.1:8016",
        )
    ]


def test_one_export_delay_for_every_process_it_starts(tmp_path: Path) -> None:
    from tracebed.stack.topology import Topology

    spec = {
        "services": {
            "svc": {"command": ["true"], "environment": {"OTEL_BSP_SCHEDULE_DELAY": "50"}},
            "mine": {"command": ["false"]},
        }
    }
    topology = Topology.from_spec(spec)
    topology.replace("mine", "node my-service.js")
    Harness(HarnessOptions(kind="local", workdir=tmp_path, export_delay=5))._set_export_delay(
        topology
    )
    for name in ("svc", "mine"):  # the stand-in's processes and the replacement alike
        env = topology.services[name].environment
        assert env["OTEL_BSP_SCHEDULE_DELAY"] == "5000"
        assert env["OTEL_BLRP_SCHEDULE_DELAY"] == "5000"
        assert env["OTEL_METRIC_EXPORT_INTERVAL"] == "5000"
    fast = Topology.from_spec(spec)
    Harness(HarnessOptions(kind="local", workdir=tmp_path, export_delay=0.02))._set_export_delay(fast)
    assert fast.services["svc"].environment["OTEL_METRIC_EXPORT_INTERVAL"] == "1000"
    untouched = Topology.from_spec(spec)
    Harness(HarnessOptions(kind="local", workdir=tmp_path))._set_export_delay(untouched)
    assert untouched.services["svc"].environment["OTEL_BSP_SCHEDULE_DELAY"] == "50"


@pytest.mark.parametrize(("asked", "built"), [(None, "3.0.0"), ("2.0.2", "2.0.2")])
def test_demo_version_reaches_the_reference_topology(
    tmp_path: Path, asked: str | None, built: str
) -> None:
    harness = Harness(kind="local", demo_version=asked, workdir=tmp_path)
    topology = harness.build_topology(SinkHandle("127.0.0.1:4317", "http://127.0.0.1:9"))
    assert topology is not None and topology.meta.demo_version == built
    assert ("astronomy-db" in topology.services) == (built == "3.0.0")
