"""The bundled suite's registry-conformance check, run as a user runs it: `tracebed demo` on the
reference stack, at 3.0.0 against the demo's registry (the reference copy of its
`telemetry-schema/` and semantic conventions 1.40.0) and at 2.0.2, which has none."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from html import unescape
from pathlib import Path

import pytest

from tests.demo_layout import REFERENCE
from tracebed.flows.registry import FLOWS
from tracebed.paths import fixtures_dir
from tracebed.suites.otel_demo.schema import load_known

TRACEBED = [sys.executable, "-c", "from tracebed.cli import main; main()"]
SCHEMA = (REFERENCE / "otel-demo-3.0.0" / "telemetry-schema").resolve()
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()
KNOWN = fixtures_dir() / "conformance" / "3.0.0" / "known.yaml"
TEST = "test_flow_telemetry_conforms_to_the_registry"


def registry_args() -> list[str]:
    if not (SCHEMA / "manifest.yaml").is_file() or not SEMCONV.is_dir():
        pytest.skip(f"the demo 3.0.0 registry and semconv 1.40.0 are not at {REFERENCE}")
    return ["--registry", str(SCHEMA), "--registry-dependency", str(SEMCONV)]


def demo(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[int, str]:
    proc = subprocess.run(
        [*TRACEBED, "demo", "--report", str(tmp_path / "report"), *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )
    return proc.returncode, proc.stdout + proc.stderr


def junit_cases(report: Path) -> dict[str, ET.Element]:
    tree = ET.parse(report / "junit.xml")
    return {case.get("name", ""): case for case in tree.iter("testcase")}


def skip_message(case: ET.Element) -> str:
    skipped = case.find("skipped")
    assert skipped is not None, ET.tostring(case, encoding="unicode")[:2000]
    return skipped.get("message", "")


@pytest.mark.slow
def test_3_0_0_stand_in_conforms_except_where_the_demo_does_not(tmp_path: Path) -> None:
    code, output = demo(tmp_path, *registry_args(), "--", "-k", "test_conformance")
    assert code == 0, output[-8000:]
    cases = junit_cases(tmp_path / "report")
    for flow in FLOWS:
        case = cases[f"{TEST}[3.0.0-{flow}]"]
        assert case.find("failure") is None and case.find("error") is None
    ran = [n for n, c in cases.items() if "3.0.0-" in n and c.find("skipped") is None]
    assert len(ran) >= len(FLOWS) - 1, sorted(cases)  # flood_home may send no request
    assert "demo 2.0.2 case" in skip_message(cases[f"{TEST}[2.0.2]"])
    # Every known non-conformance is one the stand-in shows: the list has no stale entry,
    # and the report shows the findings with the demo's behaviour beside them.
    pages = "".join(
        unescape(p.read_text()) for p in (tmp_path / "report" / "tests").glob("*conformance*.html")
    )
    for known in load_known(KNOWN):
        assert f"known: {known.demo}" in pages, f"never seen: {known}"
    index = (tmp_path / "report" / "index.html").read_text()
    assert re.search(r"conformance: \d+ violations \(\d+ known\)", index)


@pytest.mark.slow
def test_a_non_conformance_that_is_not_known_fails_naming_where_it_is(tmp_path: Path) -> None:
    """With the known list emptied, ad's unregistered metric unit fails the get_ads flow, and
    the failure names the finding, the key, the service, the signal and a trace id."""
    registry = registry_args()
    fixtures = tmp_path / "fixtures"
    shutil.copytree(fixtures_dir(), fixtures)
    (fixtures / "conformance" / "3.0.0" / "known.yaml").write_text("known: []\n")
    code, output = demo(
        tmp_path,
        *registry,
        "--",
        "-k",
        "test_conformance and get_ads",
        env={"TRACEBED_FIXTURES": str(fixtures)},
    )
    assert code == 1, output[-6000:]
    failure = junit_cases(tmp_path / "report")[f"{TEST}[3.0.0-get_ads]"].find("failure")
    assert failure is not None
    text = failure.get("message", "") + (failure.text or "")
    assert "not known non-conformances of the demo" in text
    assert re.search(
        r"violation deprecated 'rpc\.system' -- ad: span 'oteldemo\.AdService/GetAds' "
        r"trace [0-9a-f]{32} span [0-9a-f]{16}: Attribute 'rpc\.system' is deprecated",
        text,
    ), text[:4000]


@pytest.mark.slow
def test_2_0_2_says_it_has_no_registry_and_3_0_0_without_one_says_how_to_give_it(
    tmp_path: Path,
) -> None:
    code, output = demo(tmp_path, "--demo-version", "2.0.2", "--", "-k", "test_conformance")
    assert code == 0, output[-6000:]
    cases = junit_cases(tmp_path / "report")
    assert "demo 2.0.2 ships no telemetry registry" in skip_message(cases[f"{TEST}[2.0.2]"])
    assert "a demo 3.0.0 case" in skip_message(cases[f"{TEST}[3.0.0-checkout]"])

    code, output = demo(tmp_path, "--", "-k", "test_conformance and checkout")
    assert code == 0, output[-6000:]
    message = skip_message(junit_cases(tmp_path / "report")[f"{TEST}[3.0.0-checkout]"])
    assert "no registry for demo 3.0.0: pass --tracebed-registry DIR" in message
