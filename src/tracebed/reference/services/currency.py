"""currency: the demo's C++ CurrencyService, with its list order and conversion arithmetic."""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Sequence

import grpc
from opentelemetry import trace

from tracebed.reference.common import telemetry
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import Style
from tracebed.reference.data import currency_rates
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

_INT64_MIN = -(2**63)


def money_to_double(units: int, nanos: int) -> float:
    """The demo's getDouble: nanos digits become a decimal with leading zeros dropped.

    So 0.08 (nanos 80000000) reads as 0.8; the demo's tests depend on this bug.
    """
    decimal = 0.0
    while nanos != 0:
        digit = int(math.fmod(nanos, 10))  # C's % truncates toward zero
        nanos = int(nanos / 10)
        decimal = decimal / 10 + digit / 10
    return float(units) + decimal


def double_to_money(value: float, code: str) -> demo_pb2.Money:
    """Truncate to units and nanos as the C++ casts do (inf/NaN give INT64_MIN units)."""
    if not math.isfinite(value):
        return demo_pb2.Money(currency_code=code, units=_INT64_MIN, nanos=0)
    units = int(value)
    nanos = int((value - units) * 1e9)
    return demo_pb2.Money(currency_code=code, units=units, nanos=nanos)


class Rates:
    """EUR-based rates; looking up an unknown code adds it with rate 0, as std::map[] does."""

    def __init__(self, rates: Sequence[tuple[str, float]]) -> None:
        self._rates = dict(rates)
        self._lock = threading.Lock()

    def codes(self) -> list[str]:
        with self._lock:
            return list(self._rates)

    def __getitem__(self, code: str) -> float:
        with self._lock:
            return self._rates.setdefault(code, 0.0)


def convert(rates: Rates, money: demo_pb2.Money, to_code: str) -> demo_pb2.Money:
    from_rate = rates[money.currency_code]
    to_rate = rates[to_code]
    amount = money_to_double(money.units, money.nanos)
    with_nan = float("nan") if amount == 0 else math.copysign(math.inf, amount)
    one_euro = amount / from_rate if from_rate != 0 else with_nan
    return double_to_money(one_euro * to_rate, to_code)


class CurrencyService(demo_pb2_grpc.CurrencyServiceServicer):
    def __init__(self, rates: Rates) -> None:
        self.rates = rates

    def GetSupportedCurrencies(
        self, request: demo_pb2.Empty, context: grpc.ServicerContext
    ) -> demo_pb2.GetSupportedCurrenciesResponse:
        span = trace.get_current_span()
        span.add_event("Processing supported currencies request")
        response = demo_pb2.GetSupportedCurrenciesResponse(currency_codes=self.rates.codes())
        span.add_event("Currencies fetched, response sent back")
        telemetry.log("supported")
        return response

    def Convert(
        self, request: demo_pb2.CurrencyConversionRequest, context: grpc.ServicerContext
    ) -> demo_pb2.Money:
        span = trace.get_current_span()
        span.add_event("Processing currency conversion request")
        try:
            result = convert(self.rates, getattr(request, "from"), request.to_code)
        except Exception:
            span.add_event("Conversion failed")
            span.set_status(trace.Status(trace.StatusCode.ERROR))
            telemetry.log("conversion_failed")
            context.abort(grpc.StatusCode.CANCELLED, "")
        span.set_attribute("app.currency.conversion.from", getattr(request, "from").currency_code)
        span.set_attribute("app.currency.conversion.to", request.to_code)
        span.add_event("Conversion successful, response sent back")
        telemetry.count("conversions", currency_code=request.to_code)
        telemetry.log(
            "converted",
            from_code=getattr(request, "from").currency_code,
            to_code=request.to_code,
        )
        return result


def build() -> list[Registration]:
    service = CurrencyService(Rates(currency_rates()))
    return [lambda s: demo_pb2_grpc.add_CurrencyServiceServicer_to_server(service, s)]


def main() -> int:
    # The demo takes the port as argv[1]; CURRENCY_PORT is what compose passes there.
    if len(sys.argv) > 1:
        os.environ["CURRENCY_PORT"] = sys.argv[1]
    # The C++ service installs only the TraceContext propagator.
    return run_grpc("currency", Style.CURRENCY, "CURRENCY_PORT", build, baggage=False)


if __name__ == "__main__":
    sys.exit(main())
