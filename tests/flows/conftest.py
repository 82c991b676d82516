from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.flows.fake_frontend import FakeFrontend
from tracebed.otlp import Sink


@pytest.fixture(scope="module")
def sink() -> Iterator[Sink]:
    sink = Sink(host="127.0.0.1", grpc_port=0, http_port=0).start()
    try:
        yield sink
    finally:
        sink.stop()


@pytest.fixture(scope="module")
def frontend_app(sink: Sink) -> Iterator[FakeFrontend]:
    app = FakeFrontend().start(sink.grpc_endpoint)
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture
def frontend(frontend_app: FakeFrontend) -> FakeFrontend:
    """The module's fake frontend, with its records and knobs reset for this test."""
    frontend_app.reset()
    frontend_app.fail_every = frontend_app.incomplete_every = 0
    frontend_app.flood_count = 2
    return frontend_app
