"""currency: list order, the conversion arithmetic (and its bugs), spans."""

from __future__ import annotations

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, has, new_traceparent, one

DEMO_ORDER = [
    "ZAR",
    "ISK",
    "ILS",
    "RON",
    "GBP",
    "BRL",
    "CZK",
    "AUD",
    "BGN",
    "JPY",
    "PHP",
    "HUF",
    "USD",
    "SGD",
    "IDR",
    "CHF",
    "TRY",
    "NZD",
    "THB",
    "DKK",
    "PLN",
    "NOK",
    "HRK",
    "HKD",
    "EUR",
    "RUB",
    "CAD",
    "INR",
    "SEK",
    "KRW",
    "CNY",
    "MXN",
    "MYR",
]


def test_supported_currencies_in_the_demo_order(backends: Backends) -> None:
    stub = backends.stub("currency", demo_pb2_grpc.CurrencyServiceStub)
    trace_id, md = new_traceparent()
    codes = list(stub.GetSupportedCurrencies(demo_pb2.Empty(), metadata=md).currency_codes)
    assert codes[:33] == DEMO_ORDER  # tracetest: [0] = ZAR, [32] = MYR
    trace = backends.wait_trace(trace_id, has("Currency/GetSupportedCurrencies"))
    span = one(trace, "Currency/GetSupportedCurrencies")
    assert span.kind is SpanKind.SERVER and span.service == "currency"
    assert span.attributes["rpc.system"] == "grpc"
    assert span.attributes["rpc.service"] == "oteldemo.CurrencyService"
    assert span.attributes["rpc.method"] == "GetSupportedCurrencies"
    assert span.attributes["rpc.grpc.status_code"] == 0
    assert span.status.code is StatusCode.OK
    assert [e.name for e in span.events] == [
        "Processing supported currencies request",
        "Currencies fetched, response sent back",
    ]
    assert span.resource["service.namespace"] == "opentelemetry-demo"


def test_convert_matches_the_tracetest_example(backends: Backends) -> None:
    stub = backends.stub("currency", demo_pb2_grpc.CurrencyServiceStub)
    trace_id, md = new_traceparent()
    req = demo_pb2.CurrencyConversionRequest(
        to_code="CAD", **{"from": demo_pb2.Money(currency_code="USD", units=330, nanos=750000000)}
    )
    money = stub.Convert(req, metadata=md)
    assert (money.currency_code, money.units, money.nanos) == ("CAD", 442, 599380804)
    span = one(backends.wait_trace(trace_id, has("Currency/Convert")), "Currency/Convert")
    assert span.attributes["app.currency.conversion.from"] == "USD"
    assert span.attributes["app.currency.conversion.to"] == "CAD"
    assert span.attributes["rpc.method"] == "Convert"


def test_convert_keeps_the_demo_bugs(backends: Backends) -> None:
    stub = backends.stub("currency", demo_pb2_grpc.CurrencyServiceStub)

    def convert(units: int, nanos: int, to: str, frm: str = "USD") -> demo_pb2.Money:
        money = demo_pb2.Money(currency_code=frm, units=units, nanos=nanos)
        return stub.Convert(demo_pb2.CurrencyConversionRequest(to_code=to, **{"from": money}))

    # USD -> USD still converts, with truncation: 101.96 -> 101 / 959999999.
    m = convert(101, 960000000, "USD")
    assert (m.units, m.nanos) == (101, 959999999)
    # Leading zeros of nanos are dropped: 57.08 reads as 57.8.
    m = convert(57, 80000000, "USD")
    assert (m.units, m.nanos) == (57, 799999999)
    # An unknown target code is added with rate 0 and appears in the list afterwards.
    m = convert(10, 0, "XTB")
    assert (m.currency_code, m.units, m.nanos) == ("XTB", 0, 0)
    codes = stub.GetSupportedCurrencies(demo_pb2.Empty()).currency_codes
    assert "XTB" in codes and list(codes[:33]) == DEMO_ORDER
