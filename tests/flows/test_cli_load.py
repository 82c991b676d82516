"""`tracebed load` end to end: Locust subprocess, verification through the sink's HTTP API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.flows.fake_frontend import FakeFrontend
from tracebed.cli import cli
from tracebed.otlp import Sink
from tracebed.stack.state import RunRecord

FAST = ["--wait", "0.02", "0.1", "--spawn-rate", "20"]


@pytest.fixture(autouse=True)
def _own_state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run records of stacks elsewhere on the machine must not leak into these tests."""
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(tmp_path / "state"))


def test_load_command_verifies_through_the_sink_api(
    frontend: FakeFrontend, sink: Sink, tmp_path: Path
) -> None:
    # No checkout trace has email or the Kafka publish; a chain without them passes.
    frontend.incomplete_every = 1
    out = tmp_path / "summary.json"
    args = [
        "load",
        "--url",
        frontend.url,
        "--users",
        "2",
        "--duration",
        "1.5",
        *FAST,
        "--tasks",
        "checkout=1,browse_product=1",
        "--sink",
        sink.http_url,
        "--json",
        str(out),
        "--chain",
        "checkout, cart,product-catalog,currency,shipping,quote,payment",
        "--no-kafka",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "result: OK" in result.output and "client -> frontend" in result.output
    summary = json.loads(out.read_text())
    assert summary["ok"] and summary["checkouts"] == summary["traces_verified"] > 0
    assert summary["requests"] == len(frontend.api_requests())
    assert frontend.checkouts_incomplete > 0


def test_load_command_own_sink_says_where_spans_must_go(frontend: FakeFrontend) -> None:
    # The fake exports to the module's sink, not to the one the command starts: nothing arrives.
    args = [
        "load",
        "--url",
        frontend.url,
        "--users",
        "1",
        "--duration",
        "1",
        *FAST,
        "--tasks",
        "checkout=1",
        "--verify-timeout",
        "1",
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 1
    assert "collecting spans at OTLP/gRPC 127.0.0.1:" in result.output
    assert "no span arrived at 127.0.0.1:" in result.output


def test_load_command_bad_input(frontend: FakeFrontend) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["load", "--url", frontend.url, "--tasks", "nope=1"])
    assert result.exit_code == 2 and "unknown task" in result.output
    result = runner.invoke(cli, ["load", "--url", frontend.url, "--chain", " ,", "--no-kafka"])
    assert result.exit_code == 2 and "needs at least one service" in result.output
    result = runner.invoke(cli, ["load", "--url", frontend.url, "--sink", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "sink API at http://127.0.0.1:9 not usable" in result.output
    result = runner.invoke(cli, ["load", "--url", "nohost", "--no-verify", "--duration", "1"])
    assert result.exit_code == 2 and "http(s) URL" in result.output


def test_load_command_finds_the_stack_on_record(frontend: FakeFrontend, sink: Sink) -> None:
    record = RunRecord.new("external")
    record.detached = True
    record.info = {
        "frontend_url": frontend.url,
        "sink": {"http": sink.http_url},
        # The fake answers OFREP too: flood_home must ask it for loadGeneratorFloodHomepage.
        "services": {"flagd": {"endpoints": {"ofrep": frontend.url}}},
    }
    record.save()
    args = ["load", "--users", "1", "--duration", "1", *FAST, "--tasks", "checkout=1,flood_home=1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert f"verifying through the sink of the stack on record: {sink.http_url}" in result.output
    assert f"against {frontend.url}" in result.output and "result: OK" in result.output
    assert any(s.path.startswith("/ofrep/") for s in frontend.seen)

    record.remove()
    result = CliRunner().invoke(cli, ["load", "--duration", "1"])
    assert result.exit_code == 2 and "no stack on record" in result.output
