"""The plugin's SIGTERM handler: only while a stack it started runs, the previous one after."""

from __future__ import annotations

import json
import socket
import sys

import pytest

pytest_plugins = ["pytester"]

# Session-end hook: by then the session fixtures (the stack) are torn down.
CONFTEST = """
import json, signal
from pathlib import Path

def pytest_sessionfinish(session):
    handler = signal.getsignal(signal.SIGTERM)
    Path("after.json").write_text(json.dumps({"default": handler is signal.SIG_DFL}))
"""

TESTS = """
import signal

def test_a_without_a_stack():
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL

def test_b_with_a_stack(demo_stack):
    assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_sigterm_handler_only_while_a_stack_runs(pytester: pytest.Pytester) -> None:
    port = _free_port()
    pytester.makefile(
        ".yml",
        compose=f"""
services:
  web:
    command: ["{sys.executable}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]
    ports: ["{port}"]
""",
    )
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_signals=TESTS)
    result = pytester.runpytest_subprocess(
        "-p",
        "no:cacheprovider",
        "-p",
        "no:randomly",
        "--tracebed-stack=local",
        "--tracebed-compose=compose.yml",
        f"--tracebed-frontend-url=http://127.0.0.1:{port}",
        timeout=120,
    )
    result.assert_outcomes(passed=2)
    assert json.loads((pytester.path / "after.json").read_text()) == {"default": True}


def test_no_handler_for_a_session_without_tracebed(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_plain="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    assert json.loads((pytester.path / "after.json").read_text()) == {"default": True}
