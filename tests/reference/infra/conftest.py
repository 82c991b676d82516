"""Fixtures: a real tracebed sink, the reference spec, and a launcher for subsets of it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.reference.conftest import require_debian as require_debian  # where tests look
from tests.reference.infra.launcher import Launcher
from tracebed.otlp.sink import Sink
from tracebed.reference.spec import build_spec


@pytest.fixture
def sink() -> Iterator[Sink]:
    s = Sink(host="127.0.0.1", grpc_port=0, http_port=0).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def spec(tmp_path: Path, sink: Sink) -> dict[str, Any]:
    return build_spec(tmp_path / "work", sink.grpc_endpoint, demo_version="2.0.2")


@pytest.fixture
def launch(spec: dict[str, Any], tmp_path: Path) -> Iterator[Callable[..., Launcher]]:
    """``launch("flagd", "frontend-proxy")`` starts those services and their dependencies."""
    launchers: list[Launcher] = []

    def _launch(*names: str, timeout: float = 30.0) -> Launcher:
        launcher = Launcher(spec, tmp_path / f"logs{len(launchers)}")
        launchers.append(launcher)
        return launcher.start(names, timeout=timeout)

    try:
        yield _launch
    finally:
        for launcher in launchers:
            launcher.stop()
