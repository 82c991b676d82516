"""`tracebed tracetest run`: the same Tracetest files as the plugin, against a running stack's
sink, with Tracetest CLI's exit meaning (0: every spec passed)."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from tracebed.cli import cli
from tracebed.stack.state import RunRecord

from . import apps
from .test_plugin import GRPC_TEST, PRICE_TEST, PROTO, SUITE, USE_OUTPUT_TEST


@pytest.fixture(scope="module")
def running() -> Iterator[apps.Running]:
    run = apps.Running()
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(autouse=True)
def no_stack_on_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    state = tmp_path / "state"
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(state))
    return state


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def tracetest(*args: str) -> Result:
    return CliRunner().invoke(cli, ["tracetest", "run", *args])


def shop_host(running: apps.Running) -> str:
    return "shop=" + running.apps.shop_url.split("://", 1)[1]


def test_passing_file_exits_zero(running: apps.Running, tmp_path: Path) -> None:
    path = write(tmp_path / "price.yaml", PRICE_TEST)
    result = tracetest("-f", str(path), "--sink", running.sink.http_url, "--host-map", shop_host(running))
    assert result.exit_code == 0, result.output
    assert "✓ It answered  (span[tracetest.span.type=\"general\" name=\"Tracetest trigger\"] → 1 span(s)" \
        in result.output
    assert "✓ Currency converted" in result.output and "✓ The shop called currency" in result.output
    assert result.output.rstrip().endswith("3 spec(s): 3 passed, 0 failed")


def test_failing_spec_exits_one_with_its_story_in_json(running: apps.Running, tmp_path: Path) -> None:
    write(tmp_path / "price.yaml", PRICE_TEST.replace('conversion.to = "EUR"', 'conversion.to = "JPY"'))
    write(tmp_path / "other.yaml", "services:\n  a: {}\n")  # other YAML in the directory is skipped
    result = tracetest("-f", str(tmp_path), "--sink", running.sink.http_url, "--host-map",
                       shop_host(running), "--quiet", "0.2", "-o", "json")
    assert result.exit_code == 1, result.output
    doc = json.loads(result.output)
    assert doc["passed"] is False
    assert doc["summary"] == {"specs": 3, "passed": 2, "failed": 1, "file_errors": 0}
    [entry] = doc["files"]
    [test] = entry["tests"]
    assert len(test["trace_id"]) == 32
    failed = [s for s in test["specs"] if not s["passed"]]
    assert [s["name"] for s in failed] == ["Currency converted"]
    assert "✗ attr:app.currency.conversion.to = \"JPY\"  (actual: 'EUR')" in failed[0]["message"]
    assert ">>" in failed[0]["message"]  # the trace tree, the selected span marked
    assert failed[0]["id"] == f"{tmp_path / 'price.yaml'}::Shop: price::Currency converted"


def test_suite_outputs_feed_later_steps_and_junit(running: apps.Running, tmp_path: Path) -> None:
    write(tmp_path / "flow" / "1-price.yaml", PRICE_TEST)
    write(tmp_path / "flow" / "2-use.yaml", USE_OUTPUT_TEST)
    write(tmp_path / "flow" / "all.yaml", SUITE)
    junit = tmp_path / "junit.xml"
    result = tracetest("-f", str(tmp_path / "flow"), "--sink", running.sink.http_url,
                       "--host-map", shop_host(running), "--junit", str(junit))
    assert result.exit_code == 0, result.output
    assert "[2] Use output" in result.output
    assert result.output.rstrip().endswith("4 spec(s): 4 passed, 0 failed")  # steps run once
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert [c.get("name") for c in cases][-1] == "[2] Use output::It saw the output of step 1"
    assert len(cases) == 4 and not ET.parse(junit).getroot().findall(".//failure")
    trace_ids = {p.get("value") for c in cases for p in c.findall(".//property")}
    assert len(trace_ids) == 2  # one trace per test, shared by its specs
    # named on its own, the second step lacks the first one's output
    alone = tracetest("-f", str(tmp_path / "flow" / "2-use.yaml"), "--sink", running.sink.http_url,
                      "--host-map", shop_host(running), "--junit", str(junit))
    assert alone.exit_code == 1 and 'variable "CONVERTED_TO" is not set' in alone.output
    assert len(ET.parse(junit).getroot().findall(".//failure")) == 1


def test_vars_file_var_and_grpc(running: apps.Running, tmp_path: Path) -> None:
    port = running.apps.shop_url.rsplit(":", 1)[1]
    write(tmp_path / "v.yaml", PRICE_TEST.replace("${var:SHOP_ADDR}", "http://${var:FRONTEND_ADDR}"))
    write(tmp_path / "pb" / "demo.proto", PROTO.read_text())
    write(tmp_path / "currency" / "convert.yaml", GRPC_TEST.format(
        proto="../pb/demo.proto", to="CAD", status=0,
        body="attr:tracetest.response.body | json_path '$.units' = \"660\""))
    varset = write(tmp_path / "vars" / "set.yaml",
                   "type: VariableSet\nspec:\n  id: v\n  values:\n  - key: FRONTEND_ADDR\n    value: frontend:8080\n")
    result = tracetest("-f", str(tmp_path / "v.yaml"), "-f", str(tmp_path / "currency"),
                       "--sink", running.sink.http_url, "--vars", str(varset),
                       "--host-map", f"frontend:8080=127.0.0.1:{port}",
                       "--var", f"CURRENCY_ADDR={running.apps.currency_address}")
    assert result.exit_code == 0, result.output
    assert result.output.rstrip().endswith("5 spec(s): 5 passed, 0 failed")


def test_the_stack_on_record_is_found(running: apps.Running, tmp_path: Path) -> None:
    path = write(tmp_path / "price.yaml", PRICE_TEST)
    result = tracetest("-f", str(path))
    assert result.exit_code == 2 and "no running stack on record" in result.output
    record = RunRecord.new("local")
    record.detached = True
    record.info.update({
        "frontend_url": running.apps.shop_url,
        "sink": {"http": running.sink.http_url},
        # as `tracebed up --json` / `tracebed status --json` describe services
        "services": {"shop": {"tier": 1, "endpoints": {"http": running.apps.shop_url}},
                     "currency": {"tier": 0, "endpoints": {"grpc": running.apps.currency_address}}},
    })
    record.save()
    result = tracetest("-f", str(path))  # SHOP_ADDR: the recorded shop's endpoint
    assert result.exit_code == 0, result.output


def test_bad_files_and_options_are_one_line(running: apps.Running, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.yaml", PRICE_TEST.replace('name="Tracetest trigger"]', 'name="Tracetest trigger"'))
    result = tracetest("-f", str(bad), "--sink", running.sink.http_url)
    assert result.exit_code == 1
    assert f"ERROR {bad}:15:74: selector: expected ']' to close span[, found end of input" in result.output
    assert "0 spec(s): 0 passed, 0 failed; 1 file(s) with errors" in result.output
    usage = tracetest("-f", str(bad), "--sink", running.sink.http_url, "--var", "novalue")
    assert usage.exit_code == 2 and "expected NAME=VALUE, got 'novalue'" in usage.output
    gone = tracetest("-f", str(bad), "--sink", "http://127.0.0.1:9")
    assert gone.exit_code == 1 and "sink API at http://127.0.0.1:9 not usable" in gone.output
    assert "Traceback" not in usage.output + gone.output + result.output
