"""SIGTERM to a pytest session mid-test still tears the reference stack down."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

USER_TEST = '''
import json, os, threading
from pathlib import Path

def test_holds_the_stack(demo_stack):
    Path(os.environ["PIDS_FILE"]).write_text(json.dumps({"frontend": demo_stack.frontend_url}))
    threading.Event().wait(120)  # until the runner is terminated (bounded)
'''


def _children_of(pid: int) -> set[int]:
    out = subprocess.run(["ps", "-eo", "pid,pgid,ppid"], capture_output=True, text=True).stdout
    rows = [tuple(int(x) for x in line.split()) for line in out.splitlines()[1:] if line.strip()]
    found, frontier = set(), {pid}
    while frontier:
        frontier = {r[0] for r in rows if r[2] in frontier} - found
        found |= frontier
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().split()[2] != "Z"


@pytest.mark.slow
def test_sigterm_mid_session_stops_every_stack_process(tmp_path: Path) -> None:
    (tmp_path / "test_hold.py").write_text(USER_TEST)
    marker = tmp_path / "ready.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_hold.py"],
        cwd=tmp_path,
        env={**os.environ, "PIDS_FILE": str(marker)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "the stack did not come up within 300 s"
            time.sleep(0.2)  # waiting on another process's file: short bounded poll
        stack_pids = _children_of(proc.pid)
        assert len(stack_pids) >= 15, f"expected the reference stack's processes, got {stack_pids}"
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    left = sorted(pid for pid in stack_pids if _alive(pid))
    assert not left, f"left running after SIGTERM: {left}\n{output[-3000:]}"
    assert json.loads(marker.read_text())["frontend"].startswith("http://127.0.0.1:")
