"""ad: targeted and random ads, request/response types, adFailure."""

from __future__ import annotations

from pathlib import Path

import grpc

from tracebed.model.span import SpanKind, StatusCode
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc

from .conftest import Backends, FlagService, has, new_traceparent, one

NAME = "oteldemo.AdService/GetAds"


def test_unknown_keys_fall_back_to_two_random_ads(backends: Backends) -> None:
    stub = backends.stub("ad", demo_pb2_grpc.AdServiceStub)
    trace_id, md = new_traceparent()
    md.append(("baggage", "session.id=abc-123"))
    ads = stub.GetAds(demo_pb2.AdRequest(context_keys=["galaxy", "telescope"]), metadata=md).ads
    assert len(ads) == 2 and all("/product/" in a.redirect_url for a in ads)
    trace = backends.wait_trace(trace_id, has(NAME, "getRandomAds"))
    span = one(trace, NAME)
    assert span.kind is SpanKind.SERVER and span.service == "ad"
    assert span.attributes["app.ads.count"] == 2
    assert span.attributes["app.ads.contextKeys"] == "[galaxy, telescope]"
    assert span.attributes["app.ads.contextKeys.count"] == 2
    assert span.attributes["app.ads.ad_request_type"] == "TARGETED"
    assert span.attributes["app.ads.ad_response_type"] == "RANDOM"
    assert span.attributes["session.id"] == "abc-123"
    assert len(trace.named("getAdsByCategory")) == 2
    assert one(trace, "getRandomAds").attributes["app.ads.count"] == 2


def test_targeted_and_untargeted_requests(backends: Backends) -> None:
    stub = backends.stub("ad", demo_pb2_grpc.AdServiceStub)
    trace_id, md = new_traceparent()
    ads = stub.GetAds(demo_pb2.AdRequest(context_keys=["accessories"]), metadata=md).ads
    assert sorted(a.redirect_url for a in ads) == [
        "/product/0PUK6V6EV0",
        "/product/6E92ZMYYFZ",
        "/product/L9ECAV7KIM",
    ]
    span = one(backends.wait_trace(trace_id, has(NAME, "getAdsByCategory")), NAME)
    assert span.attributes["app.ads.ad_response_type"] == "TARGETED"
    trace_id, md = new_traceparent()
    assert len(stub.GetAds(demo_pb2.AdRequest(), metadata=md).ads) == 2
    span = one(backends.wait_trace(trace_id, has(NAME)), NAME)
    assert span.attributes["app.ads.ad_request_type"] == "NOT_TARGETED"
    assert span.attributes["app.ads.ad_response_type"] == "RANDOM"


def test_ad_failure_flag_fails_about_one_in_ten(backends: Backends, flags: FlagService) -> None:
    stub = backends.stub("ad", demo_pb2_grpc.AdServiceStub)
    flags.set("adFailure", "on")
    failures: list[str] = []
    calls = 0
    # Call until one failure (at least 20 calls): P(none in 400) ~ 5e-19.
    while calls < 400 and (calls < 20 or not failures):
        calls += 1
        trace_id, md = new_traceparent()
        try:
            stub.GetAds(demo_pb2.AdRequest(context_keys=["books"]), metadata=md)
        except grpc.RpcError as err:
            assert err.code() is grpc.StatusCode.UNAVAILABLE
            assert err.details() in ("", None)
            failures.append(trace_id)
    assert failures and len(failures) < calls  # some fail, most succeed (1 in 10)
    span = one(backends.wait_trace(failures[0], has(NAME)), NAME)
    assert span.status.code is StatusCode.ERROR
    assert span.attributes["rpc.grpc.status_code"] == 14
    assert any(e.name == "Error" for e in span.events)


def _threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise AssertionError("no Threads: line")


def test_ad_high_cpu_flag_starts_and_stops_busy_threads(
    backends: Backends, flags: FlagService
) -> None:
    stub = backends.stub("ad", demo_pb2_grpc.AdServiceStub)
    proc = backends.procs["ad"]
    assert proc.popen is not None
    pid = proc.popen.pid
    stub.GetAds(demo_pb2.AdRequest())
    before = _threads(pid)
    flags.set("adHighCpu", "on")
    stub.GetAds(demo_pb2.AdRequest())
    assert _threads(pid) >= before + 4
    flags.set("adHighCpu", "off")
    stub.GetAds(demo_pb2.AdRequest())
    proc.wait_until(lambda: _threads(pid) <= before, timeout=10)
