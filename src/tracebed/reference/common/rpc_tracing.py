"""gRPC spans named and attributed the way each demo service's language names them.

The demo's services are written in different languages and their gRPC
instrumentations name spans differently (demo-facts §17.7). The demo's own tests
match those names exactly, so the reference services choose a :class:`Style`.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from tracebed.reference import versions
from tracebed.reference.common import telemetry

log = logging.getLogger(__name__)


class Style(enum.Enum):
    GO = "go"  # otelgrpc (Go), Java agent, tonic (Rust): oteldemo.X/Y
    NODE = "node"  # @opentelemetry/instrumentation-grpc: grpc.oteldemo.X/Y
    PYTHON = "python"  # opentelemetry-instrumentation-grpc: /oteldemo.X/Y
    DOTNET = "dotnet"  # ASP.NET Core: POST /oteldemo.X/Y with grpc.status_code
    CURRENCY = "currency"  # the C++ currency service's manual spans: Currency/Y


def span_name(style: Style, full_method: str) -> str:
    """``/oteldemo.CartService/AddItem`` rendered in ``style``."""
    bare = full_method.lstrip("/")
    if style is Style.GO:
        return bare
    if style is Style.NODE:
        return "grpc." + bare
    if style is Style.PYTHON:
        return "/" + bare
    if style is Style.DOTNET:
        return "POST /" + bare
    return "Currency/" + bare.rsplit("/", 1)[-1]


def split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").partition("/")
    return service, method


# Server-side codes otelgrpc marks as span errors; the rest stay Unset (Go semantics).
_GO_SERVER_ERRORS = {
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DATA_LOSS,
}


class RpcError(Exception):
    """Raised by a servicer to end the call with ``code`` and exactly ``message``."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _status_attr(style: Style) -> str:
    return "grpc.status_code" if style is Style.DOTNET else "rpc.grpc.status_code"


def _rpc_attrs(style: Style, full_method: str) -> dict[str, Any]:
    service, method = split_method(full_method)
    if style is Style.DOTNET:
        return {
            "grpc.method": full_method,
            "http.request.method": "POST",
            "http.route": full_method,
            "url.path": full_method,
            "url.scheme": "http",
            "network.protocol.version": "2",
        }
    return {"rpc.system": "grpc", "rpc.service": service, "rpc.method": method}


class ServerTracing(grpc.ServerInterceptor):
    """Server interceptor: a SERVER span per unary call, parented on W3C metadata."""

    def __init__(self, style: Style, tracer_name: str = "tracebed.reference") -> None:
        self.style = style
        self.tracer = trace.get_tracer(tracer_name)

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        handler = continuation(handler_call_details)
        full_method: str = handler_call_details.method  # type: ignore[attr-defined]
        # Health checks and reflection are probes, not shop traffic: no spans.
        if handler is None or handler.unary_unary is None or full_method.startswith("/grpc."):
            return handler
        behavior = handler.unary_unary

        def traced(request: Any, context: grpc.ServicerContext) -> Any:
            return self._call(behavior, full_method, request, context)

        return grpc.unary_unary_rpc_method_handler(
            traced,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )

    def _call(
        self,
        behavior: Callable[[Any, grpc.ServicerContext], Any],
        full_method: str,
        request: Any,
        context: grpc.ServicerContext,
    ) -> Any:
        carrier = {k: v for k, v in context.invocation_metadata() if isinstance(v, str)}
        token = otel_context.attach(propagate.extract(carrier))
        style = self.style
        attrs = _rpc_attrs(style, full_method)
        if style is Style.CURRENCY:
            attrs["rpc.grpc.status_code"] = 0  # the C++ service sets it before working
        started = time.perf_counter()
        try:
            with self.tracer.start_as_current_span(
                span_name(style, full_method),
                kind=SpanKind.SERVER,
                attributes=attrs,
                record_exception=False,
                set_status_on_exception=False,
            ) as span:
                try:
                    response = behavior(request, context)
                except RpcError as err:
                    self._fail(span, err.code, err.message, err)
                    context.abort(err.code, err.message)
                except Exception as exc:
                    if _aborted(context):
                        raise
                    log.exception("unhandled error in %s", full_method)
                    self._fail(span, grpc.StatusCode.UNKNOWN, str(exc), exc)
                    context.abort(grpc.StatusCode.UNKNOWN, str(exc))
                code = _code(context)
                if code is not grpc.StatusCode.OK:
                    self._fail(span, code, _details(context), None)
                elif style is Style.CURRENCY:
                    span.set_status(Status(StatusCode.OK))
                else:
                    span.set_attribute(_status_attr(style), 0)
                    if style is Style.DOTNET:
                        span.set_attribute("http.response.status_code", 200)
                return response
        finally:
            otel_context.detach(token)
            # otelgrpc's rpc.server.duration, where the service's table has it (Go services)
            service, method = split_method(full_method)
            telemetry.record(
                "rpc_server_duration",
                (time.perf_counter() - started) * 1000,
                system="grpc",
                service=service,
                method=method,
                status_code=_code(context).value[0],
            )

    def _fail(
        self,
        span: trace.Span,
        code: grpc.StatusCode,
        message: str,
        exc: BaseException | None,
    ) -> None:
        style = self.style
        if style is Style.CURRENCY:
            return  # the C++ spans keep status_code 0 and their own events
        span.set_attribute(_status_attr(style), code.value[0])
        if style is Style.DOTNET:
            span.set_attribute("http.response.status_code", 200)
        if style is Style.NODE:
            span.set_attribute("grpc.error_name", "Error")
            span.set_attribute("grpc.error_message", message)
        # payment at 3.0.0 records the exception on its `charge` span instead
        node_records = style is Style.NODE and not versions.is_v3()
        if exc is not None and (node_records or style in (Style.DOTNET, Style.PYTHON)):
            span.record_exception(exc)
        if style is not Style.GO or code in _GO_SERVER_ERRORS:
            span.set_status(Status(StatusCode.ERROR, message))


def _aborted(context: grpc.ServicerContext) -> bool:
    return _code(context) is not grpc.StatusCode.OK


def _code(context: grpc.ServicerContext) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]
    if code is None:
        return grpc.StatusCode.OK
    if isinstance(code, grpc.StatusCode):
        return code
    return {c.value[0]: c for c in grpc.StatusCode}.get(int(code), grpc.StatusCode.UNKNOWN)


def _details(context: grpc.ServicerContext) -> str:
    details = context.details()  # type: ignore[attr-defined]
    if isinstance(details, bytes):
        return details.decode("utf-8", "replace")
    return details or ""


class _CallDetails(NamedTuple):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


class ClientTracing(grpc.UnaryUnaryClientInterceptor):
    """Client interceptor: a CLIENT span per unary call, W3C context in the metadata."""

    def __init__(self, style: Style, target: str, tracer_name: str = "tracebed.reference") -> None:
        self.style = style
        self.tracer = trace.get_tracer(tracer_name)
        host, _, port = target.rpartition(":")
        self.server_address = host or target
        self.server_port = int(port) if port.isdigit() else None

    def intercept_unary_unary(
        self,
        continuation: Callable[[Any, Any], Any],
        client_call_details: grpc.ClientCallDetails,
        request: Any,
    ) -> Any:
        method = client_call_details.method
        full_method = method.decode() if isinstance(method, bytes) else str(method)
        attrs = _rpc_attrs(Style.GO if self.style is Style.DOTNET else self.style, full_method)
        attrs["server.address"] = self.server_address
        if self.server_port is not None:
            attrs["server.port"] = self.server_port
        with self.tracer.start_as_current_span(
            span_name(self.style, full_method),
            kind=SpanKind.CLIENT,
            attributes=attrs,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            metadata = list(client_call_details.metadata or []) + list(carrier.items())
            details = _CallDetails(
                full_method,
                client_call_details.timeout,
                metadata,
                client_call_details.credentials,
                getattr(client_call_details, "wait_for_ready", None),
                getattr(client_call_details, "compression", None),
            )
            outcome = continuation(details, request)
            code = outcome.code()
            span.set_attribute("rpc.grpc.status_code", code.value[0])
            if code is not grpc.StatusCode.OK:
                span.set_status(Status(StatusCode.ERROR, outcome.details() or ""))
            return outcome


def traced_channel(target: str, style: Style) -> grpc.Channel:
    """An insecure channel to ``target`` whose calls get CLIENT spans in ``style``."""
    return grpc.intercept_channel(grpc.insecure_channel(target), ClientTracing(style, target))
