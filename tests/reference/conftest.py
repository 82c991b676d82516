"""What the whole-stack tests of the stand-in share: the check for its Debian binaries, a
checkout identity, and the fixture that starts the whole stack at one release, once per
test module."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from tests.reference.infra.launcher import Launcher
from tracebed.otlp.sink import Sink
from tracebed.reference.spec import build_spec

DEBIAN = {"redis-server": "redis-server", "nginx": "nginx", "prometheus": "prometheus"}

PERSON = {
    "email": "someone@example.com",
    "userCurrency": "USD",
    "address": {
        "streetAddress": "1600 Amphitheatre Parkway",
        "city": "Mountain View",
        "state": "CA",
        "country": "United States",
        "zipCode": "94043",
    },
    "creditCard": {
        "creditCardNumber": "4432-8015-6152-0454",
        "creditCardCvv": 672,
        "creditCardExpirationYear": 2039,
        "creditCardExpirationMonth": 1,
    },
}


def require_debian(*binaries: str) -> None:
    for b in binaries:
        if shutil.which(b) is None and not Path(f"/usr/sbin/{b}").exists():
            pytest.skip(f"{b} is not installed (apt-get install {DEBIAN[b]}; scripts/setup.sh)")


@dataclass
class RunningStack:
    """A started stand-in: its spec, the sink its collector exports to, its processes."""

    spec: dict[str, Any]
    sink: Sink
    launcher: Launcher

    @property
    def url(self) -> str:
        return str(self.spec["x-tracebed-stack"]["frontend_url"])

    def endpoint(self, service: str, key: str = "http") -> str:
        return str(self.spec["services"][service]["x-tracebed"]["endpoints"][key])

    @property
    def flag_file(self) -> Path:
        return Path(self.spec["x-tracebed-stack"]["flag_file"])


R = TypeVar("R", bound=RunningStack)


def reference_stack(
    release: str,
    running: Callable[[dict[str, Any], Sink, Launcher], R],
    *,
    with_load_generator: bool = False,
    timeout: float = 40.0,
) -> Any:
    """A module-scoped fixture: the whole stand-in at ``release`` behind a fresh sink, as
    ``running(spec, sink, launcher)``; every process must exit on SIGTERM at the end.

    ``with_load_generator`` puts the load generator in the spec without starting it (the
    test that wants its traffic starts it, for a bounded while).
    """

    @pytest.fixture(scope="module")
    def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[R]:
        """The whole stand-in at the module's release (one per test module)."""
        require_debian("redis-server", "nginx", "prometheus")
        tmp: Path = tmp_path_factory.mktemp(f"reference-v{release[0]}")
        sink = Sink(host="127.0.0.1", grpc_port=0, http_port=0).start()
        try:
            spec = build_spec(
                tmp / "work",
                sink.grpc_endpoint,
                with_load_generator=with_load_generator,
                demo_version=release,
            )
            if "astronomy-db" in spec["services"] and not _postgres_installed():
                pytest.skip(
                    "PostgreSQL is not installed (apt-get install postgresql; scripts/setup.sh)"
                )
            names = [n for n in spec["services"] if n != "load-generator"]
            launcher = Launcher(spec, tmp / "logs").start(names, timeout=timeout)
            try:
                yield running(spec, sink, launcher)
            finally:
                launcher.stop()
            # every service of the stack exits on SIGTERM within the grace period
            assert launcher.killed == [], f"had to SIGKILL {launcher.killed}"
        finally:
            sink.stop()

    return stack


def _postgres_installed() -> bool:
    return bool(list(Path("/usr/lib/postgresql").glob("*/bin/postgres")))
