"""`tracebed conformance`: offline on OTLP/JSON files; exit 0 / 1 (findings at --fail-on) /
2 (bad input, one line)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.query.signals import TRACE_ID, logs_json, metrics_json, traces_json
from tracebed.cli import cli

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()
DEMO = (REFERENCE / "otel-demo-3.0.0" / "telemetry-schema").resolve()

pytestmark = pytest.mark.skipif(
    not (SEMCONV.is_dir() and DEMO.is_dir()), reason="reference registries not present"
)
REGISTRY = ["--registry", str(DEMO), "--dependency", str(SEMCONV)]


def write(tmp_path: Path, name: str, document: dict) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["conformance", *args])
    return result.exit_code, result.output


def test_violations_exit_1_and_are_listed_with_their_trace(tmp_path: Path) -> None:
    traces = write(tmp_path, "traces.json", traces_json({"demo.order.amount": "1.00"}))
    logs = write(tmp_path, "logs.json", logs_json("cart.item_added", {}))
    code, out = run(*REGISTRY, traces, logs)
    assert code == 1
    assert "type_mismatch" in out and "Attribute 'demo.order.amount' has type 'string'" in out
    assert f"trace {TRACE_ID}" in out
    assert "missing_event" in out and "log 'cart.item_added' (cart)" in out
    assert out.startswith("conformance: 2 violations")


def test_conforming_files_exit_0(tmp_path: Path) -> None:
    traces = write(tmp_path, "traces.json", traces_json({"demo.order.id": "x"}))
    ads = write(
        tmp_path,
        "metrics.json",
        metrics_json(
            "demo.ad.requests",
            "{ad_request}",
            [{"demo.ad.request_type": "TARGETED", "demo.ad.response_type": "RANDOM"}],
        ),
    )
    code, out = run(*REGISTRY, traces, ads)
    assert code == 0, out
    assert out.startswith("conformance: 0 violations, 0 improvements, 0 information")


def test_fail_on_and_level_overrides(tmp_path: Path) -> None:
    enum = write(tmp_path, "t.json", traces_json({"http.request.method": "BREW"}))
    assert run(*REGISTRY, enum)[0] == 0  # undefined_enum_variant is information
    assert run(*REGISTRY, "--fail-on", "information", enum)[0] == 1
    assert run(*REGISTRY, "--level", "undefined_enum_variant=violation", enum)[0] == 1
    secret = write(tmp_path, "s.json", traces_json({"demo.secret": "x"}))
    assert run(*REGISTRY, "--fail-on", "none", secret)[0] == 0
    assert run(*REGISTRY, "--exclude", "missing_attribute", secret)[0] == 0


def test_ignore_and_min_coverage(tmp_path: Path) -> None:
    resource = {"service.name": "checkout", "telemetry.sdk.name": 1}
    traces = write(tmp_path, "t.json", traces_json({"demo.order.id": "x"}, resource))
    assert run(*REGISTRY, traces)[0] == 1
    assert run(*REGISTRY, "--ignore", "telemetry", traces)[0] == 0
    code, out = run(*REGISTRY, "--ignore", "telemetry", "--min-coverage", "50", traces)
    assert code == 1 and "under the minimum 50.0%" in out


def test_json_format(tmp_path: Path) -> None:
    traces = write(tmp_path, "t.json", traces_json({"http.method": "GET"}))
    code, out = run(*REGISTRY, "--format", "json", traces)
    assert code == 1
    document = json.loads(out)
    deprecated = [f for f in document["findings"] if f["id"] == "deprecated"]
    assert deprecated[0]["context"]["renamed_to"] == "http.request.method"
    assert deprecated[0]["trace_id"] == TRACE_ID
    assert document["statistics"]["advice_type_counts"]["deprecated"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--registry", "/nonexistent"], "registry: /nonexistent: not a directory"),
        (["--level", "deprecated"], "expected FINDING_ID=LEVEL"),
        (["--level", "deprecated=fatal"], "unknown finding level 'fatal'"),
        (["--level", "nope=violation"], "unknown finding id 'nope'"),
        (["--exclude", "nope"], "unknown finding id nope"),
    ],
)
def test_bad_options_exit_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    traces = write(tmp_path, "t.json", traces_json({}))
    code, out = run(*REGISTRY, *args, traces)
    assert code == 2
    assert message in out and len(out.strip().splitlines()) == 1 and "Traceback" not in out


def test_bad_file_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    code, out = run(*REGISTRY, str(bad))
    assert code == 2 and "bad.json: not JSON" in out and len(out.strip().splitlines()) == 1
    code, out = run(*REGISTRY, str(tmp_path / "missing.json"))
    assert code == 2 and "cannot read" in out
