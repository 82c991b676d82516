"""Run records: what a run started, written to disk so that a killed run is cleaned up later.

One JSON file per run under the state directory (`$TRACEBED_STATE_DIR`, else
`$XDG_STATE_HOME/tracebed/runs`, else `~/.local/state/tracebed/runs`). A record names the
owning process (pid + its start time, so a reused pid is not mistaken for the owner), the
backend and what it started (process groups, or the compose project). A record whose owner is
gone and that was not detached is stale: the next run (or `tracebed down`) cleans it up.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


def state_dir() -> Path:
    if os.environ.get("TRACEBED_STATE_DIR"):
        return Path(os.environ["TRACEBED_STATE_DIR"])
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "tracebed" / "runs"


# -- processes ------------------------------------------------------------------------------


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (None if gone or a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name may contain spaces and parentheses; fields follow the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def proc_alive(pid: int, start_time: int | None = None) -> bool:
    now = proc_start_time(pid)
    if now is None:
        return False
    return start_time is None or now == start_time


def group_alive(pgid: int) -> bool:
    """Is any (non-zombie) process left in process group `pgid`?"""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] not in ("Z", "X") and int(fields[2]) == pgid:
            return True
    return False


def kill_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def terminate_groups(groups: list[tuple[int, int | None, int]], grace_s: float) -> None:
    """Stop process groups that are not our children: (pgid, leader start time, signal).

    The signal goes to each group whose leader is still the process we started (or whose
    group still has members); after `grace_s` whatever is left gets SIGKILL.
    """
    live = []
    for pgid, start, sig in groups:
        if proc_alive(pgid, start) or (proc_start_time(pgid) is None and group_alive(pgid)):
            kill_group(pgid, sig)
            live.append(pgid)
    deadline = time.monotonic() + grace_s
    delay = 0.01
    while live and time.monotonic() < deadline:
        live = [g for g in live if group_alive(g)]
        if live:
            time.sleep(delay)  # bounded back-off while processes we do not own exit
            delay = min(delay * 2, 0.2)
    for g in live:
        kill_group(g, signal.SIGKILL)


# -- records --------------------------------------------------------------------------------


@dataclass
class RunRecord:
    run_id: str
    backend: str
    owner_pid: int
    owner_start: int | None
    created: float
    detached: bool = False
    backend_state: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)  # endpoints, sink, frontend_url, ...

    @classmethod
    def new(cls, backend: str) -> RunRecord:
        pid = os.getpid()
        return cls(
            run_id=uuid.uuid4().hex[:12],
            backend=backend,
            owner_pid=pid,
            owner_start=proc_start_time(pid),
            created=time.time(),
        )

    @property
    def path(self) -> Path:
        return state_dir() / f"run-{self.run_id}.json"

    def owner_alive(self) -> bool:
        return proc_alive(self.owner_pid, self.owner_start)

    def is_stale(self) -> bool:
        return not self.detached and not self.owner_alive()

    def save(self) -> None:
        path = self.path
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, default=str))
        tmp.replace(path)  # atomic: a reader never sees half a record

    def remove(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    @classmethod
    def load(cls, path: Path) -> RunRecord:
        data = json.loads(path.read_text())
        return cls(**data)


def list_records() -> list[RunRecord]:
    out = []
    directory = state_dir()
    if not directory.is_dir():
        return []
    for path in sorted(directory.glob("run-*.json")):
        try:
            out.append(RunRecord.load(path))
        except (OSError, ValueError, TypeError):
            continue  # a record being written or a foreign file; not ours to judge
    return sorted(out, key=lambda r: r.created)


def cleanup_record(record: RunRecord, grace_s: float = 5.0) -> None:
    """Stop everything a record says was started, then delete the record."""
    from tracebed.stack.backends import backend_class

    backend_class(record.backend).cleanup(record.backend_state, grace_s=grace_s)
    sink = record.info.get("sink") or {}
    if sink.get("pid"):
        terminate_groups([(int(sink["pid"]), sink.get("start_time"), signal.SIGTERM)], grace_s)
    record.remove()


def cleanup_stale(grace_s: float = 2.0) -> list[str]:
    """Clean up every run whose owner died without tearing down; returns their run ids."""
    cleaned = []
    for record in list_records():
        if record.is_stale():
            cleanup_record(record, grace_s=grace_s)
            cleaned.append(record.run_id)
    return cleaned
