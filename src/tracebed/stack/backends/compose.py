"""Compose backend: `docker compose` (v2) or `docker-compose` (v1), one tier at a time.

Each run has its own project name; every service gets labels naming the run and its owner
process (through a generated override file), so a run that was killed outright is found and
removed by the next one. Teardown is `down -v --remove-orphans`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import yaml

from tracebed.stack.backends.base import Backend, ServiceStartError, UpCallback
from tracebed.stack.errors import BackendError
from tracebed.stack.model import Healthcheck, ServiceDef
from tracebed.stack.state import proc_alive, proc_start_time

LABEL_RUN = "io.tracebed.run"
LABEL_OWNER = "io.tracebed.owner"  # "<pid>:<start time>"
PROJECT_LABEL = "com.docker.compose.project"


def compose_command() -> list[str]:
    """`docker compose` when the v2 plugin answers, else `docker-compose` (v1)."""
    if shutil.which("docker"):
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            res = subprocess.run(
                ["docker", "compose", "version"], capture_output=True, timeout=20, check=False
            )
            if res.returncode == 0:
                return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    raise BackendError("neither `docker compose` (v2) nor `docker-compose` (v1) is installed")


def docker_available() -> tuple[bool, str]:
    """Can we talk to a dockerd? (ok, reason)."""
    if not shutil.which("docker"):
        return False, "the docker CLI is not installed"
    try:
        res = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"docker info failed: {exc}"
    if res.returncode != 0:
        return False, f"dockerd is not reachable: {res.stderr.strip()[:300]}"
    return True, f"dockerd {res.stdout.strip()}"


def image_config(image: str) -> dict[str, Any] | None:
    """An image's own `Config` (Cmd, Entrypoint, WorkingDir, User, ...) as the daemon has it;
    None when the daemon does not have the image (nothing is pulled)."""
    try:
        res = _docker(["image", "inspect", "--format", "{{json .Config}}", image], timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise BackendError(f"docker image inspect {image}: {exc}") from None
    if res.returncode != 0:
        if "No such image" in res.stderr or "No such object" in res.stderr:
            return None
        raise BackendError(
            f"docker image inspect {image}: "
            + (res.stderr.strip().splitlines() or ["failed"])[-1]
        )
    config = json.loads(res.stdout or "null")
    return config if isinstance(config, dict) else {}


def _docker(args: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


class ComposeBackend(Backend):
    name = "compose"

    @classmethod
    def for_project(cls, project: str | None = None) -> ComposeBackend:
        return cls(project_name=project)

    def __init__(
        self,
        project_name: str | None = None,
        command: list[str] | None = None,
        grace_s: float = 5.0,
        up_timeout_s: float = 600.0,
    ) -> None:
        self.project_name = project_name
        self._command = command
        self.grace_s = grace_s
        self.up_timeout_s = up_timeout_s
        self._started: list[str] = []
        self._lock = threading.Lock()
        self._down = False

    # -- setup --------------------------------------------------------------------------

    def prepare(self, topology: Any, run_dir: Path, run_id: str) -> None:
        super().prepare(topology, run_dir, run_id)
        if not topology.compose_files:
            raise BackendError("the compose backend needs a topology loaded from compose files")
        self.command = self._command or compose_command()
        self.project_name = self.project_name or f"tracebed-{run_id}"
        self.docker = DockerProject(self.project_name)
        run_dir.mkdir(parents=True, exist_ok=True)
        owner = f"{os.getpid()}:{proc_start_time(os.getpid())}"
        override = {
            "services": {
                name: {"labels": {LABEL_RUN: run_id, LABEL_OWNER: owner}}
                for name in topology.services
            }
        }
        self.override_file = run_dir / "tracebed-labels.compose.yml"
        self.override_file.write_text(yaml.safe_dump(override))
        self.base_args = [*self.command, "-p", self.project_name]
        for f in topology.compose_files:
            self.base_args += ["-f", str(f)]
        self.base_args += ["-f", str(self.override_file)]
        if topology.env_file is not None:
            self.base_args += ["--env-file", str(topology.env_file)]
        for p in topology.profiles:
            self.base_args += ["--profile", p]
        self.project_dir = str(topology.compose_files[0].parent)

    def _compose(self, args: list[str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.base_args, *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            cwd=self.project_dir,
        )

    # -- lifecycle ----------------------------------------------------------------------

    def start(self, services: list[ServiceDef], on_up: UpCallback) -> None:
        names = [s.name for s in services]
        with self._lock:
            self._started.extend(n for n in names if n not in self._started)
        try:
            res = self._compose(["up", "-d", "--no-deps", *names], timeout=self.up_timeout_s)
        except subprocess.TimeoutExpired:
            raise ServiceStartError(names[0], f"`compose up` of {names} timed out") from None
        if res.returncode != 0:
            failed = next((n for n in names if n in res.stderr), names[0])
            raise ServiceStartError(
                failed,
                f"`compose up -d --no-deps {' '.join(names)}` failed: {res.stderr.strip()[-800:]}",
            )
        for svc in services:
            cid = self._container(svc.name)
            if cid is None:
                raise ServiceStartError(svc.name, "compose created no container for it")
            on_up(svc, {"container": cid[:12]})

    def _container(self, service: str) -> str | None:
        return self.docker.container(service)

    def _inspect(self, service: ServiceDef) -> dict[str, Any] | None:
        return self.docker.inspect(service.name)

    def exit_code(self, service: ServiceDef) -> int | None:
        return self.docker.exit_code(service.name)

    def is_up(self, service: ServiceDef) -> bool:
        return self.docker.running(service.name)

    def health(self, service: ServiceDef) -> str | None:
        return self.docker.health(service.name)

    def run_healthcheck(
        self, service: ServiceDef, hc: Healthcheck, timeout_s: float
    ) -> tuple[bool, str]:
        status = self.health(service)
        return status == "healthy", f"docker health: {status or 'none'}"

    def address(self, service: ServiceDef, port: int | None, host: str | None) -> tuple[str, int]:
        if host:
            return super().address(service, port, host)
        return self.docker.address(service, port)

    def log_tail(self, service: ServiceDef, lines: int = 40) -> list[str]:
        return self.docker.log_tail(service.name, lines)

    def stop(self, services: list[ServiceDef]) -> None:
        ids = [
            cid
            for s in services
            if s.name in self._started and (cid := self._container(s.name)) is not None
        ]
        if ids and not self._down:
            with contextlib.suppress(subprocess.TimeoutExpired):
                _docker(["stop", "-t", str(int(self.grace_s)), *ids], timeout=self.grace_s + 60)

    def teardown(self) -> None:
        if self._down or not hasattr(self, "base_args"):
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            self._compose(
                ["down", "-v", "--remove-orphans", "-t", str(int(self.grace_s))],
                timeout=self.grace_s + 120,
            )
        self._down = True
        if self.project_name:
            remove_project(self.project_name)  # sweep anything `down` missed (by label)

    def state(self) -> dict[str, Any]:
        return {
            "project": self.project_name,
            "base_args": getattr(self, "base_args", []),
            "project_dir": getattr(self, "project_dir", None),
        }

    @classmethod
    def cleanup(cls, state: dict[str, Any], grace_s: float = 5.0) -> None:
        project = state.get("project")
        if not project:
            return
        args = state.get("base_args") or []
        files_exist = all(Path(a).exists() for i, a in enumerate(args) if args[i - 1] == "-f")
        if args and files_exist:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                subprocess.run(
                    [*args, "down", "-v", "--remove-orphans", "-t", str(int(grace_s))],
                    capture_output=True,
                    timeout=grace_s + 120,
                    check=False,
                    cwd=state.get("project_dir") or None,
                )
        remove_project(str(project))

    @classmethod
    def cleanup_orphans(cls) -> list[str]:
        """Remove projects whose containers carry a tracebed owner label of a dead process."""
        res = _docker(
            [
                "ps",
                "-a",
                "--filter",
                f"label={LABEL_OWNER}",
                "--format",
                f'{{{{.Label "{PROJECT_LABEL}"}}}} {{{{.Label "{LABEL_OWNER}"}}}}',
            ]
        )
        if res.returncode != 0:
            return []
        dead = set()
        for line in res.stdout.splitlines():
            parts = line.split()
            if len(parts) != 2:
                continue
            project, owner = parts
            pid_s, _, start_s = owner.partition(":")
            start = int(start_s) if start_s.isdigit() else None
            if not proc_alive(int(pid_s), start):
                dead.add(project)
        for project in sorted(dead):
            remove_project(project)
        return sorted(dead)


class DockerProject:
    """The containers of one compose project, found by their labels with the docker CLI
    (much faster than `docker-compose ps`/`port`, which is a Python program in v1)."""

    def __init__(self, project: str) -> None:
        self.project = project
        self._containers: dict[str, str] = {}
        self._ports: dict[tuple[str, int], tuple[str, int]] = {}

    def container(self, service: str) -> str | None:
        if service in self._containers:
            return self._containers[service]
        res = _docker(
            [
                "ps",
                "-a",
                "-q",
                "--no-trunc",
                "--filter",
                f"label={PROJECT_LABEL}={self.project}",
                "--filter",
                f"label=com.docker.compose.service={service}",
            ],
            timeout=60,
        )
        ids = res.stdout.split()
        if res.returncode != 0 or not ids:
            return None
        self._containers[service] = ids[0]
        return ids[0]

    def inspect(self, service: str) -> dict[str, Any] | None:
        cid = self.container(service)
        if cid is None:
            return None
        res = _docker(["inspect", cid], timeout=30)
        if res.returncode != 0:
            return None
        data = json.loads(res.stdout)
        return data[0] if data else None

    def exit_code(self, service: str) -> int | None:
        state = (self.inspect(service) or {}).get("State") or {}
        if state.get("Status") in ("exited", "dead"):
            return int(state.get("ExitCode", -1))
        return None

    def running(self, service: str) -> bool:
        return bool(((self.inspect(service) or {}).get("State") or {}).get("Running"))

    def health(self, service: str) -> str | None:
        health = ((self.inspect(service) or {}).get("State") or {}).get("Health")
        return health.get("Status") if health else None

    def address(self, service: ServiceDef, port: int | None) -> tuple[str, int]:
        """The host address docker published for a container port of the service."""
        if port is None:
            if not service.ports:
                raise LookupError(f"service {service.name!r} has no port to probe")
            port = service.ports[0].target
        key = (service.name, int(port))
        if key not in self._ports:
            info = self.inspect(service.name)
            if info is None:
                raise LookupError(f"{service.name}: no container in project {self.project!r}")
            ports = (info.get("NetworkSettings") or {}).get("Ports") or {}
            bindings = ports.get(f"{port}/tcp") or []
            if not bindings:
                raise LookupError(f"{service.name}: container port {port} is not published")
            h = str(bindings[0].get("HostIp") or "")
            h = "127.0.0.1" if h in ("0.0.0.0", "::", "") else h
            self._ports[key] = (h, int(bindings[0]["HostPort"]))
        return self._ports[key]

    def log_tail(self, service: str, lines: int) -> list[str]:
        cid = self.container(service)
        if cid is None:
            return []
        with contextlib.suppress(subprocess.TimeoutExpired):
            res = subprocess.run(
                ["docker", "logs", "--tail", str(lines), cid],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
            # stdout and stderr arrive separately; for a tail, stdout then stderr is enough.
            return (res.stdout.splitlines() + res.stderr.splitlines())[-lines:]
        return []


def remove_project(project: str) -> None:
    """Remove a compose project's containers, networks and volumes by its label."""
    label = f"label={PROJECT_LABEL}={project}"
    res = _docker(["ps", "-aq", "--filter", label])
    ids = res.stdout.split()
    if ids:
        _docker(["rm", "-f", "-v", *ids], timeout=120)
    res = _docker(["network", "ls", "-q", "--filter", label])
    for nid in res.stdout.split():
        _docker(["network", "rm", nid])
    res = _docker(["volume", "ls", "-q", "--filter", label])
    vids = res.stdout.split()
    if vids:
        _docker(["volume", "rm", "-f", *vids])
