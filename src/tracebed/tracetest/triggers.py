"""Tracetest triggers run with a trace context tracebed chose: http (on the flows request path),
grpc (request built from the test's .proto, compiled once per file), and traceid (no request).

Each request trigger carries `context.traceparent`, so the service's span is a child of the
"Tracetest trigger" pseudo-span the runner adds (`trigger_span`), which carries the response as
`tracetest.response.status` / `.body` / `.headers`, as Tracetest's own trigger span does.
"""

from __future__ import annotations

import base64
import json
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import requests

from tracebed.errors import FlowError
from tracebed.flows.client import send
from tracebed.flows.context import TraceContext
from tracebed.model import Span, SpanKind, Status, StatusCode
from tracebed.query.expression import EvalContext, Template
from tracebed.tracetest.definition import GrpcTrigger, HttpTrigger
from tracebed.tracetest.hosts import HostMap

TRIGGER_SPAN_NAME = "Tracetest trigger"
_EMPTY_JSON_OBJECT = (
    "{\n  \n}"  # how Tracetest prints an empty gRPC response (cart tests rely on it)
)


class TriggerError(FlowError):
    """The trigger could not be sent (unreachable service, missing proto, bad request)."""


@dataclass
class TriggerResponse:
    status: int
    body: str
    headers: list[dict[str, str]]
    start_ns: int
    end_ns: int
    error: str | None = None


def _render(template: Template | None, ctx: EvalContext) -> str:
    return template.render(ctx) if template is not None else ""


# -- http ---------------------------------------------------------------------------------------
def http(
    trigger: HttpTrigger,
    ctx: EvalContext,
    hosts: HostMap,
    context: TraceContext,
    timeout: float,
    session: requests.Session | None = None,
) -> TriggerResponse:
    url = hosts.url(trigger.url.render(ctx))
    headers = {_render(k, ctx): _render(v, ctx) for k, v in trigger.headers}
    params: dict[str, str] = {}
    if trigger.auth is not None:
        first, second = _render(trigger.auth.first, ctx), _render(trigger.auth.second, ctx)
        if trigger.auth.kind == "basic":
            # as `requests`' HTTPBasicAuth encodes it
            token = base64.b64encode(f"{first}:{second}".encode("latin-1")).decode()
            headers["Authorization"] = f"Basic {token}"
        elif trigger.auth.kind == "bearer":
            headers["Authorization"] = f"Bearer {first}"
        elif trigger.auth.where == "query":
            params[first] = second
        else:
            headers[first] = second
    if params:
        url += ("&" if "?" in url else "?") + urlencode(params)
    body = _render(trigger.body, ctx)
    own = session is None
    client = requests.Session() if session is None else session
    start = time.time_ns()
    try:
        result = send(
            client,
            trigger.method,
            url,
            context,
            headers=headers,
            data=body.encode() or None,
            timeout=timeout,
            task="tracetest",
        )
    finally:
        end = time.time_ns()
        if own:
            client.close()
    if result.error is not None:
        raise TriggerError(f"{trigger.method} {url}: {result.error}")
    return TriggerResponse(
        status=result.status_code,
        body=result.text,
        headers=[{"Key": k, "Value": v} for k, v in result.response_headers.items()],
        start_ns=start,
        end_ns=end,
    )


# -- grpc ---------------------------------------------------------------------------------------
_PROTO_CACHE: dict[Path, Any] = {}
_PROTO_LOCK = threading.Lock()


def find_proto(name: str, test_path: Path, proto_path: Sequence[str | Path] = ()) -> Path:
    """A trigger's `protobufFile`: beside the test, in `proto_path`, else the packaged demo.proto."""
    candidates = [(test_path.parent / name)]
    for directory in proto_path:
        candidates += [Path(directory) / name, Path(directory) / Path(name).name]
    # The demo's files point at the demo repo's pb/demo.proto; the same file ships with tracebed.
    packaged = resources.files("tracebed.reference.proto") / Path(name).name
    candidates.append(Path(str(packaged)))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise TriggerError(
        f"protobufFile {name!r} not found (looked in {', '.join(str(c) for c in candidates)}); "
        "add a proto path (--tracebed-proto-path DIR, or --proto-path DIR)"
    )


def _descriptor_pool(proto: Path) -> Any:
    """Compile the .proto with grpcio-tools' protoc into a descriptor pool (once per file)."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from grpc_tools import protoc

    with _PROTO_LOCK:
        if proto in _PROTO_CACHE:
            return _PROTO_CACHE[proto]
        include = resources.files("grpc_tools") / "_proto"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "set.pb"
            code = protoc.main(
                [
                    "protoc",
                    f"-I{proto.parent}",
                    f"-I{include}",
                    f"--descriptor_set_out={out}",
                    "--include_imports",
                    str(proto),
                ]
            )
            if code != 0 or not out.exists():
                raise TriggerError(f"protoc could not compile {proto} (exit {code})")
            files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        pool = descriptor_pool.DescriptorPool()
        for file_proto in files.file:
            pool.Add(file_proto)
        _PROTO_CACHE[proto] = pool
        return pool


def grpc(
    trigger: GrpcTrigger,
    ctx: EvalContext,
    hosts: HostMap,
    context: TraceContext,
    test_path: Path,
    timeout: float,
    proto_path: Sequence[str | Path] = (),
) -> TriggerResponse:
    import grpc as grpc_lib
    from google.protobuf import json_format, message_factory

    pool = _descriptor_pool(find_proto(trigger.proto_file, test_path, proto_path))
    service_name, _, method_name = trigger.method.rpartition(".")
    try:
        method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    except KeyError:
        raise TriggerError(f"method {trigger.method} is not in {trigger.proto_file}") from None
    if method is None:
        raise TriggerError(f"method {trigger.method} is not in {trigger.proto_file}")
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    request_msg = request_cls()
    text = _render(trigger.request, ctx).strip()
    if text:
        try:
            json_format.Parse(text, request_msg)
        except json_format.ParseError as exc:
            raise TriggerError(
                f"request is not a valid {method.input_type.full_name}: {exc}"
            ) from None
    address = hosts.address(trigger.address.render(ctx).strip())
    metadata = [(_render(k, ctx).lower(), _render(v, ctx)) for k, v in trigger.metadata]
    metadata = [(k, v) for k, v in metadata if k != "traceparent"]
    metadata.append(("traceparent", context.traceparent))
    start = time.time_ns()
    with grpc_lib.insecure_channel(address) as channel:
        call = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        try:
            response, info = call.with_call(request_msg, metadata=metadata, timeout=timeout)
        except grpc_lib.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc_lib.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
            return TriggerResponse(
                status=code.value[0],
                body="",
                headers=_md(trailing),
                start_ns=start,
                end_ns=time.time_ns(),
                error=f"gRPC {code.name}: {details}",
            )
    body = json_format.MessageToJson(response, indent=2, always_print_fields_with_no_presence=True)
    return TriggerResponse(
        status=0,
        body=_EMPTY_JSON_OBJECT if body.strip() == "{}" else body,
        headers=_md(info.initial_metadata()) + _md(info.trailing_metadata()),
        start_ns=start,
        end_ns=time.time_ns(),
    )


def _md(metadata: Any) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in (metadata or ())]


# -- the trigger span ---------------------------------------------------------------------------
def trigger_span(context: TraceContext, response: TriggerResponse) -> Span:
    """The "Tracetest trigger" root span: the parent of the span the request reached."""
    return Span(
        trace_id=context.trace_id,
        span_id=context.span_id,
        name=TRIGGER_SPAN_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=response.start_ns,
        end_ns=response.end_ns,
        status=Status(
            StatusCode.ERROR if response.error else StatusCode.UNSET, response.error or ""
        ),
        attributes={
            "tracetest.span.type": "general",
            "tracetest.response.status": str(response.status),
            "tracetest.response.body": response.body,
            "tracetest.response.headers": json.dumps(response.headers),
        },
        resource={"service.name": "tracetest"},
    )
