"""External backend: a stack that is already running; tracebed only probes it."""

from __future__ import annotations

from collections.abc import Mapping

from tracebed.stack.backends.base import Backend, UpCallback
from tracebed.stack.backends.compose import DockerProject
from tracebed.stack.model import Healthcheck, ServiceDef


class ExternalBackend(Backend):
    """Probes services where they already run; never starts or stops anything.

    `hosts` maps a service to the host to probe (default: the probe's own host, else
    127.0.0.1); `ports` maps "service" or "service:container_port" to the port to use.
    With `compose_project` (a running Compose project, e.g. the demo started with
    `docker compose up`), published ports and Docker health come from its containers.
    """

    name = "external"
    manages_services = False

    @classmethod
    def for_project(cls, project: str | None = None) -> ExternalBackend:
        return cls(compose_project=project)

    def __init__(
        self,
        hosts: Mapping[str, str] | None = None,
        ports: Mapping[str, int] | None = None,
        compose_project: str | None = None,
    ) -> None:
        self.hosts = dict(hosts or {})
        self.ports = dict(ports or {})
        self.docker = DockerProject(compose_project) if compose_project else None

    def start(self, services: list[ServiceDef], on_up: UpCallback) -> None:
        return None

    def exit_code(self, service: ServiceDef) -> int | None:
        return None

    def is_up(self, service: ServiceDef) -> bool:
        return self.docker.running(service.name) if self.docker else True

    def address(self, service: ServiceDef, port: int | None, host: str | None) -> tuple[str, int]:
        if self.docker is not None and host is None and service.name not in self.hosts:
            return self.docker.address(service, port)
        h, p = super().address(service, port, host)
        mapped = self.ports.get(f"{service.name}:{p}", self.ports.get(service.name))
        return self.hosts.get(service.name, h), int(mapped) if mapped else p

    def health(self, service: ServiceDef) -> str | None:
        return self.docker.health(service.name) if self.docker else None

    def run_healthcheck(
        self, service: ServiceDef, hc: Healthcheck, timeout_s: float
    ) -> tuple[bool, str]:
        if self.docker is None:
            return False, "an external stack's healthcheck needs its compose project; give one"
        status = self.docker.health(service.name)
        return status == "healthy", f"docker health: {status or 'none'}"

    def supports_healthcheck(self) -> bool:
        return self.docker is not None

    def log_tail(self, service: ServiceDef, lines: int = 40) -> list[str]:
        return self.docker.log_tail(service.name, lines) if self.docker else []

    def stop(self, services: list[ServiceDef]) -> None:
        return None

    def teardown(self) -> None:
        return None
