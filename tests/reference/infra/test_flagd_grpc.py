"""flagd's gRPC evaluation protocol (``flagd.evaluation.v1``/``v2``) on the stand-in's flagd.

The gRPC answers must equal the OFREP ones (same evaluator, same file) for every flag of
both demo releases, errors must carry flagd's status codes, and a flag switch must reach
streaming clients, including the real OpenFeature Python flagd provider, via EventStream.
"""

from __future__ import annotations

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
import requests
from google.protobuf import json_format, struct_pb2
from openfeature import api
from openfeature.contrib.provider.flagd import FlagdProvider
from openfeature.event import EventDetails, ProviderEvent
from openfeature.provider.no_op_provider import NoOpProvider
from openfeature.schemas.protobuf.flagd.evaluation.v1 import evaluation_pb2 as v1
from openfeature.schemas.protobuf.flagd.evaluation.v1 import evaluation_pb2_grpc as v1_grpc
from openfeature.schemas.protobuf.flagd.evaluation.v2 import evaluation_pb2 as v2
from openfeature.schemas.protobuf.flagd.evaluation.v2 import evaluation_pb2_grpc as v2_grpc
from openfeature.schemas.protobuf.schema.v1 import schema_pb2 as old
from openfeature.schemas.protobuf.schema.v1 import schema_pb2_grpc as old_grpc

from tests.reference.infra.launcher import Launcher
from tracebed.reference.flagd.evaluation import flag_type

SHARED = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference"
RELEASES = {
    "2.0.2": SHARED / "otel-demo-2.0.2" / "demo.flagd.json",
    "3.0.0": SHARED / "otel-demo-3.0.0" / "demo.flagd.json",
}
#: Contexts each flag is evaluated with: none, a targeting key, the 3.0.0 targeting's key.
CONTEXTS: list[dict[str, Any]] = [
    {},
    {"targetingKey": "session-1", "userId": "u-1"},
    {"product_id": "OLJCESPC7Z"},
    {"targetingKey": "session-2", "product_id": "66VCHSJNUP"},
]
#: Flags the demo files lack, so every evaluator path is covered: fractional split,
#: a disabled flag, an object flag, a string flag, a targeting rule with no match.
EXTRA_FLAGS: dict[str, Any] = {
    "tracebedSplit": {
        "state": "ENABLED",
        "variants": {"red": "red", "blue": "blue"},
        "defaultVariant": "red",
        "targeting": {"fractional": [{"var": "targetingKey"}, ["red", 50], ["blue", 50]]},
    },
    "tracebedOff": {
        "state": "DISABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
    },
    "tracebedObject": {
        "state": "ENABLED",
        "variants": {"small": {"size": 1, "tags": ["a"]}, "big": {"size": 9, "tags": []}},
        "defaultVariant": "small",
        "metadata": {"owner": "tracebed"},
    },
    "tracebedNoMatch": {
        "state": "ENABLED",
        "variants": {"on": True, "off": False},
        "defaultVariant": "off",
        "targeting": {"if": [{"==": [{"var": "userId"}, "u-1"]}, "on", None]},
    },
}
TYPED_RPC = {
    "boolean": "ResolveBoolean",
    "string": "ResolveString",
    "integer": "ResolveInt",
    "float": "ResolveFloat",
    "object": "ResolveObject",
}
REQUEST = {
    "ResolveBoolean": "ResolveBooleanRequest",
    "ResolveString": "ResolveStringRequest",
    "ResolveInt": "ResolveIntRequest",
    "ResolveFloat": "ResolveFloatRequest",
    "ResolveObject": "ResolveObjectRequest",
}


DOCUMENTS = ["2.0.2", "3.0.0", "3.0.0-switched", "3.0.0+extra"]


@functools.cache
def _documents() -> dict[str, dict[str, Any]]:
    missing = [str(p) for p in RELEASES.values() if not p.exists()]
    if missing:
        pytest.skip(f"the demo's flag files are not here: {missing}")
    docs = {name: json.loads(path.read_text()) for name, path in RELEASES.items()}
    # 3.0.0 switched on as flagd-ui does it: the targeting's then-branch (demo-facts-3.0 §8.2)
    switched = copy.deepcopy(docs["3.0.0"])
    switched["flags"]["productCatalogFailure"]["targeting"]["if"][1] = "on"
    switched["flags"]["paymentFailure"]["defaultVariant"] = "90%"
    docs["3.0.0-switched"] = switched
    extra = copy.deepcopy(docs["3.0.0"])
    extra["flags"].update(copy.deepcopy(EXTRA_FLAGS))
    docs["3.0.0+extra"] = extra
    return docs


def document(name: str) -> dict[str, Any]:
    return copy.deepcopy(_documents()[name])


def _struct(ctx: dict[str, Any]) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(ctx)
    return s


class Flagd:
    """The launched flag service: its OFREP URL, a gRPC channel, the flag file."""

    def __init__(self, spec: dict[str, Any]) -> None:
        endpoints = spec["services"]["flagd"]["x-tracebed"]["endpoints"]
        self.ofrep_url = endpoints["ofrep"]
        self.grpc_target = endpoints["grpc"]
        self.flag_file = Path(spec["x-tracebed-stack"]["flag_file"])
        self.ui_url = spec["services"]["flagd-ui"]["x-tracebed"]["endpoints"]["http"]
        self.channel = grpc.insecure_channel(self.grpc_target)
        self.v1 = v1_grpc.ServiceStub(self.channel)
        self.v2 = v2_grpc.ServiceStub(self.channel)
        self.old = old_grpc.ServiceStub(self.channel)  # the deprecated schema.v1

    def ofrep(self, key: str, ctx: dict[str, Any]) -> requests.Response:
        url = f"{self.ofrep_url}/ofrep/v1/evaluate/flags/{key}"
        return requests.post(url, json={"context": ctx}, timeout=5)

    def call(self, pb: Any, stub: Any, rpc: str, key: str, ctx: dict[str, Any]) -> Any:
        request = getattr(pb, REQUEST[rpc])(flag_key=key, context=_struct(ctx))
        return getattr(stub, rpc)(request, timeout=5)


@pytest.fixture
def flagd(spec: dict[str, Any], launch: Callable[..., Launcher]) -> Iterator[Callable[..., Flagd]]:
    """``flagd(doc)`` writes ``doc`` as the flag file, then starts the flag service."""
    started: list[Flagd] = []

    def _start(doc: dict[str, Any] | None = None, *services: str) -> Flagd:
        f = Flagd(spec)
        if doc is not None:
            f.flag_file.write_text(json.dumps(doc))
        launch("flagd", *services)
        started.append(f)
        return f

    yield _start
    for f in started:
        f.channel.close()


def _value(response: Any, rpc: str) -> Any:
    if rpc == "ResolveObject":
        return json_format.MessageToDict(response.value)
    return response.value


@pytest.mark.parametrize("release", DOCUMENTS)
def test_grpc_answers_equal_ofrep_for_every_flag(release: str, flagd: Callable[..., Flagd]) -> None:
    doc = document(release)
    f = flagd(doc)
    compared = disabled = 0
    for ctx in CONTEXTS:
        everything = f.v1.ResolveAll(v1.ResolveAllRequest(context=_struct(ctx)), timeout=5)
        for key, flag in doc["flags"].items():
            rpc = TYPED_RPC[flag_type(flag["variants"])]
            ofrep = f.ofrep(key, ctx)
            if ofrep.status_code != 200:
                # only the disabled flag; OFREP and gRPC both answer it as not found
                assert flag.get("state") == "DISABLED", (key, ofrep.json())
                assert ofrep.json()["errorCode"] == "FLAG_NOT_FOUND"
                with pytest.raises(grpc.RpcError) as err:
                    f.call(v1, f.v1, rpc, key, ctx)
                assert err.value.code() == grpc.StatusCode.NOT_FOUND
                assert key not in everything.flags  # flagd skips disabled flags
                disabled += 1
                continue
            want = ofrep.json()
            for pb, stub in ((v1, f.v1), (v2, f.v2), (old, f.old)):
                got = f.call(pb, stub, rpc, key, ctx)
                assert (_value(got, rpc), got.variant, got.reason) == (
                    want["value"],
                    want["variant"],
                    want["reason"],
                ), (release, key, ctx, pb.__name__)
                assert json_format.MessageToDict(got.metadata) == want["metadata"]
            one = everything.flags[key]
            kind = one.WhichOneof("value")
            value = getattr(one, kind)
            if kind == "object_value":
                value = json_format.MessageToDict(value)
            assert (value, one.variant, one.reason) == (
                want["value"],
                want["variant"],
                want["reason"],
            ), (release, key, ctx, "ResolveAll")
            if isinstance(want["value"], int | float) and not isinstance(want["value"], bool):
                assert kind == "double_value"  # flagd's ResolveAll: every number a double
            compared += 1
    assert compared + disabled == len(doc["flags"]) * len(CONTEXTS)
    assert disabled == (len(CONTEXTS) if "tracebedOff" in doc["flags"] else 0)
    if release == "3.0.0-switched":
        hit = f.call(v1, f.v1, "ResolveBoolean", "productCatalogFailure", CONTEXTS[2])
        assert (hit.value, hit.variant, hit.reason) == (True, "on", "TARGETING_MATCH")
        miss = f.call(v1, f.v1, "ResolveBoolean", "productCatalogFailure", CONTEXTS[3])
        assert (miss.value, miss.variant) == (False, "off")


def test_fractional_targeting_splits_by_targeting_key(flagd: Callable[..., Flagd]) -> None:
    f = flagd(document("3.0.0+extra"))
    seen: dict[str, str] = {}
    for i in range(40):
        ctx = {"targetingKey": f"user-{i}"}
        got = f.call(v1, f.v1, "ResolveString", "tracebedSplit", ctx)
        assert got.reason == "TARGETING_MATCH"
        seen[ctx["targetingKey"]] = got.variant
        assert f.ofrep("tracebedSplit", ctx).json()["variant"] == got.variant
    assert set(seen.values()) == {"red", "blue"}


def test_errors_carry_flagds_status_codes(flagd: Callable[..., Flagd]) -> None:
    f = flagd(document("3.0.0+extra"))

    def status(pb: Any, stub: Any, rpc: str, key: str) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as err:
            f.call(pb, stub, rpc, key, {})
        return err.value.code(), err.value.details()

    # flagd.evaluation.v1, as every demo service's provider reads it
    assert status(v1, f.v1, "ResolveBoolean", "noSuchFlag") == (
        grpc.StatusCode.NOT_FOUND,
        "Flag not found",
    )
    assert status(v1, f.v1, "ResolveBoolean", "paymentFailure") == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "Type mismatch error",
    )
    assert status(v1, f.v1, "ResolveString", "adFailure")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert status(v1, f.v1, "ResolveObject", "cartFailure")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert status(v1, f.v1, "ResolveFloat", "adFailure")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert status(v1, f.v1, "ResolveBoolean", "tracebedOff") == (
        grpc.StatusCode.NOT_FOUND,
        "Flag is disabled",
    )
    assert status(old, f.old, "ResolveInt", "noSuchFlag")[0] == grpc.StatusCode.NOT_FOUND
    # v2: an unknown flag is not an error; the caller's default applies
    missing = f.call(v2, f.v2, "ResolveBoolean", "noSuchFlag", {})
    assert missing.reason == "DEFAULT"
    assert not missing.HasField("value") and not missing.HasField("variant")
    assert status(v2, f.v2, "ResolveInt", "adFailure")[0] == grpc.StatusCode.INVALID_ARGUMENT
    assert status(v2, f.v2, "ResolveBoolean", "tracebedOff")[0] == grpc.StatusCode.NOT_FOUND


def test_numbers_are_read_as_flagds_go_evaluator_reads_them(flagd: Callable[..., Flagd]) -> None:
    doc = document("3.0.0")
    doc["flags"]["paymentFailure"]["defaultVariant"] = "90%"
    f = flagd(doc)
    as_float = f.call(v1, f.v1, "ResolveFloat", "paymentFailure", {})
    assert (as_float.value, as_float.variant) == (0.95, "90%")  # the demo's 0.95 quirk
    as_int = f.call(v1, f.v1, "ResolveInt", "paymentFailure", {})
    assert (as_int.value, as_int.variant) == (0, "90%")  # Go's int64(0.95): truncated
    vus = f.call(v1, f.v1, "ResolveFloat", "loadGeneratorVUs", {})
    assert (vus.value, vus.variant) == (5.0, "5")  # an integer flag read as a float


def _next_event(stream: Iterator[Any]) -> Any:
    """The next non-keep-alive event (the stream's own deadline bounds the wait)."""
    for event in stream:
        if event.type != "keep_alive":
            return event
    raise AssertionError("the event stream ended")


def test_event_stream_sends_ready_then_each_flag_file_change(flagd: Callable[..., Flagd]) -> None:
    f = flagd(None, "flagd-ui")
    stream = f.v1.EventStream(v1.EventStreamRequest(), timeout=20)
    others = [
        f.v1.EventStream(v1.EventStreamRequest(), timeout=20),
        f.v2.EventStream(v2.EventStreamRequest(), timeout=20),
    ]
    try:
        for s in [stream, *others]:
            assert _next_event(s).type == "provider_ready"
        # through flagd-ui's write path, as a harness or a person switches a flag
        r = requests.post(
            f"{f.ui_url}/api/flags/paymentFailure", json={"defaultVariant": "50%"}, timeout=5
        )
        assert r.status_code == 200
        source = str(f.flag_file)
        for s in [stream, *others]:  # every open stream hears of it
            change = _next_event(s)
            assert change.type == "configuration_change"
            assert json_format.MessageToDict(change.data) == {
                "flags": {"paymentFailure": {"type": "update", "source": source}}
            }
        for s in others:
            s.cancel()
        # and by editing the file itself: a new flag is a "write", a removed one a "delete"
        doc = json.loads(f.flag_file.read_text())
        doc["flags"]["tracebedNew"] = copy.deepcopy(EXTRA_FLAGS["tracebedNoMatch"])
        del doc["flags"]["adHighCpu"]
        f.flag_file.write_text(json.dumps(doc))
        change = _next_event(stream)
        assert json_format.MessageToDict(change.data)["flags"] == {
            "tracebedNew": {"type": "write", "source": source},
            "adHighCpu": {"type": "delete", "source": source},
        }
        # a rewrite that changes no flag is still announced, with no flags (as flagd does)
        f.flag_file.write_text(json.dumps(doc, indent=4))
        change = _next_event(stream)
        assert change.type == "configuration_change"
        assert json_format.MessageToDict(change.data) == {"flags": {}}
    finally:
        for s in [stream, *others]:
            s.cancel()


def test_openfeature_python_flagd_provider_sees_switches_through_the_event_stream(
    flagd: Callable[..., Flagd],
) -> None:
    f = flagd(None, "flagd-ui")
    host, port = f.grpc_target.rsplit(":", 1)
    changed = threading.Event()
    domain = "tracebed-flagd-grpc-test"
    provider = FlagdProvider(host=host, port=int(port), deadline_ms=5000)
    api.set_provider_and_wait(provider, domain)
    try:
        client = api.get_client(domain)

        def on_change(details: EventDetails) -> None:
            if "recommendationCacheFailure" in (details.flags_changed or []):
                changed.set()

        client.add_handler(ProviderEvent.PROVIDER_CONFIGURATION_CHANGED, on_change)
        first = client.get_boolean_details("recommendationCacheFailure", True)
        assert (first.value, first.variant, first.reason) == (False, "off", "STATIC")
        # the provider caches static answers; only a change event can refresh them
        assert client.get_boolean_details("recommendationCacheFailure", True).reason == "CACHED"
        r = requests.post(
            f"{f.ui_url}/api/flags/recommendationCacheFailure",
            json={"defaultVariant": "on"},
            timeout=5,
        )
        assert r.status_code == 200
        assert changed.wait(timeout=15), "no configuration_change reached the provider"
        after = client.get_boolean_details("recommendationCacheFailure", False)
        assert (after.value, after.variant, after.reason) == (True, "on", "STATIC")
        assert client.get_float_value("paymentFailure", 1.0) == 0.0
        missing = client.get_boolean_details("noSuchFlag", True)
        assert missing.value is True
    finally:
        api.set_provider(NoOpProvider(), domain)
