"""The sink over HTTP as the OTLP specification and HTTP/1.1 expect: chunked bodies, content
codings, permanent errors, and query answers that say how a wait ended."""

from __future__ import annotations

import gzip
import socket
from collections.abc import Iterator

import grpc
import pytest
import requests
from google.rpc import status_pb2

from tests.otlp.payloads import request, simple_trace
from tracebed.otlp import Sink

PROTOBUF = {"Content-Type": "application/x-protobuf"}
EXPORT = "/opentelemetry.proto.collector.trace.v1.TraceService/Export"
LIMIT = 64 * 1024


@pytest.fixture
def sink() -> Iterator[Sink]:
    with Sink(max_body_bytes=LIMIT) as running:
        yield running


def _chunks(body: bytes, size: int) -> Iterator[bytes]:
    for i in range(0, len(body), size):
        yield body[i : i + size]


def _raw_post(sink: Sink, head: str, body: bytes) -> tuple[int, bytes]:
    """Send a hand-framed request; (status, response bytes). The whole request is small, so the
    server has read all of it when it answers (no reset on close)."""
    message = (
        f"POST /v1/traces HTTP/1.1\r\nHost: sink\r\nContent-Type: application/x-protobuf\r\n"
        f"{head}\r\n"
    ).encode() + body
    with socket.create_connection(("127.0.0.1", sink.http_port), timeout=10) as conn:
        conn.sendall(message)
        received = b""
        while b"\r\n\r\n" not in received:
            data = conn.recv(65536)
            if not data:
                break
            received += data
    status = int(received.split(b" ", 2)[1])
    return status, received


def test_chunked_body_is_accepted(sink: Sink) -> None:
    trace_id, req = simple_trace(3)
    # A generator body: requests sends it with Transfer-Encoding: chunked, as curl -T - does.
    response = requests.post(
        f"{sink.http_url}/v1/traces", data=_chunks(req.SerializeToString(), 7), headers=PROTOBUF
    )
    assert response.status_code == 200, response.content
    assert len(sink.trace(trace_id.hex())) == 3


def test_chunked_gzip_body_is_accepted(sink: Sink) -> None:
    trace_id, req = simple_trace(2)
    body = gzip.compress(req.SerializeToString())
    response = requests.post(
        f"{sink.http_url}/v1/traces",
        data=_chunks(body, 5),
        headers={**PROTOBUF, "Content-Encoding": "gzip"},
    )
    assert response.status_code == 200
    assert len(sink.trace(trace_id.hex())) == 2


def test_chunked_body_over_the_limit_is_413(sink: Sink) -> None:
    # The chunk size alone passes the limit: refused before its data is read.
    status, _ = _raw_post(sink, "Transfer-Encoding: chunked\r\n", b"%x\r\nabc" % (LIMIT + 1))
    assert status == 413
    assert len(sink.store) == 0


@pytest.mark.parametrize(
    "body", [b"zz\r\nabc\r\n0\r\n\r\n", b"3\r\nabcXX0\r\n\r\n", b"\r\n"], ids=str
)
def test_broken_chunked_framing_is_400(sink: Sink, body: bytes) -> None:
    status, _ = _raw_post(sink, "Transfer-Encoding: chunked\r\n", body)
    assert status == 400


def test_unknown_transfer_coding_is_501(sink: Sink) -> None:
    status, _ = _raw_post(sink, "Transfer-Encoding: gzip, chunked\r\n", b"0\r\n\r\n")
    assert status == 501


@pytest.mark.parametrize("coding", ["br", "deflate", "gzip, br"])
def test_unsupported_content_encoding_is_415(sink: Sink, coding: str) -> None:
    _, req = simple_trace(3)
    response = requests.post(
        f"{sink.http_url}/v1/traces",
        data=req.SerializeToString(),
        headers={**PROTOBUF, "Content-Encoding": coding},
    )
    assert response.status_code == 415
    status = status_pb2.Status.FromString(response.content)
    assert "unsupported Content-Encoding" in status.message
    assert len(sink.store) == 0


def test_identity_content_encoding_is_no_coding(sink: Sink) -> None:
    _, req = simple_trace(3)
    response = requests.post(
        f"{sink.http_url}/v1/traces",
        data=req.SerializeToString(),
        headers={**PROTOBUF, "Content-Encoding": "identity"},
    )
    assert response.status_code == 200
    assert len(sink.store) == 3


@pytest.mark.parametrize("when_full", ["evict", "reject"])
def test_batch_larger_than_the_store_is_a_permanent_error(when_full: str) -> None:
    with Sink(max_spans=4, when_full=when_full) as sink:  # type: ignore[arg-type]
        _, big = simple_trace(5)
        response = requests.post(
            f"{sink.http_url}/v1/traces", data=big.SerializeToString(), headers=PROTOBUF
        )
        # OTLP/HTTP: 400 is not retried (503 would be, forever); no Retry-After.
        assert response.status_code == 400
        assert "Retry-After" not in response.headers
        assert "can never be stored" in status_pb2.Status.FromString(response.content).message
        with grpc.insecure_channel(sink.grpc_endpoint) as channel:
            call = channel.unary_unary(EXPORT, request_serializer=None, response_deserializer=None)
            with pytest.raises(grpc.RpcError) as info:
                call(big.SerializeToString(), timeout=5)
        assert info.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert len(sink.store) == 0


def test_wait_answer_says_whether_the_condition_held(sink: Sink) -> None:
    trace_id = simple_trace(1)[0]
    cart = request([(trace_id, b"\x01" * 8, b"", "GetCart")], service="cart")
    assert (
        requests.post(
            f"{sink.http_url}/v1/traces", data=cart.SerializeToString(), headers=PROTOBUF
        ).status_code
        == 200
    )
    url = f"{sink.http_url}/api/traces/{trace_id.hex()}"
    met = requests.get(url, params={"wait": "5", "services": "cart"}, timeout=10)
    assert met.status_code == 200 and met.headers["X-Tracebed-Wait"] == "met"
    partial = requests.get(url, params={"wait": "0.2", "services": "cart,nosuch"}, timeout=10)
    assert partial.status_code == 200 and partial.headers["X-Tracebed-Wait"] == "timeout"
    missing = requests.get(
        f"{sink.http_url}/api/traces/{'ab' * 16}", params={"wait": "0.1"}, timeout=10
    )
    assert missing.status_code == 404 and missing.headers["X-Tracebed-Wait"] == "timeout"
    plain = requests.get(url, timeout=10)
    assert plain.status_code == 200 and "X-Tracebed-Wait" not in plain.headers


@pytest.mark.parametrize("bad", ["xyz", "ab" * 15, "ab" * 17, "g" * 32])
def test_malformed_trace_id_is_400(sink: Sink, bad: str) -> None:
    response = requests.get(f"{sink.http_url}/api/traces/{bad}", timeout=10)
    assert response.status_code == 400
    assert "32 hex characters" in response.json()["error"]
