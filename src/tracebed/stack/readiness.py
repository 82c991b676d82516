"""Readiness: which probe tells that a service is ready, and the probes themselves.

Choice, first match wins: the service's own `x-tracebed.probe`; an override with a `type`
in the readiness file (fixtures/readiness.yaml); the Compose healthcheck; the built-in
default for a demo service; `exited` for a service others wait on with
`service_completed_successfully`; TCP on its first port; else `started`.
"""

from __future__ import annotations

import difflib
import logging
import os
import shlex
import socket
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import yaml

from tracebed.paths import fixtures_dir
from tracebed.stack.errors import TopologyError, yaml_error
from tracebed.stack.model import Healthcheck, ProbeSpec, ServiceDef

DEFAULTS_FILE = Path(__file__).with_name("readiness-defaults.yaml")
TIMING_KEYS = ("timeout_s", "interval_s", "max_interval_s", "attempt_timeout_s")
#: What a probe in a readiness file may say besides `type` (see `check`).
PROBE_KEYS = (
    "type", "host", "port", "port_env", "url", "status", "service", "bootstrap", "argv", "path",
)  # fmt: skip


@dataclass
class Readiness:
    """Probe defaults (built in) with project overrides applied."""

    defaults: dict[str, Any] = field(default_factory=dict)
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str | None = None

    @classmethod
    def load(cls, path: str | Path | None = None) -> Readiness:
        """Built-in defaults plus overrides from `path`.

        Without `path`: `$TRACEBED_READINESS`, else `./fixtures/readiness.yaml` when present
        (a project's own), else the overrides shipped with tracebed.
        """
        base = _read_readiness(DEFAULTS_FILE)
        chosen: Path | None = None
        if path is not None:
            chosen = Path(path)
            if not chosen.is_file():
                raise TopologyError(f"readiness file not found: {chosen}")
        elif os.environ.get("TRACEBED_READINESS"):
            chosen = Path(os.environ["TRACEBED_READINESS"])
        elif Path("fixtures/readiness.yaml").is_file():
            chosen = Path("fixtures/readiness.yaml")
        elif (fixtures_dir() / "readiness.yaml").is_file():
            chosen = fixtures_dir() / "readiness.yaml"
        out = cls(
            defaults=dict(base.get("defaults") or {}),
            services={k: dict(v) for k, v in (base.get("services") or {}).items()},
        )
        if chosen is not None:
            over = _read_readiness(chosen)
            out.defaults.update(over.get("defaults") or {})
            out.overrides = {k: dict(v or {}) for k, v in (over.get("services") or {}).items()}
            out.source = str(chosen)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Readiness:
        """Built-in defaults plus overrides given as a dict (same shape as the YAML file)."""
        base = _read_readiness(DEFAULTS_FILE)
        out = cls(
            defaults=dict(base.get("defaults") or {}),
            services={k: dict(v) for k, v in (base.get("services") or {}).items()},
        )
        out.defaults.update(data.get("defaults") or {})
        out.overrides = {k: dict(v or {}) for k, v in (data.get("services") or {}).items()}
        return out

    def timing(self, service: str, probe: ProbeSpec) -> dict[str, float]:
        out = {k: float(self.defaults[k]) for k in TIMING_KEYS if k in self.defaults}
        out.setdefault("timeout_s", 60.0)
        out.setdefault("interval_s", 0.05)
        out.setdefault("max_interval_s", 0.5)
        out.setdefault("attempt_timeout_s", 2.0)
        for source in (
            self.services.get(service, {}),
            probe.params,
            self.overrides.get(service, {}),
        ):
            for k in TIMING_KEYS:
                if k in source:
                    out[k] = float(source[k])
        return out

    def choose(
        self, svc: ServiceDef, env: Mapping[str, str], awaited_completion: bool = False
    ) -> ProbeSpec:
        if svc.probe is not None:
            return svc.probe
        over = self.overrides.get(svc.name, {})
        if "type" in over:
            return _resolve_port_env(ProbeSpec.from_dict(over, f"readiness {svc.name}"), env)
        if awaited_completion:
            return ProbeSpec("exited")
        if svc.healthcheck is not None:
            return ProbeSpec("healthcheck")
        if svc.name in self.services:
            spec = ProbeSpec.from_dict(self.services[svc.name], f"readiness default {svc.name}")
            return _resolve_port_env(spec, env)
        if svc.ports:
            return ProbeSpec("tcp", {"port": svc.ports[0].target})
        return ProbeSpec("started")


def _resolve_port_env(spec: ProbeSpec, env: Mapping[str, str]) -> ProbeSpec:
    name = spec.params.get("port_env")
    if not name:
        return spec
    params = {k: v for k, v in spec.params.items() if k != "port_env"}
    value = env.get(str(name))
    if value and value.isdigit():
        params["port"] = int(value)
    return ProbeSpec(spec.type, params)


@lru_cache(maxsize=8)
def _read_cached(path: str, mtime: float) -> dict[str, Any]:
    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except yaml.YAMLError as exc:
        raise TopologyError(yaml_error(path, exc)) from None
    if not isinstance(data, dict):
        raise TopologyError(f"{path}: expected a mapping with 'defaults' and 'services'")
    _known_keys(path, "", data, ("defaults", "services"))
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict):
        raise TopologyError(f"{path}: 'defaults' must be a mapping")
    _known_keys(path, "defaults.", defaults, TIMING_KEYS)
    _check_timing(path, "defaults.", defaults)
    services = data.get("services") or {}
    if not isinstance(services, dict):
        raise TopologyError(f"{path}: 'services' must be a mapping")
    for name, entry in services.items():
        if entry is not None and not isinstance(entry, dict):
            raise TopologyError(f"{path}: services.{name} must be a mapping")
        where = f"services.{name}."
        if entry and "type" in entry:
            ProbeSpec.from_dict(entry, f"{path}: services.{name}")
            _known_keys(path, where, entry, (*PROBE_KEYS, *TIMING_KEYS))
        elif entry:  # without a type an entry only tunes the chosen probe's timing
            _known_keys(path, where, entry, TIMING_KEYS, "without a 'type', only timing keys: ")
        _check_timing(path, where, entry or {})
    return data


def _known_keys(
    path: str, where: str, entry: Mapping[str, Any], allowed: Sequence[str], why: str = ""
) -> None:
    for key in entry:
        if key not in allowed:
            close = difflib.get_close_matches(str(key), allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TopologyError(
                f"{path}: {where}{key}: unknown key ({why}expected {', '.join(allowed)}){hint}"
            )


def _check_timing(path: str, where: str, entry: Mapping[str, Any]) -> None:
    for key in TIMING_KEYS:
        if key in entry:
            value = entry[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise TopologyError(
                    f"{path}: {where}{key}: {value!r} is not a positive number of seconds"
                )


def _read_readiness(path: Path) -> dict[str, Any]:
    return _read_cached(str(path), path.stat().st_mtime)


# ---------------------------------------------------------------------------------------
# The checks. Each returns (ok, detail); none raises for an unready service.


class Target(Protocol):
    """What a check needs from the backend: where the service is, and how it is doing."""

    def address(
        self, service: ServiceDef, port: int | None, host: str | None
    ) -> tuple[str, int]: ...

    def health(self, service: ServiceDef) -> str | None: ...

    def exit_code(self, service: ServiceDef) -> int | None: ...

    def is_up(self, service: ServiceDef) -> bool: ...

    def run_healthcheck(
        self, service: ServiceDef, hc: Healthcheck, timeout_s: float
    ) -> tuple[bool, str]: ...


def check(probe: ProbeSpec, svc: ServiceDef, target: Target, timeout_s: float) -> tuple[bool, str]:
    p = probe.params
    try:
        if probe.type == "started":
            return (True, "running") if target.is_up(svc) else (False, "not running")
        if probe.type == "exited":
            code = target.exit_code(svc)
            if code is None:
                return False, "still running"
            return code == 0, f"exited with code {code}"
        if probe.type == "healthcheck":
            if svc.healthcheck is None:
                return False, "service has no healthcheck"
            return target.run_healthcheck(svc, svc.healthcheck, timeout_s)
        if probe.type == "command":
            argv = p.get("argv")
            args = shlex.split(argv) if isinstance(argv, str) else [str(a) for a in argv or []]
            if not args:
                raise TopologyError(f"service {svc.name!r}: command probe needs 'argv'")
            if any("{host}" in a or "{port}" in a for a in args):
                # e.g. pg_isready -h {host} -p {port}: the address as this backend reaches it
                host, port = target.address(svc, _int(p.get("port")), p.get("host"))
                args = [a.replace("{host}", host).replace("{port}", str(port)) for a in args]
            return _run_command(args, timeout_s)
        if probe.type == "http":
            return _http(p, svc, target, timeout_s)
        if probe.type == "kafka":
            bootstrap = p.get("bootstrap")
            if not bootstrap:
                host, port = target.address(svc, _int(p.get("port")), p.get("host"))
                bootstrap = f"{host}:{port}"
            return _kafka(str(bootstrap), timeout_s)
        host, port = target.address(svc, _int(p.get("port")), p.get("host"))
        if probe.type == "tcp":
            return _tcp(host, port, timeout_s)
        if probe.type == "grpc":
            return _grpc(host, port, str(p.get("service", "")), timeout_s)
        if probe.type == "redis":
            return _redis(host, port, timeout_s)
    except (OSError, LookupError) as exc:
        return False, f"{type(exc).__name__}: {exc}"
    raise TopologyError(f"service {svc.name!r}: probe type {probe.type!r} not runnable")


def _int(value: Any) -> int | None:
    return None if value is None else int(value)


def _tcp(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    with socket.create_connection((host, port), timeout=timeout_s) as sock:
        # Docker's userland proxy accepts on a published port even when nothing listens in
        # the container, then closes at once. A peer that closes immediately is not ready.
        sock.settimeout(0.05)
        try:
            data = sock.recv(1)
        except TimeoutError:
            return True, f"connected to {host}:{port}"
        if data == b"":
            return False, f"{host}:{port} accepted and closed at once (nothing behind a proxy?)"
        return True, f"connected to {host}:{port}"


def _run_command(args: list[str], timeout_s: float) -> tuple[bool, str]:
    try:
        proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout_s}s"
    except FileNotFoundError as exc:
        return False, f"command not found: {exc.filename}"
    out = (proc.stdout + proc.stderr).strip().splitlines()
    return proc.returncode == 0, f"exit {proc.returncode}" + (f": {out[-1]}" if out else "")


def probe_url(p: Mapping[str, Any], svc: ServiceDef, target: Target) -> str:
    if p.get("url"):
        return str(p["url"])
    host, port = target.address(svc, _int(p.get("port")), p.get("host"))
    return f"http://{host}:{port}{p.get('path', '/')}"


def _http(
    p: Mapping[str, Any], svc: ServiceDef, target: Target, timeout_s: float
) -> tuple[bool, str]:
    import requests

    url = probe_url(p, svc, target)
    expected = p.get("status", 200)
    allowed = {int(s) for s in expected} if isinstance(expected, list) else {int(expected)}
    try:
        resp = requests.get(url, timeout=timeout_s, allow_redirects=False)
    except requests.RequestException as exc:
        return False, f"GET {url}: {type(exc).__name__}"
    return resp.status_code in allowed, f"GET {url} -> {resp.status_code}"


def _grpc(host: str, port: int, service: str, timeout_s: float) -> tuple[bool, str]:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"{host}:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=timeout_s)
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            return False, f"grpc health {host}:{port}: {code}"
        status = health_pb2.HealthCheckResponse.ServingStatus.Name(resp.status)
        return resp.status == health_pb2.HealthCheckResponse.SERVING, f"grpc health {status}"


def _redis(host: str, port: int, timeout_s: float) -> tuple[bool, str]:
    import redis

    client = redis.Redis(
        host=host, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        return bool(client.ping()), f"PING {host}:{port} -> PONG"
    except redis.RedisError as exc:
        return False, f"PING {host}:{port}: {type(exc).__name__}: {exc}"
    finally:
        client.close()


_quiet_kafka = logging.getLogger("tracebed.stack.kafka-probe")
_quiet_kafka.addHandler(logging.NullHandler())
_quiet_kafka.propagate = False


def _kafka(bootstrap: str, timeout_s: float) -> tuple[bool, str]:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    admin = AdminClient(
        {
            "bootstrap.servers": bootstrap,
            "socket.timeout.ms": max(100, int(timeout_s * 1000)),
            "socket.connection.setup.timeout.ms": max(1000, int(timeout_s * 1000)),
        },
        logger=_quiet_kafka,
    )
    try:
        meta = admin.list_topics(timeout=timeout_s)
    except KafkaException as exc:
        return False, f"kafka metadata {bootstrap}: {exc}"
    if not meta.brokers:
        return False, f"kafka metadata {bootstrap}: no brokers"
    return True, f"kafka metadata {bootstrap}: {len(meta.brokers)} broker(s)"
