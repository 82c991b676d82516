"""Environment lookup with clear errors (the services are configured only by environment)."""

from __future__ import annotations

import os

from tracebed.errors import ConfigError


class EnvError(ConfigError, RuntimeError):
    """A required environment variable is missing or malformed."""


def env(name: str, default: str | None = None) -> str:
    """The value of ``name``; without a default, a missing or empty variable is an error."""
    value = os.environ.get(name, "")
    if value:
        return value
    if default is not None:
        return default
    raise EnvError(f"environment variable {name} is required but not set")


def require(*names: str) -> None:
    """Fail with one message naming every missing variable, not just the first."""
    missing = [n for n in names if not os.environ.get(n)]
    if len(missing) == 1:
        raise EnvError(f"environment variable {missing[0]} is required but not set")
    if missing:
        raise EnvError(f"environment variables {', '.join(missing)} are required but not set")


def env_int(name: str, default: int | None = None) -> int:
    """An integer variable, e.g. a port."""
    raw = env(name, None if default is None else str(default))
    try:
        return int(raw)
    except ValueError:
        raise EnvError(f"environment variable {name}={raw!r} is not an integer") from None


def env_port(name: str, default: int | None = None) -> int:
    port = env_int(name, default)
    if not 0 <= port <= 65535:
        raise EnvError(f"environment variable {name}={port} is not a TCP port (0-65535)")
    return port


def bind_host() -> str:
    """The address servers listen on: loopback unless ``BIND_HOST`` says otherwise.

    The stand-in's clients dial 127.0.0.1 (locally and in compose, on the host network), so
    nothing needs a wider bind; ``BIND_HOST=0.0.0.0`` opens a service to the network on purpose.
    """
    return env("BIND_HOST", "127.0.0.1")


def grpc_target(name: str) -> str:
    """A ``host:port`` address such as CART_ADDR (a scheme, if given, is dropped)."""
    value = env(name)
    for scheme in ("http://", "https://", "dns:///"):
        if value.startswith(scheme):
            value = value[len(scheme) :]
    if ":" not in value:
        raise EnvError(f"environment variable {name}={value!r} is not host:port")
    return value.rstrip("/")


def http_base(name: str, default: str | None = None) -> str:
    """An HTTP base URL such as QUOTE_ADDR or EMAIL_ADDR (the demo puts the scheme in them)."""
    value = env(name, default)
    if not value.startswith(("http://", "https://")):
        value = "http://" + value
    return value.rstrip("/")
