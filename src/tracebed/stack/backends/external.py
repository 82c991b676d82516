"""External backend: a stack that is already running; tracebed only probes it."""

from __future__ import annotations

from collections.abc import Mapping

from tracebed.stack.backends.base import Backend, UpCallback
from tracebed.stack.model import Healthcheck, ServiceDef


class ExternalBackend(Backend):
    """Probes services where they already run.

    `hosts` maps a service to the host to probe (default: the probe's own host, else
    127.0.0.1); `ports` maps "service" or "service:container_port" to the port to use.
    """

    name = "external"
    manages_services = False

    def __init__(self, hosts: Mapping[str, str] | None = None,
                 ports: Mapping[str, int] | None = None) -> None:
        self.hosts = dict(hosts or {})
        self.ports = dict(ports or {})

    def start(self, services: list[ServiceDef], on_up: UpCallback) -> None:
        return None

    def exit_code(self, service: ServiceDef) -> int | None:
        return None

    def is_up(self, service: ServiceDef) -> bool:
        return True

    def address(self, service: ServiceDef, port: int | None, host: str | None
                ) -> tuple[str, int]:
        h, p = super().address(service, port, host)
        mapped = self.ports.get(f"{service.name}:{p}", self.ports.get(service.name))
        return self.hosts.get(service.name, h), int(mapped) if mapped else p

    def run_healthcheck(self, service: ServiceDef, hc: Healthcheck, timeout_s: float
                        ) -> tuple[bool, str]:
        return False, "an external stack's compose healthcheck cannot be run; give a probe"

    def stop(self, services: list[ServiceDef]) -> None:
        return None

    def teardown(self) -> None:
        return None
