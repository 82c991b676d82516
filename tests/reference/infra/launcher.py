"""A small local launcher for the reference spec, for these tests only.

It starts a subset of ``build_spec`` services tier by tier as real processes (each in its
own process group, log file per service) and waits on each service's probe with short
bounded retries; ``stop()`` ends every process it started. The project's real launcher is
``tracebed.stack``; one test in this directory drives the whole stack through it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import grpc
import redis
import requests
from grpc_health.v1 import health_pb2, health_pb2_grpc


class LaunchError(RuntimeError):
    pass


def _probe_once(probe: dict[str, Any]) -> bool:
    kind = probe["type"]
    try:
        if kind == "tcp":
            with socket.create_connection((probe["host"], probe["port"]), timeout=0.5):
                return True
        if kind == "http":
            return bool(
                requests.get(probe["url"], timeout=1).status_code == probe.get("status", 200)
            )
        if kind == "grpc":
            with grpc.insecure_channel(f"{probe['host']}:{probe['port']}") as ch:
                stub = health_pb2_grpc.HealthStub(ch)
                resp = stub.Check(
                    health_pb2.HealthCheckRequest(service=probe.get("service", "")), timeout=1
                )
                return bool(resp.status == health_pb2.HealthCheckResponse.SERVING)
        if kind == "redis":
            return bool(
                redis.Redis(host=probe["host"], port=probe["port"], socket_timeout=1).ping()
            )
        if kind == "command":
            return subprocess.run(probe["argv"], capture_output=True, timeout=10).returncode == 0
    except (
        OSError,
        requests.RequestException,
        grpc.RpcError,
        redis.RedisError,
        subprocess.SubprocessError,
    ):
        return False
    raise LaunchError(f"unknown probe type {kind!r}")


class Launcher:
    def __init__(self, spec: dict[str, Any], log_dir: Path) -> None:
        self.spec = spec
        self.log_dir = log_dir
        log_dir.mkdir(parents=True, exist_ok=True)
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.ready_at: dict[str, float] = {}
        #: services that did not exit within the grace period after SIGTERM
        self.killed: list[str] = []

    def closure(self, names: Iterable[str]) -> set[str]:
        services = self.spec["services"]
        todo, seen = list(names), set()
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            if n not in services:
                raise LaunchError(f"service {n!r} is not in the spec")
            seen.add(n)
            todo.extend(services[n].get("depends_on", {}))
        return seen

    def tiers(self, names: set[str]) -> list[list[str]]:
        services = self.spec["services"]
        depth: dict[str, int] = {}

        def d(n: str) -> int:
            if n not in depth:
                deps = [x for x in services[n].get("depends_on", {}) if x in names]
                depth[n] = 1 + max((d(x) for x in deps), default=-1)
            return depth[n]

        for n in names:
            d(n)
        out: list[list[str]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for n, t in depth.items():
            out[t].append(n)
        return [sorted(t) for t in out]

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _spawn(self, name: str) -> None:
        svc = self.spec["services"][name]
        env = {**os.environ, **svc.get("environment", {})}
        with open(self.log_dir / f"{name}.log", "wb") as log:
            self.procs[name] = subprocess.Popen(
                svc["command"],
                env=env,
                cwd=svc.get("working_dir"),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start(self, names: Iterable[str] | None = None, timeout: float = 30.0) -> Launcher:
        wanted = self.closure(names if names is not None else self.spec["services"])
        t0 = time.monotonic()
        try:
            for tier in self.tiers(wanted):
                for name in tier:
                    self._spawn(name)
                pending = set(tier)
                deadline = time.monotonic() + timeout
                while pending:
                    for name in sorted(pending):
                        proc = self.procs[name]
                        if proc.poll() is not None:
                            raise LaunchError(
                                f"{name} exited with {proc.returncode}:\n{self.log(name)}"
                            )
                        probe = self.spec["services"][name]["x-tracebed"].get("probe")
                        if probe is None or _probe_once(probe):
                            pending.discard(name)
                            self.ready_at[name] = time.monotonic() - t0
                    if pending and time.monotonic() > deadline:
                        logs = "\n".join(f"--- {n}\n{self.log(n)}" for n in pending)
                        raise LaunchError(f"not ready within {timeout}s: {sorted(pending)}\n{logs}")
                    if pending:
                        time.sleep(0.05)  # bounded probe interval, not a result wait
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs.items():
            try:
                proc.wait(timeout=8)
            except subprocess.TimeoutExpired:
                self.killed.append(name)
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()

    def __enter__(self) -> Launcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
