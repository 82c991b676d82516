"""Fixtures for the stack tests: free ports, an isolated state dir, leak checks."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tracebed.stack.state import group_alive, proc_alive

REPO = Path(__file__).resolve().parents[2]
DEMO = (REPO / ".." / "shared" / "reference" / "otel-demo-2.0.2").resolve()
SERVERS = Path(__file__).resolve().parent / "servers"
PY = sys.executable


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(autouse=True)
def state_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test gets its own run-record directory (no cross-test stale cleanups)."""
    d = tmp_path / "state"
    monkeypatch.setenv("TRACEBED_STATE_DIR", str(d))
    monkeypatch.delenv("TRACEBED_READINESS", raising=False)
    monkeypatch.chdir(tmp_path)  # no ./fixtures/readiness.yaml unless a test writes one
    return d


@pytest.fixture
def demo() -> Path:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    return DEMO


def assert_gone(pids: list[int]) -> None:
    """Every process (and its process group) we started is gone."""
    alive = [p for p in pids if proc_alive(p) or group_alive(p)]
    assert not alive, f"processes left behind: {alive}"


@pytest.fixture
def reap_pids() -> Iterator[list[int]]:
    """Tests append pids of process groups they caused; anything left is killed and fails."""
    pids: list[int] = []
    yield pids
    import signal

    left = [p for p in pids if group_alive(p)]
    for p in left:
        with contextlib.suppress(OSError):
            os.killpg(p, signal.SIGKILL)
    assert not left, f"process groups left behind: {left}"
