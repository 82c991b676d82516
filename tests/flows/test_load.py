"""Load runs: Locust in a subprocess against the traced fake frontend, verified in a real sink."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tenacity import Retrying, stop_after_delay, wait_fixed

import tracebed
from tests.flows.fake_frontend import FakeFrontend
from tracebed.flows import run_load
from tracebed.flows.chain import KAFKA_PUBLISH
from tracebed.otlp import Sink
from tracebed.otlp.client import SinkClient

FAST = (0.02, 0.1)  # seconds between a user's tasks (the demo's 1–10 s would make few requests)


def test_load_run_stops_at_its_duration_with_exact_counts(
    frontend: FakeFrontend, sink: Sink
) -> None:
    frontend.fail_every = 7
    frontend.incomplete_every = 3
    started = time.monotonic()
    summary = run_load(
        frontend.url,
        users=4,
        spawn_rate=50,
        duration_s=3,
        store=sink.store,
        wait_time=FAST,
        tasks="browse_product=5,checkout=3,checkout_multi=1,get_ads=2,flood_home=1",
        stop_timeout=5,
        # Incomplete traces are judged when this runs out (shared by all checkouts).
        verify_timeout=3,
    )
    wall = time.monotonic() - started
    print(summary.render())

    assert summary.stopped_by == "duration"
    # Stops at its duration; tasks in flight then get up to stop_timeout (5 s) to finish.
    assert 3.0 <= summary.elapsed_s < 3.0 + 5.0 + 3.0
    assert wall < 3.0 + 5.0 + 3.0 + 30.0  # run, graceful stop, verification; slack for startup
    served = frontend.api_requests()
    # Every request the server answered is counted once (the 308 hop is followed, not counted).
    assert summary.requests == len(served) == len(summary.trace_ids) > 20
    assert summary.failures == frontend.failed > 0
    assert summary.rps == pytest.approx(summary.requests / summary.elapsed_s)
    route_counts = {r.name: r.requests for r in summary.routes}
    assert route_counts["GET /api/data"] == sum(1 for s in served if s.path == "/api/data")
    assert route_counts["POST /api/checkout"] == summary.checkouts

    assert summary.checkouts == frontend.checkouts_complete + frontend.checkouts_incomplete > 2
    assert summary.checkouts_failed == 0
    assert summary.traces_verified == frontend.checkouts_complete
    assert summary.traces_incomplete == frontend.checkouts_incomplete > 0
    assert all(set(i.missing) == {"email", KAFKA_PUBLISH} for i in summary.incomplete)
    assert not summary.ok

    edges = {(e.caller, e.callee): e for e in summary.edges}
    for edge in [
        ("client", "frontend"),
        ("frontend", "checkout"),
        ("checkout", "payment"),
        ("shipping", "quote"),
    ]:
        assert edges[edge].count > 0 and 0 <= edges[edge].p50_ms <= edges[edge].p95_ms
    # One frontend server span per HTTP hop, the 308 redirect hops of get_ads included.
    hops = [s for s in frontend.seen if not s.path.startswith("/ofrep/")]
    assert edges[("client", "frontend")].count == len(hops) > summary.requests
    assert edges[("checkout", "email")].count == frontend.checkouts_complete

    text = summary.render()
    assert "incomplete" in text and "client -> frontend" in text and "result: FAILED" in text
    assert summary.as_dict()["traces_incomplete"] == summary.traces_incomplete


def test_load_run_stops_at_max_requests_and_verifies_over_http(
    frontend: FakeFrontend, sink: Sink
) -> None:
    summary = run_load(
        frontend.url,
        users=2,
        spawn_rate=50,
        duration_s=60,
        store=SinkClient(sink.http_url),
        wait_time=FAST,
        tasks="checkout=1",
        max_requests=12,
        verify_timeout=20,
    )
    assert summary.stopped_by == "max_requests"
    assert summary.elapsed_s < 30
    # Users finish the task in flight, so a few requests beyond the bound are possible.
    assert 12 <= summary.requests <= 12 + 2 * 3 + 2
    assert summary.requests == len(frontend.api_requests())
    assert summary.traces_verified == summary.checkouts > 0 and summary.ok


def test_bad_arguments(frontend: FakeFrontend) -> None:
    with pytest.raises(ValueError, match="url"):
        run_load("127.0.0.1:8080", 1, 1, 1)
    with pytest.raises(ValueError, match="users"):
        run_load(frontend.url, 0, 1, 1)
    with pytest.raises(ValueError, match="unknown task"):
        run_load(frontend.url, 1, 1, 1, tasks="nope=1")


def test_interrupted_runner_stops_early_and_still_reports(
    frontend: FakeFrontend, tmp_path: Path
) -> None:
    config = {
        "url": frontend.url,
        "users": 2,
        "spawn_rate": 50,
        "duration_s": 120,
        "wait_min": FAST[0],
        "wait_max": FAST[1],
        "tasks": {"browse_product": 1},
        "max_requests": 100_000,
        "timeout": 5,
        "stop_timeout": 5,
        "ofrep_url": None,
    }
    (tmp_path / "config.json").write_text(json.dumps(config))
    out = tmp_path / "out.json"
    command = [
        sys.executable,
        "-m",
        "tracebed.flows.locust_runner",
        "--config",
        str(tmp_path / "config.json"),
        "--output",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": str(Path(tracebed.__file__).resolve().parents[1])}
    log = tmp_path / "log"
    with log.open("wb") as sink_log:
        proc = subprocess.Popen(command, stdout=sink_log, stderr=subprocess.STDOUT, env=env)
    try:
        # Probe (short, bounded) until the users are making requests.
        for attempt in Retrying(stop=stop_after_delay(60), wait=wait_fixed(0.1), reraise=True):
            with attempt:
                assert len(frontend.api_requests()) >= 5, "no load yet"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    summary = json.loads(out.read_text())
    assert summary["stopped_by"] == "interrupted" and summary["elapsed_s"] < 60
    assert summary["requests"] == len(frontend.api_requests())


def test_unreachable_shop_counts_every_request_as_failed() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    summary = run_load(
        f"http://127.0.0.1:{port}",
        1,
        10,
        1,
        wait_time=FAST,
        tasks="browse_product=1",
        timeout=2,
        verify=False,
    )
    assert summary.requests > 0 and summary.failures == summary.requests
    assert any("ConnectionError" in text for text in summary.errors)
    assert not summary.ok and summary.verification == "skipped (verify=False)"
