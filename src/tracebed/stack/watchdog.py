"""Watchdog: stop a run's services when the process that started them dies without stopping them.

One small process per running stack, in its own session (Ctrl-C in a terminal reaches the
runner, which tears down by itself). It waits, without polling, on two things: its stdin, a
pipe from the runner, which writes `stop` once the stack is stopped or detached; and a pidfd of
the runner. The runner's death, even by SIGKILL, closes the pipe and makes the pidfd readable:
the watchdog then cleans up from the run record, as the next run would (`cleanup_record`).
The pidfd covers a runner that forked (a child holding the pipe's write end open).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import tracebed
from tracebed.stack.state import RunRecord, cleanup_record, proc_alive, proc_start_time

STOP = b"stop\n"
GRACE_S = 3.0  # the stop signal, then SIGKILL: "within a few seconds"


class Watchdog:
    """The runner's end: `release()` when the stack was stopped or detached."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        self._proc = proc

    @property
    def pid(self) -> int:
        return self._proc.pid

    def info(self) -> dict[str, int | None]:
        return {"pid": self._proc.pid, "start_time": proc_start_time(self._proc.pid)}

    def release(self) -> None:
        stdin = self._proc.stdin
        if stdin is not None and not stdin.closed:
            with contextlib.suppress(OSError):  # the watchdog died already: nothing to tell
                stdin.write(STOP)
                stdin.flush()
            with contextlib.suppress(OSError):
                stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


def spawn_watchdog(record: RunRecord, log: Path) -> Watchdog | None:
    """Start the watchdog of `record` (None if it cannot be started: the next run cleans up)."""
    if not sys.executable:
        return None
    env = dict(os.environ)
    # The same tracebed as ours, wherever it was imported from.
    src = str(Path(tracebed.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (src, env.get("PYTHONPATH")) if p)
    argv = [
        sys.executable,
        "-c",
        "import sys; from tracebed.stack.watchdog import main; sys.exit(main(sys.argv[1:]))",
        str(record.path),
        str(record.owner_pid),
        str(record.owner_start if record.owner_start is not None else ""),
    ]
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                argv,
                env=env,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # not in the terminal's process group: no Ctrl-C
            )
    except OSError:
        return None
    return Watchdog(proc)


def _owner_pidfd(pid: int, start: int | None) -> int | None:
    """A pidfd of the owner, or None if unsupported; raises ProcessLookupError if it is gone."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        raise
    except (AttributeError, OSError):
        return None
    if not proc_alive(pid, start):  # died (and its pid maybe reused) before we opened it
        os.close(fd)
        raise ProcessLookupError(pid)
    return fd


def wait_for_owner(pid: int, start: int | None) -> bool:
    """Block until the runner says stop (False) or dies (True)."""
    try:
        pidfd = _owner_pidfd(pid, start)
    except ProcessLookupError:
        return True
    poller = select.poll()
    poller.register(0, select.POLLIN | select.POLLHUP)
    if pidfd is not None:
        poller.register(pidfd, select.POLLIN)
    watching_stdin = True
    while True:
        # Without a pidfd and with stdin closed, fall back to a slow check of the owner.
        timeout = None if (pidfd is not None or watching_stdin) else 1000
        for fd, _ in poller.poll(timeout):
            if fd == pidfd:
                return True
            data = os.read(0, 64)
            if STOP.strip() in data:
                return False
            if not data:  # EOF without `stop`: the runner died, or closed the pipe
                poller.unregister(0)
                watching_stdin = False
                if not proc_alive(pid, start):
                    return True
        if not watching_stdin and pidfd is None and not proc_alive(pid, start):
            return True


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    path, pid_s, start_s = argv
    start = int(start_s) if start_s else None
    if not wait_for_owner(int(pid_s), start):
        return 0
    try:
        record = RunRecord.load(Path(path))
    except (OSError, ValueError, TypeError):
        return 0  # no record: the runner finished its teardown
    if record.detached:
        return 0
    cleanup_record(record, grace_s=GRACE_S)
    print(f"runner {pid_s} died: stopped run {record.run_id}", flush=True)
    return 0
