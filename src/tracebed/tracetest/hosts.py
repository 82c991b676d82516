"""Where the hosts written in Tracetest files (`frontend:8080`, `${var:CART_ADDR}`) really are.

Explicit rules (`frontend:8080=127.0.0.1:41234`) win; a bare service name falls back to a
locate callback, which the caller wires to its stack (the `demo_stack` fixture, or the stack
`tracebed up --detach` left on record).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from urllib.parse import urlsplit, urlunsplit

from tracebed.errors import ConfigError

# service name -> URL or host:port; None when unknown (the callback handles its own lookups' errors)
Locate = Callable[[str], str | None]


class HostMapError(ConfigError, ValueError):
    """A host-map rule that is not NAME=HOST:PORT."""


class HostMap:
    """Maps the hosts written in Tracetest files (`frontend:8080`) to where they really are."""

    def __init__(self, rules: Mapping[str, str] | None = None, locate: Locate | None = None):
        self.rules = {name.strip().lower(): target.strip() for name, target in (rules or {}).items()}
        self._locate = locate

    @classmethod
    def parse(cls, rules: Iterable[str], locate: Locate | None = None) -> HostMap:
        """From `NAME=HOST:PORT` rules (NAME may carry a port: `frontend:8080=...`)."""
        parsed: dict[str, str] = {}
        for rule in rules:
            if "=" not in rule:
                raise HostMapError(f"expected NAME=HOST:PORT, got {rule!r}")
            name, target = rule.split("=", 1)
            parsed[name] = target
        return cls(parsed, locate)

    def locate(self, service: str) -> str | None:
        """host:port of a service (from the rules, else the locate callback)."""
        target = self.rules.get(service.lower())
        if target is None and self._locate is not None:
            target = self._locate(service)
        if target is None:
            return None
        return _netloc(target)

    def address(self, address: str) -> str:
        """`host:port` (gRPC) mapped."""
        key = address.lower()
        if key in self.rules:
            return _netloc(self.rules[key])
        host = key.rsplit(":", 1)[0]
        if host in self.rules:
            return _netloc(self.rules[host])
        if _is_service_name(host):
            found = self.locate(host)
            if found:
                return found
        return address

    def url(self, url: str) -> str:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        mapped = self.address(parts.netloc)
        return urlunsplit((parts.scheme, mapped, parts.path, parts.query, parts.fragment))


def _netloc(target: str) -> str:
    return urlsplit(target).netloc if "://" in target else target.rstrip("/")


def _is_service_name(host: str) -> bool:
    return bool(host) and "." not in host and host not in ("localhost",) and not host[0].isdigit()
