"""Local backend: each service a child process in its own process group, with a log file."""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

from tracebed.stack.backends.base import Backend, ServiceStartError, UpCallback
from tracebed.stack.model import Healthcheck, ServiceDef
from tracebed.stack.state import group_alive, kill_group, proc_start_time, terminate_groups


def _signal(name: str) -> int:
    try:
        return int(getattr(signal, name if name.startswith("SIG") else f"SIG{name}"))
    except AttributeError:
        return int(signal.SIGTERM)


class LocalBackend(Backend):
    name = "local"

    def __init__(self, grace_s: float | None = None) -> None:
        self.grace_s = grace_s
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._logs: dict[str, Path] = {}
        self._starts: dict[str, int | None] = {}
        self._signals: dict[str, int] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def log_dir(self) -> Path:
        return self.run_dir / "logs"

    def start(self, services: list[ServiceDef], on_up: UpCallback) -> None:
        for svc in services:
            self._spawn(svc)
            proc = self._procs[svc.name]
            on_up(svc, {"pid": proc.pid, "log": str(self._logs[svc.name])})

    def _spawn(self, svc: ServiceDef) -> None:
        if svc.command is None:
            raise ServiceStartError(svc.name, "the local backend needs a `command` for it")
        argv = shlex.split(svc.command) if isinstance(svc.command, str) else list(svc.command)
        if not argv:
            raise ServiceStartError(svc.name, "its command is empty")
        env = dict(os.environ)
        for k, v in svc.environment.items():
            if v is None:
                env.pop(k, None)
            else:
                env[k] = v
        self.log_dir().mkdir(parents=True, exist_ok=True)
        log_path = self.log_dir() / f"{svc.name}.log"
        cwd = svc.working_dir
        if cwd is not None and not Path(cwd).is_dir():
            raise ServiceStartError(svc.name, f"working_dir does not exist: {cwd}")
        with open(log_path, "wb") as log:  # a fresh log per run: the tail is this run's
            try:
                proc = subprocess.Popen(
                    argv,
                    env=env,
                    cwd=cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop it and its children
                )
            except OSError as exc:
                raise ServiceStartError(svc.name, f"cannot run {argv[0]!r}: {exc}") from None
        with self._lock:
            self._procs[svc.name] = proc
            self._logs[svc.name] = log_path
            self._starts[svc.name] = proc_start_time(proc.pid)
            self._signals[svc.name] = _signal(svc.stop_signal)
            self._order.append(svc.name)

    def pid(self, service: str) -> int | None:
        proc = self._procs.get(service)
        return proc.pid if proc else None

    def exit_code(self, service: ServiceDef) -> int | None:
        proc = self._procs.get(service.name)
        if proc is None:
            return None
        return proc.poll()

    def is_up(self, service: ServiceDef) -> bool:
        proc = self._procs.get(service.name)
        return proc is not None and proc.poll() is None

    def run_healthcheck(
        self, service: ServiceDef, hc: Healthcheck, timeout_s: float
    ) -> tuple[bool, str]:
        argv = ["/bin/sh", "-c", hc.test] if isinstance(hc.test, str) else list(hc.test)
        env = dict(os.environ)
        env.update({k: v for k, v in service.environment.items() if v is not None})
        try:
            res = subprocess.run(
                argv,
                env=env,
                cwd=service.working_dir,
                capture_output=True,
                timeout=min(timeout_s, hc.timeout_s),
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"{hc.describe()} timed out"
        except OSError as exc:
            return False, f"{hc.describe()}: {exc}"
        return res.returncode == 0, f"{hc.describe()} exit {res.returncode}"

    def log_tail(self, service: ServiceDef, lines: int = 40) -> list[str]:
        path = self._logs.get(service.name)
        if path is None or not path.is_file():
            return []
        with open(path, errors="replace") as f:
            return [line.rstrip("\n") for line in deque(f, maxlen=lines)]

    def log_path(self, service: str) -> Path | None:
        return self._logs.get(service)

    def stop(self, services: list[ServiceDef]) -> None:
        names = [s.name for s in services if s.name in self._procs]
        grace = {
            s.name: (self.grace_s if self.grace_s is not None else s.stop_grace_s) for s in services
        }
        for name in names:
            proc = self._procs[name]
            if proc.poll() is None:
                kill_group(proc.pid, self._signals[name])
        start = time.monotonic()
        for name in names:
            proc = self._procs[name]
            remaining = max(0.0, grace[name] - (time.monotonic() - start))
            try:
                proc.wait(timeout=remaining)
            except subprocess.TimeoutExpired:
                kill_group(proc.pid, signal.SIGKILL)
                proc.wait()
            # The leader is gone; children it left in its group go too. The group id cannot
            # have been reused while any member remains, so this only hits our processes.
            if group_alive(proc.pid):
                kill_group(proc.pid, signal.SIGKILL)
        with self._lock:
            for name in names:
                self._procs.pop(name, None)
                if name in self._order:
                    self._order.remove(name)

    def teardown(self) -> None:
        by_name = (
            {s.name: s for s in self.topology.services.values()}
            if hasattr(self, "topology")
            else {}
        )
        for name in reversed(list(self._order)):
            svc = by_name.get(name) or ServiceDef(name=name)
            self.stop([svc])

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "run_dir": str(getattr(self, "run_dir", "")),
                "processes": {
                    n: {
                        "pid": p.pid,
                        "pgid": p.pid,
                        "start_time": self._starts.get(n),
                        "signal": self._signals.get(n, int(signal.SIGTERM)),
                        "log": str(self._logs.get(n, "")),
                    }
                    for n, p in self._procs.items()
                },
                "order": list(self._order),
            }

    @classmethod
    def cleanup(cls, state: dict[str, Any], grace_s: float = 5.0) -> None:
        procs = state.get("processes") or {}
        order = [n for n in reversed(state.get("order") or list(procs)) if n in procs]
        groups = [
            (
                int(procs[n]["pgid"]),
                procs[n].get("start_time"),
                int(procs[n].get("signal", signal.SIGTERM)),
            )
            for n in order
        ]
        with contextlib.suppress(OSError):
            terminate_groups(groups, grace_s)
