"""Every bad input gets the OTLP-specified answer, and the store keeps what it had."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Iterator

import grpc
import pytest
import requests
from google.rpc import status_pb2
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from tests.otlp.payloads import new_trace_id, request, simple_trace
from tracebed.otlp import Sink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(max_body_bytes=64 * 1024) as running:
        yield running


@pytest.fixture
def seeded(sink: Sink) -> Sink:
    """A sink that already holds one 3-span trace, to prove rejections lose nothing."""
    _, req = simple_trace(3)
    response = requests.post(
        f"{sink.http_url}/v1/traces", data=req.SerializeToString(), headers=PROTOBUF
    )
    assert response.status_code == 200
    assert len(sink.store) == 3
    return sink


def _grpc_call(sink: Sink, body: bytes) -> grpc.RpcError | bytes:
    with grpc.insecure_channel(sink.grpc_endpoint) as channel:
        call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
        try:
            return call(body, timeout=5)  # type: ignore[no-any-return]
        except grpc.RpcError as exc:
            return exc


def test_http_garbage_protobuf_is_400_and_store_unchanged(seeded: Sink) -> None:
    response = requests.post(
        f"{seeded.http_url}/v1/traces", data=b"\xff\xff\xff garbage", headers=PROTOBUF
    )
    assert response.status_code == 400
    status = status_pb2.Status.FromString(response.content)
    assert status.code == 3 and "not a valid ExportTraceServiceRequest" in status.message
    assert len(seeded.store) == 3


def test_http_invalid_json_is_400(seeded: Sink) -> None:
    response = requests.post(
        f"{seeded.http_url}/v1/traces",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["message"]
    wrong_shape = requests.post(f"{seeded.http_url}/v1/traces", json={"resourceSpans": "nope"})
    assert wrong_shape.status_code == 400
    assert len(seeded.store) == 3


def test_http_unsupported_content_type_is_415(seeded: Sink) -> None:
    response = requests.post(
        f"{seeded.http_url}/v1/traces", data=b"x", headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 415
    assert "unsupported Content-Type 'text/plain'" in response.json()["message"]
    assert len(seeded.store) == 3


def test_http_body_over_limit_is_413(seeded: Sink) -> None:
    response = requests.post(
        f"{seeded.http_url}/v1/traces", data=os.urandom(70 * 1024), headers=PROTOBUF
    )
    assert response.status_code == 413
    assert len(seeded.store) == 3


def test_http_gzip_bomb_is_413_and_bad_gzip_is_400(seeded: Sink) -> None:
    bomb = gzip.compress(b"\0" * (1024 * 1024))
    assert len(bomb) < 64 * 1024
    headers = {**PROTOBUF, "Content-Encoding": "gzip"}
    assert (
        requests.post(f"{seeded.http_url}/v1/traces", data=bomb, headers=headers).status_code == 413
    )
    bad = requests.post(f"{seeded.http_url}/v1/traces", data=b"not gzip at all", headers=headers)
    assert bad.status_code == 400
    assert len(seeded.store) == 3


def test_grpc_undecodable_body_is_invalid_argument(seeded: Sink) -> None:
    outcome = _grpc_call(seeded, b"\xff\xff\xff garbage")
    assert isinstance(outcome, grpc.RpcError)
    assert outcome.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "ExportTraceServiceRequest" in (outcome.details() or "")
    assert len(seeded.store) == 3


def test_malformed_ids_are_partial_success(seeded: Sink) -> None:
    trace_id = new_trace_id()
    good = os.urandom(8)
    req = request(
        [
            (trace_id, good, b"", "good"),
            (trace_id[:8], os.urandom(8), b"", "short-trace-id"),
            (trace_id, bytes(8), b"", "zero-span-id"),
            (trace_id, os.urandom(8), b"\x01\x02", "bad-parent"),
        ]
    )
    outcome = _grpc_call(seeded, req.SerializeToString())
    assert isinstance(outcome, bytes)
    response = ExportTraceServiceResponse.FromString(outcome)
    assert response.partial_success.rejected_spans == 3
    assert "short-trace-id" in response.partial_success.error_message
    assert len(seeded.store) == 4  # the 3 it had and the good one
    assert [s.name for s in seeded.trace(trace_id.hex())] == ["good"]
    assert seeded.store.stats_dict()["spans_rejected"] == 3


def test_http_partial_success_in_json(seeded: Sink) -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": "zz" * 16, "spanId": "01" * 8, "name": "not-hex"},
                        ]
                    }
                ]
            }
        ]
    }
    response = requests.post(f"{seeded.http_url}/v1/traces", json=document)
    assert response.status_code == 200
    assert response.json()["partialSuccess"]["rejectedSpans"] == "1"
    assert len(seeded.store) == 3


def test_duplicates_stored_once_and_counted(sink: Sink) -> None:
    trace_id, req = simple_trace(3)
    body = req.SerializeToString()
    for _ in range(3):
        assert (
            requests.post(f"{sink.http_url}/v1/traces", data=body, headers=PROTOBUF).status_code
            == 200
        )
    assert isinstance(_grpc_call(sink, body), bytes)
    assert len(sink.trace(trace_id.hex())) == 3
    stats = sink.store.stats_dict()
    assert stats["spans_stored"] == 3
    assert stats["spans_duplicate"] == 9
    assert stats["spans_received"] == 12


def test_eviction_drops_oldest_traces_and_counts() -> None:
    with Sink(max_spans=10) as sink:
        ids = []
        for _ in range(5):  # 5 traces of 3 spans: only 3 traces fit in 10 spans
            trace_id, req = simple_trace(3)
            ids.append(trace_id.hex())
            assert isinstance(_grpc_call(sink, req.SerializeToString()), bytes)
        held = sink.store.trace_ids()
        assert held == ids[2:]
        stats = sink.store.stats_dict()
        assert stats["traces_evicted"] == 2 and stats["spans_evicted"] == 6
        assert stats["spans_held"] == 9


def test_full_store_refuses_retryably_and_keeps_its_spans() -> None:
    with Sink(max_spans=4, when_full="reject") as sink:
        _, first = simple_trace(3)
        assert isinstance(_grpc_call(sink, first.SerializeToString()), bytes)
        _, second = simple_trace(3)
        outcome = _grpc_call(sink, second.SerializeToString())
        assert isinstance(outcome, grpc.RpcError)
        assert outcome.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        details = dict(outcome.trailing_metadata() or ())
        status = status_pb2.Status.FromString(details["grpc-status-details-bin"])
        assert status.details[0].type_url.endswith("google.rpc.RetryInfo")
        response = requests.post(
            f"{sink.http_url}/v1/traces", data=second.SerializeToString(), headers=PROTOBUF
        )
        assert response.status_code == 503
        assert response.headers["Retry-After"] == "1"
        assert len(sink.store) == 3
        assert sink.store.stats_dict()["requests_refused_full"] == 2


def test_unknown_route_is_404(sink: Sink) -> None:
    response = requests.post(f"{sink.http_url}/v1/nothing", data=b"", headers=PROTOBUF)
    assert response.status_code == 404


def test_json_body_round_trips_through_query_api(sink: Sink) -> None:
    trace_id, span_id, child_id = (
        "5b8efff798038103d269b633813fc60c",
        "eee19b7ec3c1b174",
        "eee19b7ec3c1b173",
    )
    document = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "lib"},
                        "spans": [
                            {
                                "traceId": trace_id,
                                "spanId": span_id,
                                "name": "root",
                                "kind": 2,
                                "startTimeUnixNano": "1544712660000000000",
                                "endTimeUnixNano": "1544712661000000000",
                                "attributes": [
                                    {"key": "big", "value": {"intValue": "1099511627776"}}
                                ],
                            },
                            {
                                "traceId": trace_id,
                                "spanId": child_id,
                                "parentSpanId": span_id,
                                "name": "c",
                            },
                        ],
                    }
                ],
            }
        ]
    }
    body = gzip.compress(json.dumps(document).encode())
    response = requests.post(
        f"{sink.http_url}/v1/traces",
        data=body,
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    trace = sink.wait_for_trace(trace_id, until=lambda t: len(t) == 2, timeout=5)
    root = trace.get(span_id)
    assert root is not None and root.service == "js" and root.attributes["big"] == 2**40
    assert root.duration == 1.0
    assert trace.children(root)[0].span_id == child_id

    summary = requests.get(f"{sink.http_url}/api/traces").json()["traces"]
    assert [(s["trace_id"], s["root_name"], s["span_count"]) for s in summary] == [
        (trace_id, "root", 2)
    ]
    exported = requests.get(f"{sink.http_url}/api/traces/{trace_id}").json()
    spans = [s for rs in exported["resourceSpans"] for ss in rs["scopeSpans"] for s in ss["spans"]]
    assert {s["spanId"] for s in spans} == {span_id, child_id}
    assert {s["traceId"] for s in spans} == {trace_id}
    assert requests.get(f"{sink.http_url}/api/traces/{'0' * 31}1").status_code == 404
    stats = requests.get(f"{sink.http_url}/api/stats").json()
    assert stats["spans_stored"] == 2 and stats["requests"] == {"http": 1}
