"""Bring your own service: real services (Node payment, Python recommendation) run against
the stand-in's flagd (gRPC evaluation protocol) and a tracebed sink, with the environment
the demo's compose file gives them (src/tracebed/reference/README.md, "Bring your own
service")."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.byos.support import NODE_PAYMENT, PY_RECOMMENDATION, Flagd
from tests.npm import npm_install, unavailable
from tests.reference.backends.procs import Proc, clean_env, free_port, grpc_serving, python_module
from tracebed.otlp.sink import Sink
from tracebed.reference.flagd import flagfile

#: Bound: a service start on 2 busy cores.
START_TIMEOUT = 60.0
#: The harness's short export delay (ms), so a span reaches the sink soon after it ends.
EXPORT_DELAY_MS = "50"


@pytest.fixture(scope="session")
def node_modules(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npm ci`` of node_payment's lock file, once per lock file, into pytest's cache dir."""
    return npm_install(
        NODE_PAYMENT,
        "byos-npm",
        pytestconfig,
        tmp_path_factory,
        "the Node payment service needs Node.js 20+",
    )


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("byos")


@pytest.fixture(scope="session")
def sink() -> Iterator[Sink]:
    s = Sink(host="127.0.0.1", grpc_port=0, http_port=0).start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def flagd(run_dir: Path) -> Iterator[Flagd]:
    """The stand-in's flag service alone, on a copy of the project's flag file."""
    path = run_dir / "flags.json"
    shutil.copyfile(flagfile.bundled_flag_file(), path)
    ofrep, grpc_port = free_port(), free_port()
    argv = python_module("tracebed.reference.flagd") + [
        "start", "--uri", f"file:{path}", "--port", str(ofrep), "--grpc-port", str(grpc_port),
    ]  # fmt: skip
    proc = Proc("flagd", argv, clean_env({}), run_dir / "flagd.log").start()

    def ready() -> bool:  # /readyz answers only once the gRPC port is bound too
        try:
            return requests.get(f"http://127.0.0.1:{ofrep}/readyz", timeout=1).ok
        except requests.RequestException:
            return False

    try:
        proc.wait_until(ready, timeout=START_TIMEOUT)
        yield Flagd(path, "127.0.0.1", grpc_port, ofrep, flagfile.read(path))
    finally:
        proc.stop()


@pytest.fixture
def flags(flagd: Flagd) -> Iterator[Flagd]:
    """The flag file, back to all-off after the test."""
    flagd.reset()
    try:
        yield flagd
    finally:
        flagd.reset()


def demo_env(service: str, port_var: str, port: int, sink: Sink, flagd: Flagd) -> dict[str, str]:
    """The environment the demo's compose file gives ``service``, pointed at this test's parts.

    The same contract the harness's ``--replace`` gives a replacement (reference README).
    """
    return clean_env(
        {
            port_var: str(port),
            "OTEL_SERVICE_NAME": service,
            "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=opentelemetry-demo,service.version=2.0.2",
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.grpc_endpoint}",
            "OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE": "cumulative",
            "OTEL_BSP_SCHEDULE_DELAY": EXPORT_DELAY_MS,
            "OTEL_BLRP_SCHEDULE_DELAY": EXPORT_DELAY_MS,
            "OTEL_METRIC_EXPORT_INTERVAL": "1000",
            "FLAGD_HOST": flagd.host,
            "FLAGD_PORT": str(flagd.grpc_port),
        }
    )


def _serve(proc: Proc, addr: str) -> Iterator[str]:
    proc.start()
    try:
        proc.wait_until(grpc_serving(addr), timeout=START_TIMEOUT)
        yield addr
    finally:
        code = proc.stop()
        assert not proc.alive(), f"{proc.name} still runs after stop"
        # SIGTERM must flush and exit cleanly, as the stand-in's services do.
        assert code == 0, f"{proc.name} exited with {code} on SIGTERM:\n{proc.log()[-2000:]}"


@pytest.fixture(scope="session")
def node_payment(node_modules: Path, sink: Sink, flagd: Flagd, run_dir: Path) -> Iterator[str]:
    """The Node payment service's address (host:port)."""
    port = free_port()
    env = demo_env("payment", "PAYMENT_PORT", port, sink, flagd)
    env["NODE_PATH"] = str(node_modules)  # node_modules live in the cache, not the tree
    node = shutil.which("node")
    assert node is not None
    argv = [
        node,
        "--require",
        str(NODE_PAYMENT / "opentelemetry.js"),
        str(NODE_PAYMENT / "index.js"),
    ]
    yield from _serve(Proc("payment", argv, env, run_dir / "payment.log"), f"127.0.0.1:{port}")


@pytest.fixture(scope="session")
def product_catalog(sink: Sink, flagd: Flagd, run_dir: Path) -> Iterator[str]:
    """The stand-in's product-catalog, which recommendation calls."""
    port = free_port()
    env = clean_env(
        {
            "PRODUCT_CATALOG_PORT": str(port),
            "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.grpc_endpoint}",
            "FLAGD_HOST": flagd.host,
            "FLAGD_OFREP_PORT": str(flagd.ofrep_port),
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = python_module("tracebed.reference.services.product_catalog")
    proc = Proc("product-catalog", argv, env, run_dir / "product-catalog.log")
    yield from _serve(proc, f"127.0.0.1:{port}")


@pytest.fixture(scope="session")
def python_recommendation(
    product_catalog: str, sink: Sink, flagd: Flagd, run_dir: Path
) -> Iterator[str]:
    """The Python recommendation service's address (host:port)."""
    if importlib.util.find_spec("opentelemetry.instrumentation.grpc") is None:
        unavailable("opentelemetry-instrumentation-grpc is not installed (the dev extra has it)")
    port = free_port()
    env = demo_env("recommendation", "RECOMMENDATION_PORT", port, sink, flagd)
    env.update(
        {
            "PRODUCT_CATALOG_ADDR": product_catalog,
            "OTEL_PYTHON_LOG_CORRELATION": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    argv = [sys.executable, str(PY_RECOMMENDATION)]
    proc = Proc("recommendation", argv, env, run_dir / "recommendation.log")
    yield from _serve(proc, f"127.0.0.1:{port}")
