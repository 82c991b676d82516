"""`tracebed tracetest run -f .../otel-demo-2.0.2/tracetesting` against a reference stack that
`tracebed up --detach` started, and pytest on the same files against the same stack (one start):
both give every spec the same verdict (58 of 61 pass; the 3 checkout ones fail, as pinned in
test_demo_full_suite.py)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest_plugins = ["pytester"]

DEMO = (Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2"
        / "tracetesting").resolve()
TRACEBED = [sys.executable, "-c", "from tracebed.cli import main; main()"]

CONFTEST = """
import pytest
from tracebed.otlp.client import SinkClient

@pytest.fixture(scope="session")
def span_sink():
    return SinkClient({sink!r})  # the sink of the stack `tracebed up` started
"""


@pytest.fixture(scope="module")
def reference_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    base = tmp_path_factory.mktemp("reference-stack")
    env = {**os.environ, "TRACEBED_STATE_DIR": str(base / "state")}
    # the 2.0.2 Tracetest suite tests demo 2.0.2: the stand-in impersonates that release
    up = subprocess.run([*TRACEBED, "up", "--detach", "--demo-version", "2.0.2", "--json", "--workdir", str(base / "work")],
                        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert up.returncode == 0, up.stderr[-3000:]
    summary = json.loads(up.stdout.strip().splitlines()[-1])
    try:
        yield {"env": env, "summary": summary}
    finally:
        subprocess.run([*TRACEBED, "down"], env=env, capture_output=True, timeout=120, check=False)


def host_rules(summary: dict[str, Any]) -> list[str]:
    """NAME=HOST:PORT for every service of `tracebed up --json`, as the plugin's host map."""
    rules = []
    for name, service in summary["services"].items():
        endpoints = service.get("endpoints") or {}
        target = endpoints.get("http") or endpoints.get("grpc")
        if target:
            rules.append(f"{name}={target.split('://', 1)[-1].split('/', 1)[0]}")
    return rules


@pytest.mark.slow
def test_the_cli_and_pytest_give_the_demo_suite_the_same_verdicts(
    reference_stack: dict[str, Any], pytester: pytest.Pytester
) -> None:
    cli = subprocess.run([*TRACEBED, "tracetest", "run", "-f", str(DEMO), "-o", "json"],
                         env=reference_stack["env"], capture_output=True, text=True, timeout=900,
                         check=False)
    assert cli.returncode == 1, cli.stderr[-3000:]  # the 3 checkout specs fail
    doc = json.loads(cli.stdout)
    by_cli = {spec["id"].removeprefix(f"{DEMO}/"): spec["passed"]
              for entry in doc["files"] for test in entry["tests"] for spec in test["specs"]}
    assert doc["summary"] == {"specs": 61, "passed": 58, "failed": 3, "file_errors": 0}
    assert all("checkout" in name for name, passed in by_cli.items() if not passed)

    # pytest on the same files, against the same stack and sink
    shutil.copytree(DEMO, pytester.path / "tracetesting")
    pytester.makeconftest(CONFTEST.format(sink=reference_stack["summary"]["sink"]["http"]))
    rules = "\n    ".join(host_rules(reference_stack["summary"]))
    pytester.makeini(f"[pytest]\ntracebed_host_map =\n    {rules}\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-v", "tracetesting", timeout=900)
    by_pytest = {}
    for line in result.outlines:
        found = re.match(r"^tracetesting/(.+?) (PASSED|FAILED)\b", line)
        if found:
            by_pytest[found.group(1)] = found.group(2) == "PASSED"
    assert len(by_pytest) == 61, result.stdout.str()[-4000:]
    assert by_pytest == by_cli
