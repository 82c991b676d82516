"""What a backend does for the Stack: start services, report their state, stop them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tracebed.stack.errors import BackendError
from tracebed.stack.model import Healthcheck, ServiceDef

if TYPE_CHECKING:
    from tracebed.stack.topology import Topology

UpCallback = Callable[[ServiceDef, dict[str, Any]], None]


class ServiceStartError(BackendError):
    """One service could not be launched at all (bad command, compose up failed, ...)."""

    def __init__(self, service: str, reason: str) -> None:
        self.service = service
        self.reason = reason
        super().__init__(f"{service}: {reason}")


class Backend(ABC):
    name: str = ""
    #: False for a stack that is already running (only probed, never started or stopped).
    manages_services: bool = True

    @classmethod
    def for_project(cls, project: str | None = None) -> Backend:
        """This backend for a compose project name (compose: the one to create; external: the
        running one); backends without projects ignore it."""
        return cls()

    def prepare(self, topology: Topology, run_dir: Path, run_id: str) -> None:
        self.topology = topology
        self.run_dir = run_dir
        self.run_id = run_id

    @abstractmethod
    def start(self, services: list[ServiceDef], on_up: UpCallback) -> None:
        """Launch these services (one tier); call `on_up` for each once it is running."""

    @abstractmethod
    def exit_code(self, service: ServiceDef) -> int | None:
        """The exit code once the service's process/container has exited, else None."""

    def is_up(self, service: ServiceDef) -> bool:
        return self.exit_code(service) is None

    def address(self, service: ServiceDef, port: int | None, host: str | None) -> tuple[str, int]:
        """Where the harness reaches `port` of the service (host, port)."""
        if port is None:
            if not service.ports:
                raise LookupError(f"service {service.name!r} has no port to probe")
            port = service.ports[0].published or service.ports[0].target
        return host or "127.0.0.1", int(port)

    def health(self, service: ServiceDef) -> str | None:
        return None

    @abstractmethod
    def run_healthcheck(
        self, service: ServiceDef, hc: Healthcheck, timeout_s: float
    ) -> tuple[bool, str]:
        """Evaluate the service's Compose healthcheck once."""

    def log_tail(self, service: ServiceDef, lines: int = 40) -> list[str]:
        return []

    def supports_healthcheck(self) -> bool:
        """Can `run_healthcheck` evaluate a Compose healthcheck here?"""
        return True

    @abstractmethod
    def stop(self, services: list[ServiceDef]) -> None:
        """Stop these services (one tier), gracefully then forcibly."""

    @abstractmethod
    def teardown(self) -> None:
        """Stop and remove everything this backend started. Idempotent."""

    def state(self) -> dict[str, Any]:
        """What `cleanup` needs to undo this run from another process (JSON-able)."""
        return {}

    @classmethod
    def cleanup(cls, state: dict[str, Any], grace_s: float = 5.0) -> None:
        """Undo a run from its recorded state (the owning process may be dead)."""
        return None
