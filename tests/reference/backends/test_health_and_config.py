"""grpc.health.v1 on every gRPC service; clear start-up errors for missing configuration."""

from __future__ import annotations

import subprocess
import sys

import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import GRPC_SERVICES, Backends, has, new_traceparent
from .procs import clean_env


@pytest.mark.parametrize("name", sorted(GRPC_SERVICES))
def test_health_reports_serving(backends: Backends, name: str) -> None:
    stub = backends.stub(name, health_pb2_grpc.HealthStub)
    reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_shipping_reports_its_named_service(backends: Backends) -> None:
    stub = backends.stub("shipping", health_pb2_grpc.HealthStub)
    req = health_pb2.HealthCheckRequest(service="oteldemo.ShippingService")
    assert stub.Check(req, timeout=2).status == health_pb2.HealthCheckResponse.SERVING


def test_health_checks_are_not_traced(backends: Backends) -> None:
    """Readiness probes must not flood the sink with spans."""
    trace_id, md = new_traceparent()
    backends.stub("currency", health_pb2_grpc.HealthStub).Check(
        health_pb2.HealthCheckRequest(), metadata=md, timeout=2
    )
    # A traced call in the same trace afterwards: the exporter sends spans in end order,
    # so once it is in, a health span would be too.
    currency = backends.stub("currency", demo_pb2_grpc.CurrencyServiceStub)
    currency.GetSupportedCurrencies(demo_pb2.Empty(), metadata=md)
    trace = backends.wait_trace(trace_id, has("Currency/GetSupportedCurrencies"))
    assert [s.name for s in trace] == ["Currency/GetSupportedCurrencies"]


@pytest.mark.parametrize(
    ("module", "env", "message"),
    [
        ("cart", {"CART_PORT": "0"}, "VALKEY_ADDR is required"),
        (
            "checkout",
            {"CHECKOUT_PORT": "0", "CART_ADDR": "127.0.0.1:1", "EMAIL_ADDR": "http://x"},
            "variables SHIPPING_ADDR, PRODUCT_CATALOG_ADDR, CURRENCY_ADDR, PAYMENT_ADDR are "
            "required but not set",
        ),
        ("payment", {"PAYMENT_PORT": "http"}, "PAYMENT_PORT='http' is not an integer"),
        ("fraud_detection", {}, "KAFKA_ADDR is required"),
    ],
)
def test_missing_or_bad_configuration_exits_with_a_clear_error(
    module: str, env: dict[str, str], message: str
) -> None:
    done = subprocess.run(
        [sys.executable, "-m", f"tracebed.reference.services.{module}"],
        env=clean_env(env),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr
