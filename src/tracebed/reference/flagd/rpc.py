"""flagd's gRPC evaluation protocol, as the demo's services reach flagd on ``FLAGD_PORT``.

Serves ``flagd.evaluation.v1.Service`` (what every demo provider in RPC mode speaks: Go,
Java, .NET, Node, Python 0.5, Ruby, Rust), ``flagd.evaluation.v2.Service`` (what the
current Python provider, 0.6, speaks) and the deprecated ``schema.v1.Service`` (older
providers; flagd still serves it), with the stubs the ``openfeature-provider-flagd``
package ships. All answer from the same ``FlagStore`` as OFREP.

As flagd does (``flagd/pkg/service/flag-evaluation``):
  * v1 errors: unknown or disabled flag NOT_FOUND "Flag not found" / "Flag is disabled";
    wrong type INVALID_ARGUMENT "Type mismatch error"; bad targeting DATA_LOSS; other
    failures UNKNOWN. v2 answers an unknown flag (and a targeting parse error) with OK,
    reason DEFAULT and no value or variant, so the caller's default applies.
  * ResolveInt of a fractional number truncates; ResolveFloat of an integer flag succeeds.
  * ResolveAll (v1 only) leaves disabled flags out and sends every number as a double.
  * EventStream sends ``provider_ready`` first, then ``configuration_change`` with
    ``{"flags": {key: {"type": "write" | "update" | "delete", "source": file}}}`` after
    every re-read of the file (only changed flags are listed, maybe none), and
    ``keep_alive`` every 20 s.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf import json_format, struct_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from openfeature.schemas.protobuf.flagd.evaluation.v1 import (
    evaluation_pb2 as v1,
)
from openfeature.schemas.protobuf.flagd.evaluation.v1 import (
    evaluation_pb2_grpc as v1_grpc,
)
from openfeature.schemas.protobuf.flagd.evaluation.v2 import (
    evaluation_pb2 as v2,
)
from openfeature.schemas.protobuf.flagd.evaluation.v2 import (
    evaluation_pb2_grpc as v2_grpc,
)
from openfeature.schemas.protobuf.schema.v1 import schema_pb2 as old
from openfeature.schemas.protobuf.schema.v1 import schema_pb2_grpc as old_grpc

from tracebed.reference.flagd.evaluation import (
    FLAG_DISABLED,
    FLAG_NOT_FOUND,
    GENERAL,
    PARSE_ERROR,
    TYPE_MISMATCH,
    Changes,
    FlagError,
    FlagStore,
    Resolution,
    context_from_dict,
    is_number,
)

log = logging.getLogger("flagd")

V1_SERVICE = "flagd.evaluation.v1.Service"
V2_SERVICE = "flagd.evaluation.v2.Service"
OLD_SERVICE = "schema.v1.Service"
KEEP_ALIVE_SECONDS = 20.0  # flagd's EventStream keep-alive period
#: Every open EventStream holds a worker thread; the demo opens about one per service.
MAX_WORKERS = 128

PROVIDER_READY = "provider_ready"
CONFIGURATION_CHANGE = "configuration_change"
KEEP_ALIVE = "keep_alive"

#: flagd's error code -> (gRPC status, flagd's readable message; core/pkg/model/error.go).
_STATUS: dict[str, tuple[grpc.StatusCode, str]] = {
    FLAG_NOT_FOUND: (grpc.StatusCode.NOT_FOUND, "Flag not found"),
    FLAG_DISABLED: (grpc.StatusCode.NOT_FOUND, "Flag is disabled"),
    TYPE_MISMATCH: (grpc.StatusCode.INVALID_ARGUMENT, "Type mismatch error"),
    PARSE_ERROR: (grpc.StatusCode.DATA_LOSS, "Error parsing input or configuration"),
    GENERAL: (grpc.StatusCode.UNKNOWN, "General error"),
}


def _typed(res: Resolution, kind: str) -> Any:
    """The value as flagd's Go ``resolve[T]`` returns it for type ``kind``."""
    v = res.value
    if kind == "boolean" and isinstance(v, bool):
        return v
    if kind == "string" and isinstance(v, str):
        return v
    if kind == "float" and is_number(v):
        return float(v)
    if kind == "integer" and is_number(v):
        return int(v)  # Go's int64(float64): truncates toward zero
    if kind == "object" and isinstance(v, dict):
        return _struct(v)
    raise FlagError(TYPE_MISMATCH, res.key, f"flag {res.key!r} is not of type {kind}")


def _struct(value: dict[str, Any] | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    if value:
        s.update(value)
    return s


def _context(request: Any) -> dict[str, Any]:
    if not request.HasField("context"):
        return {}
    return dict(json_format.MessageToDict(request.context))


def _abort(context: grpc.ServicerContext, exc: FlagError) -> None:
    code, message = _STATUS.get(exc.code, (grpc.StatusCode.UNKNOWN, exc.code))
    context.abort(code, message)


class _Evaluation:
    """The typed resolves and the event stream, shared by v1 and v2 (same shapes)."""

    def __init__(self, store: FlagStore, pb: Any, not_found_is_default: bool) -> None:
        self.store = store
        self.pb = pb
        self.not_found_is_default = not_found_is_default

    def _resolve(self, request: Any, context: grpc.ServicerContext, kind: str, resp: Any) -> Any:
        ctx = context_from_dict(_context(request))
        try:
            res = self.store.resolve(request.flag_key, ctx)
            value = _typed(res, kind)
        except FlagError as exc:
            if self.not_found_is_default and exc.code in (FLAG_NOT_FOUND, PARSE_ERROR):
                return resp(reason="DEFAULT", metadata=_struct(self.store.flag_set_metadata()))
            _abort(context, exc)
            raise  # not reached: abort raises
        out = resp(reason=res.reason, metadata=_struct(res.metadata))
        if res.variant is not None:
            out.variant = res.variant
        if kind == "object":
            out.value.CopyFrom(value)
        else:
            out.value = value
        return out

    def ResolveBoolean(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve(request, context, "boolean", self.pb.ResolveBooleanResponse)

    def ResolveString(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve(request, context, "string", self.pb.ResolveStringResponse)

    def ResolveFloat(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve(request, context, "float", self.pb.ResolveFloatResponse)

    def ResolveInt(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve(request, context, "integer", self.pb.ResolveIntResponse)

    def ResolveObject(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve(request, context, "object", self.pb.ResolveObjectResponse)

    def EventStream(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        events: queue.Queue[Changes | None] = queue.Queue()
        unsubscribe = self.store.subscribe(events.put)
        # the RPC ending (client gone, server stopping) wakes the loop below
        context.add_callback(lambda: events.put(None))
        response: Callable[..., Any] = self.pb.EventStreamResponse
        try:
            yield response(type=PROVIDER_READY, data=_struct(None))
            while context.is_active():
                try:
                    changes = events.get(timeout=KEEP_ALIVE_SECONDS)
                except queue.Empty:
                    yield response(type=KEEP_ALIVE, data=_struct(None))
                    continue
                if changes is None:
                    return
                yield response(type=CONFIGURATION_CHANGE, data=_struct({"flags": changes}))
        finally:
            unsubscribe()

    def _resolve_all(self, request: Any, with_metadata: bool) -> Any:
        ctx = context_from_dict(_context(request))
        _, results = self.store.resolve_all(ctx)
        out = self.pb.ResolveAllResponse()
        if with_metadata:
            out.metadata.CopyFrom(_struct(self.store.flag_set_metadata()))
        for res in results:
            if isinstance(res, FlagError):
                # flagd skips disabled flags; a flag that fails to evaluate is left out here
                # too (flagd lists it with reason ERROR and its type's zero value)
                continue
            flag = out.flags[res.key]
            flag.reason = res.reason
            if res.variant is not None:
                flag.variant = res.variant
            if with_metadata:
                flag.metadata.CopyFrom(_struct(res.metadata))
            v = res.value
            if isinstance(v, bool):
                flag.bool_value = v
            elif isinstance(v, str):
                flag.string_value = v
            elif is_number(v):
                flag.double_value = float(v)  # Go's JSON numbers are all float64
            elif isinstance(v, dict):
                flag.object_value.CopyFrom(_struct(v))
        return out


class EvaluationV1(_Evaluation, v1_grpc.ServiceServicer):
    def __init__(self, store: FlagStore) -> None:
        super().__init__(store, v1, not_found_is_default=False)

    def ResolveAll(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve_all(request, with_metadata=True)


class EvaluationSchemaV1(_Evaluation, old_grpc.ServiceServicer):
    """The deprecated ``schema.v1.Service`` that flagd still serves for older providers."""

    def __init__(self, store: FlagStore) -> None:
        super().__init__(store, old, not_found_is_default=False)

    def ResolveAll(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._resolve_all(request, with_metadata=False)


class EvaluationV2(_Evaluation, v2_grpc.ServiceServicer):
    def __init__(self, store: FlagStore) -> None:
        super().__init__(store, v2, not_found_is_default=True)


def build_server(store: FlagStore, host: str, port: int) -> tuple[grpc.Server, int]:
    """The evaluation server (v1, v2, schema.v1, grpc.health.v1) on ``host:port``; not started.

    Returns the server and the bound port (``port`` 0 picks a free one).
    """
    # no SO_REUSEPORT: a port already taken must fail the start, not be shared silently
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=MAX_WORKERS), options=[("grpc.so_reuseport", 0)]
    )
    v1_grpc.add_ServiceServicer_to_server(EvaluationV1(store), server)
    v2_grpc.add_ServiceServicer_to_server(EvaluationV2(store), server)
    old_grpc.add_ServiceServicer_to_server(EvaluationSchemaV1(store), server)
    health_servicer = health.HealthServicer()
    for name in ("", V1_SERVICE, V2_SERVICE, OLD_SERVICE):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    if bound == 0:
        raise OSError(f"cannot bind the flagd gRPC port {host}:{port}")
    return server, bound
