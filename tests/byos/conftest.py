"""Bring your own service: real services (Node payment, Python recommendation) run against
the stand-in's flagd (gRPC evaluation protocol) and a tracebed sink, with the environment
the demo's compose file gives them (src/tracebed/reference/README.md, "Bring your own
service")."""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.byos.support import NODE_PAYMENT, PY_RECOMMENDATION, Flagd
from tests.reference.backends.procs import Proc, clean_env, free_port, grpc_serving, python_module
from tracebed.otlp.sink import Sink
from tracebed.reference.flagd import flagfile

#: Bounds: a cold `npm ci` on a slow runner, a service start on 2 busy cores.
NPM_TIMEOUT = 300.0
START_TIMEOUT = 60.0
#: The harness's short export delay (ms), so a span reaches the sink soon after it ends.
EXPORT_DELAY_MS = "50"


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> None:
    """Fail in CI (its image has Node.js and the dev extra), skip locally with the reason."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def _npm_ci(npm: str, base: Path, root: Path, files: list[Path]) -> None:
    for old in base.iterdir():  # only one install is kept: an older lock file's goes
        if old != root and old.name != ".lock":
            shutil.rmtree(old, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, root / f.name)
    # --ignore-scripts: the only install script (protobufjs's) checks its CLI's versions.
    argv = [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"]
    try:
        run = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=NPM_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"npm ci did not finish within {NPM_TIMEOUT:.0f}s in {root}", pytrace=False)
    if run.returncode != 0:
        tail = (run.stdout + run.stderr)[-2000:]
        pytest.fail(f"npm ci failed in {root} (exit {run.returncode}):\n{tail}", pytrace=False)
    (root / ".installed").write_text("ok\n")


@pytest.fixture(scope="session")
def node_modules(pytestconfig: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``npm ci`` of node_payment's lock file, once per lock file, into pytest's cache dir."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        missing = "npm" if npm is None else "node"
        unavailable(f"{missing} is not installed: the Node payment service needs Node.js 20+")
    assert npm is not None
    files = [NODE_PAYMENT / "package.json", NODE_PAYMENT / "package-lock.json"]
    key = hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()[:16]
    cache = getattr(pytestconfig, "cache", None)
    base = cache.mkdir("byos-npm") if cache is not None else tmp_path_factory.mktemp("byos-npm")
    root = base / key
    with (base / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # pytest-xdist workers: one install, the others wait
        if not (root / ".installed").exists():
            _npm_ci(npm, base, root, files)
    return root / "node_modules"


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
