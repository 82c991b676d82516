"""Two tiny services instrumented with the OpenTelemetry SDK, exporting OTLP to a real Sink:
an HTTP "shop" (calls the gRPC "currency" service) and a gRPC CurrencyService from demo.proto."""

from __future__ import annotations

import json
import threading
from concurrent import futures
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry import propagate
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.otlp.sink import Sink
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc


def _tracer(service: str, endpoint: str) -> tuple[TracerProvider, Any]:
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    # Synchronous export: each span reaches the sink when it ends (no batching delay).
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=endpoint, insecure=True)))
    return provider, provider.get_tracer("tests.tracetest.apps")


class Currency(demo_pb2_grpc.CurrencyServiceServicer):
    def __init__(self, tracer: Any):
        self.tracer = tracer

    def _span(self, context: grpc.ServicerContext, method: str) -> Any:
        carrier = {k: v for k, v in context.invocation_metadata()}
        return self.tracer.start_as_current_span(
            f"Currency/{method}", context=propagate.extract(carrier), kind=SpanKind.SERVER,
            attributes={"rpc.system": "grpc", "rpc.service": "oteldemo.CurrencyService", "rpc.method": method},
        )

    def GetSupportedCurrencies(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        with self._span(context, "GetSupportedCurrencies") as span:
            span.set_attribute("rpc.grpc.status_code", 0)
            return demo_pb2.GetSupportedCurrenciesResponse(currency_codes=["EUR", "USD", "CAD"])

    def Convert(self, request: Any, context: grpc.ServicerContext) -> Any:  # noqa: N802
        with self._span(context, "Convert") as span:
            span.set_attribute("app.currency.conversion.from", request.__getattribute__("from").currency_code)
            span.set_attribute("app.currency.conversion.to", request.to_code)
            if request.to_code == "XXX":
                span.set_attribute("rpc.grpc.status_code", 3)
                span.set_status(Status(StatusCode.ERROR, "unsupported currency"))
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unsupported currency XXX")
            span.set_attribute("rpc.grpc.status_code", 0)
            money = getattr(request, "from")
            return demo_pb2.Money(currency_code=request.to_code, units=money.units * 2, nanos=0)


def _shop_handler(tracer: Any, currency_address: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802
            ctx = propagate.extract(dict(self.headers.items()))
            with tracer.start_as_current_span(f"GET {self.path}", context=ctx, kind=SpanKind.SERVER,
                                              attributes={"http.method": "GET", "http.route": self.path}) as span:
                if self.path.startswith("/api/whoami"):
                    query = self.path.partition("?")[2]
                    body = {"authorization": self.headers.get("Authorization", ""),
                            "apiKey": self.headers.get("X-Api-Key", ""), "query": query}
                    status = 200
                elif self.path == "/api/price":
                    body = self._price()
                    status = 200
                elif self.path == "/api/slow":
                    with tracer.start_as_current_span("sleepy", attributes={"app.step": 1}):
                        threading.Event().wait(0.05)
                    body, status = {"ok": True}, 200
                else:
                    body, status = {"error": "not found"}, 404
                span.set_attribute("http.status_code", status)
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        def _price(self) -> dict[str, Any]:
            with tracer.start_as_current_span("oteldemo.CurrencyService/Convert", kind=SpanKind.CLIENT,
                                              attributes={"rpc.system": "grpc", "rpc.method": "Convert",
                                                          "rpc.service": "oteldemo.CurrencyService"}):
                carrier: dict[str, str] = {}
                propagate.inject(carrier)
                with grpc.insecure_channel(currency_address) as channel:
                    stub = demo_pb2_grpc.CurrencyServiceStub(channel)
                    money = stub.Convert(
                        demo_pb2.CurrencyConversionRequest(
                            **{"from": demo_pb2.Money(currency_code="USD", units=21)}, to_code="EUR"),
                        metadata=list(carrier.items()), timeout=10)
            return {"currencyCode": money.currency_code, "units": money.units}

    return Handler


@dataclass
class Apps:
    sink: Sink
    shop_url: str
    currency_address: str

    def url(self, service: str) -> str:
        """Like demo_stack.url(service)."""
        if service == "shop":
            return self.shop_url
        if service == "currency":
            return f"http://{self.currency_address}"
        raise LookupError(f"no service {service!r}")


CURRENT: Apps | None = None


class Running:
    """Sink + currency (gRPC) + shop (HTTP), all on free ports; `stop()` ends them all."""

    def __init__(self) -> None:
        self.sink = Sink(host="127.0.0.1", grpc_port=0, http_port=0).start()
        self.providers: list[TracerProvider] = []
        try:
            cur_provider, cur_tracer = _tracer("currency", self.sink.grpc_endpoint)
            shop_provider, shop_tracer = _tracer("shop", self.sink.grpc_endpoint)
            self.providers = [cur_provider, shop_provider]
            self.grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
            demo_pb2_grpc.add_CurrencyServiceServicer_to_server(Currency(cur_tracer), self.grpc_server)
            port = self.grpc_server.add_insecure_port("127.0.0.1:0")
            self.grpc_server.start()
            currency_address = f"127.0.0.1:{port}"
            self.http = ThreadingHTTPServer(("127.0.0.1", 0), _shop_handler(shop_tracer, currency_address))
            self.thread = threading.Thread(target=self.http.serve_forever, daemon=True)
            self.thread.start()
            self.apps = Apps(self.sink, f"http://127.0.0.1:{self.http.server_port}", currency_address)
        except BaseException:
            self.sink.stop()
            raise

    def stop(self) -> None:
        self.http.shutdown()
        self.http.server_close()
        self.grpc_server.stop(0)
        for provider in self.providers:
            provider.shutdown()
        self.sink.stop()
