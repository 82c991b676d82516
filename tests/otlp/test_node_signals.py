"""Logs and metrics from another language's SDK: the Node OpenTelemetry SDK (versions pinned
in node_signals/package-lock.json) exports OTLP/HTTP JSON to the sink; exact counts come back.

Node's OTLP/HTTP exporters send their bodies chunked (no Content-Length): this test needs the
sink's HTTP receiver to read chunked bodies."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.npm import npm_install, unavailable
from tracebed.otlp import Sink

PACKAGE = Path(__file__).parent / "node_signals"
RUN_TIMEOUT = 60.0
TRACE_ID, SPAN_ID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"


@pytest.fixture(scope="module")
def emitter(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """emit.js beside its installed node_modules."""
    modules = npm_install(
        PACKAGE,
        "node-signals-npm",
        pytestconfig,
        tmp_path_factory,
        "the Node SDK signals test needs Node.js 20+",
    )
    script = modules.parent / "emit.js"
    shutil.copyfile(PACKAGE / "emit.js", script)
    return script


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink() as running:
        if not _reads_chunked(running):
            unavailable(
                "the sink's OTLP/HTTP receiver does not read chunked request bodies, which "
                "Node's exporters send"
            )
        yield running


def _reads_chunked(sink: Sink) -> bool:
    """POST an empty logs export with `Transfer-Encoding: chunked` (what Node sends)."""
    answer = requests.post(
        f"{sink.http_url}/v1/logs",
        data=iter([b""]),  # a generator body: requests sends it chunked
        headers={"Content-Type": "application/x-protobuf"},
        timeout=10,
    )
    return answer.status_code == 200


@pytest.mark.parametrize("temporality", ["cumulative", "delta"])
def test_node_sdk_logs_and_metrics(emitter: Path, sink: Sink, temporality: str) -> None:
    mark = sink.mark()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "SINK_URL": sink.http_url,
        "SERVICE": "node-signals",
        "TRACE_ID": TRACE_ID,
        "SPAN_ID": SPAN_ID,
        "LOGS": "5",
        "ADDS": "4",
        "TEMPORALITY": temporality,
    }
    node = shutil.which("node")
    assert node is not None  # npm_install skipped (or failed in CI) otherwise
    run = subprocess.run(
        [node, emitter.name], cwd=emitter.parent, env=env, capture_output=True, text=True,
        timeout=RUN_TIMEOUT,
    )  # fmt: skip
    assert run.returncode == 0 and run.stdout.strip() == "done", run.stderr[-2000:]

    records = sink.logs(trace_id=TRACE_ID)
    # Each record is its own export (simple processor): they may arrive in any order.
    assert sorted(str(r.body) for r in records) == [f"node record {i}" for i in range(5)]
    assert {(r.span_id, r.severity_number, r.service) for r in records} == {
        (SPAN_ID, 17, "node-signals")
    }
    assert all(r.body == f"node record {r.attributes['app.index']}" for r in records)
    # 4 adds of 1 (2 even, 2 odd), then 4 more on "even"; 4 latency measurements.
    assert sink.metric_increase("node-signals", "app.node.requests", since=mark) == 8
    assert (
        sink.metric_increase(
            "node-signals", "app.node.requests", since=mark, attributes={"app.route": "odd"}
        )
        == 2
    )
    assert sink.metric_increase("node-signals", "app.node.latency", since=mark) == 4
    points = sink.metric_points("node-signals", "app.node.requests").points
    assert {p.temporality for p in points} == {temporality}
    stats = sink.store.stats_dict()
    assert stats["logs_stored"] == 5 and stats["logs_rejected"] == 0
