"""Plain data describing one service of a stack (after Compose-style loading)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from tracebed.stack.errors import TopologyError

CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


@dataclass(frozen=True)
class Dependency:
    condition: str = "service_started"
    required: bool = True
    restart: bool = False


@dataclass(frozen=True)
class Healthcheck:
    """A Compose healthcheck; `test` is normalised to an argv (CMD) or a shell string."""

    test: list[str] | str
    interval_s: float = 30.0
    timeout_s: float = 30.0
    retries: int = 3
    start_period_s: float = 0.0

    def describe(self) -> str:
        test = self.test if isinstance(self.test, str) else " ".join(self.test)
        return f"healthcheck {test!r}"


@dataclass(frozen=True)
class PortSpec:
    """One `ports:` entry: the container port and, when fixed, the published host port."""

    target: int
    published: int | None = None
    host_ip: str | None = None
    protocol: str = "tcp"


@dataclass(frozen=True)
class ProbeSpec:
    """How to tell that a service is ready.

    type: tcp | http | grpc | redis | kafka | command | healthcheck | started | exited
    Parameters are kept as given: `host`, `port` (container port for compose services),
    `url`, `status`, `service` (grpc), `bootstrap` (kafka), `argv` (command; `{host}` and
    `{port}` in it become the service's address), `path` (http, relative to the service's own
    address), `timeout_s` (overall), `interval_s`.
    """

    type: str
    params: dict[str, Any] = field(default_factory=dict)

    TYPES = ("tcp", "http", "grpc", "redis", "kafka", "command", "healthcheck", "started", "exited")

    def __post_init__(self) -> None:
        if self.type not in self.TYPES:
            raise TopologyError(
                f"unknown probe type {self.type!r} (expected one of {', '.join(self.TYPES)})"
            )

    @classmethod
    def from_dict(cls, data: dict[str, Any], where: str) -> ProbeSpec:
        if not isinstance(data, dict) or "type" not in data:
            raise TopologyError(f"{where}: a probe must be a mapping with a 'type'")
        params = {k: v for k, v in data.items() if k != "type"}
        try:
            return cls(str(data["type"]), params)
        except TopologyError as exc:
            raise TopologyError(f"{where}: {exc}") from None

    def describe(self) -> str:
        keys = ("url", "host", "port", "service", "bootstrap", "argv", "path")
        shown = ", ".join(f"{k}={self.params[k]}" for k in keys if k in self.params)
        return f"{self.type}({shown})" if shown else self.type


@dataclass
class ServiceDef:
    """One service of a topology."""

    name: str
    depends_on: dict[str, Dependency] = field(default_factory=dict)
    healthcheck: Healthcheck | None = None
    ports: list[PortSpec] = field(default_factory=list)
    profiles: list[str] = field(default_factory=list)
    environment: dict[str, str | None] = field(default_factory=dict)
    command: list[str] | str | None = None
    working_dir: str | None = None
    image: str | None = None
    probe: ProbeSpec | None = None
    endpoints: dict[str, str] = field(default_factory=dict)
    stop_signal: str = "SIGTERM"
    stop_grace_s: float = 5.0
    tier: int = 0
    group: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "depends_on": {d: dep.condition for d, dep in self.depends_on.items()},
            "tier": self.tier,
        }
        if self.group is not None:
            out["group"] = self.group
        if self.healthcheck is not None:
            hc = self.healthcheck
            out["healthcheck"] = {
                "test": hc.test,
                "interval_s": hc.interval_s,
                "timeout_s": hc.timeout_s,
                "retries": hc.retries,
                "start_period_s": hc.start_period_s,
            }
        if self.ports:
            out["ports"] = [
                {"target": p.target, "published": p.published, "protocol": p.protocol}
                for p in self.ports
            ]
        if self.profiles:
            out["profiles"] = list(self.profiles)
        if self.probe is not None:
            out["probe"] = {"type": self.probe.type, **self.probe.params}
        if self.endpoints:
            out["endpoints"] = dict(self.endpoints)
        return out


_DURATION = re.compile(r"(\d+(?:\.\d+)?)(us|ms|s|m|h)")
_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(value: Any, where: str) -> float:
    """Compose durations: `1m30s`, `10s`, `500ms`, or a bare number of seconds."""
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    pos = 0
    total = 0.0
    for m in _DURATION.finditer(text):
        if m.start() != pos:
            break
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        raise TopologyError(f"{where}: invalid duration {value!r}")
    return total


def parse_port(entry: Any, where: str) -> PortSpec:
    """Short (`"8080"`, `"8080:80"`, `"127.0.0.1:8080:80/udp"`) or long port syntax."""
    if isinstance(entry, int):
        return PortSpec(target=entry)
    if isinstance(entry, dict):
        try:
            target = int(entry["target"])
        except (KeyError, ValueError, TypeError):
            raise TopologyError(f"{where}: port entry needs an integer 'target'") from None
        published = entry.get("published")
        return PortSpec(
            target=target,
            published=int(published) if published not in (None, "") else None,
            host_ip=entry.get("host_ip"),
            protocol=str(entry.get("protocol", "tcp")),
        )
    text = str(entry)
    protocol = "tcp"
    if "/" in text:
        text, protocol = text.rsplit("/", 1)
    parts = text.rsplit(":", 2) if text.count(":") <= 2 else [text]
    try:
        if len(parts) == 1:
            target_s = parts[0].split("-")[0]
            return PortSpec(target=int(target_s), protocol=protocol)
        if len(parts) == 2:
            pub, target_s = parts
            return PortSpec(
                target=int(target_s.split("-")[0]),
                published=int(pub.split("-")[0]) if pub else None,
                protocol=protocol,
            )
        ip, pub, target_s = parts
        return PortSpec(
            target=int(target_s.split("-")[0]),
            published=int(pub.split("-")[0]) if pub else None,
            host_ip=ip or None,
            protocol=protocol,
        )
    except ValueError:
        raise TopologyError(f"{where}: invalid port {entry!r}") from None
