"""Backends that run a stack: `local` (child processes), `compose` (Docker Compose) and
`external` (already running; probed only)."""

from __future__ import annotations

from tracebed.stack.backends.base import Backend, ServiceStartError
from tracebed.stack.backends.compose import ComposeBackend
from tracebed.stack.backends.external import ExternalBackend
from tracebed.stack.backends.local import LocalBackend
from tracebed.stack.errors import BackendError

BACKENDS: dict[str, type[Backend]] = {
    "local": LocalBackend,
    "compose": ComposeBackend,
    "external": ExternalBackend,
}


def backend_class(name: str) -> type[Backend]:
    try:
        return BACKENDS[name]
    except KeyError:
        raise BackendError(
            f"unknown backend {name!r} (expected one of {', '.join(BACKENDS)})"
        ) from None


def make_backend(name: str, project: str | None = None) -> Backend:
    """The one way to get a backend by name (`project`: see `Backend.for_project`)."""
    return backend_class(name).for_project(project)


__all__ = [
    "Backend",
    "BackendError",
    "ComposeBackend",
    "ExternalBackend",
    "LocalBackend",
    "ServiceStartError",
    "backend_class",
    "make_backend",
]
