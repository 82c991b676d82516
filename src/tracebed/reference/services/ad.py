"""ad: the demo's Java AdService (targeted ads by category, random fallback, ad flags)."""

from __future__ import annotations

import gc
import random
import sys
import threading
from collections.abc import Sequence

import grpc
from opentelemetry import baggage, trace

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.grpc_server import Registration
from tracebed.reference.common.rpc_tracing import RpcError, Style
from tracebed.reference.proto import demo_pb2, demo_pb2_grpc
from tracebed.reference.services._runner import run_grpc

MAX_ADS_TO_SERVE = 2


def _ad(product_id: str, text: str) -> demo_pb2.Ad:
    return demo_pb2.Ad(redirect_url=f"/product/{product_id}", text=text)


# Category -> ads. "books" (and any other key) deliberately has none, so that the
# random fallback is exercised, as in the demo.
ADS: dict[str, list[demo_pb2.Ad]] = {
    "binoculars": [_ad("2ZYFJ3GM2N", "Roof Binoculars: half price this week.")],
    "telescopes": [_ad("66VCHSJNUP", "Starsense Explorer: 20% off.")],
    "accessories": [
        _ad("0PUK6V6EV0", "Solar System Color Imager: 30% off."),
        _ad("6E92ZMYYFZ", "Solar Filter: buy two, the third is on us."),
        _ad("L9ECAV7KIM", "Lens Cleaning Kit: second kit free."),
    ],
    "assembly": [_ad("9SIQT8TOJO", "Optical Tube Assembly: 10% off.")],
    "travel": [_ad("1YMWWN1N4O", "Eclipsmart Travel Refractor: second kit free.")],
}
ALL_ADS = [ad for ads in ADS.values() for ad in ads]


def java_list_string(items: Sequence[str]) -> str:
    """How Java's List.toString renders the keys, e.g. ``[galaxy, telescope]``."""
    return "[" + ", ".join(items) + "]"


class CpuBurner:
    """The adHighCpu effect: busy threads while the flag is on (one per core, at most 4)."""

    def __init__(self, threads: int = 4) -> None:
        self.threads = threads
        self._stop: threading.Event | None = None

    def set(self, on: bool) -> None:
        if on and self._stop is None:
            self._stop = threading.Event()
            for _ in range(self.threads):
                threading.Thread(target=self._burn, args=(self._stop,), daemon=True).start()
        elif not on and self._stop is not None:
            self._stop.set()
            self._stop = None

    @staticmethod
    def _burn(stop: threading.Event) -> None:
        x = 0
        while not stop.is_set():
            for _ in range(10000):
                x = (x * 31 + 7) % 1000003


class AdService(demo_pb2_grpc.AdServiceServicer):
    def __init__(self, flags: Flags, rng: random.Random | None = None) -> None:
        self.flags = flags
        self.rng = rng or random.Random()
        self.tracer = trace.get_tracer("ad")
        self.cpu = CpuBurner()

    def GetAds(
        self, request: demo_pb2.AdRequest, context: grpc.ServicerContext
    ) -> demo_pb2.AdResponse:
        span = trace.get_current_span()
        flag_ctx: dict[str, str] = {}
        session_id = baggage.get_baggage("session.id")
        if baggage.get_all():
            span.set_attribute("session.id", str(session_id or ""))
            if session_id:
                flag_ctx = {"targetingKey": str(session_id), "session": str(session_id)}
            user = baggage.get_baggage("enduser.id")
            if user and versions.is_v3():
                span.set_attribute("enduser.id", str(user))  # new at 3.0.0
        self.cpu.set(self.flags.boolean("adHighCpu", False, context=flag_ctx))
        keys = list(request.context_keys)
        span.set_attribute("app.ads.contextKeys", java_list_string(keys))
        span.set_attribute("app.ads.contextKeys.count", len(keys))
        ads: list[demo_pb2.Ad] = []
        if keys:
            telemetry.log("targeted", context_keys=java_list_string(keys))
            for key in keys:
                ads.extend(self._by_category(key))
            request_type = response_type = "TARGETED"
        else:
            ads = self._random_ads()
            request_type, response_type = "NOT_TARGETED", "RANDOM"
        if not ads:
            ads = self._random_ads()
            response_type = "RANDOM"
        span.set_attribute("app.ads.count", len(ads))
        span.set_attribute("app.ads.ad_request_type", request_type)
        span.set_attribute("app.ads.ad_response_type", response_type)
        telemetry.count("ad_requests", request_type=request_type, response_type=response_type)
        if self.flags.boolean("adFailure", False, context=flag_ctx) and self.rng.randrange(10) == 0:
            span.add_event("Error", {"exception.message": "UNAVAILABLE"})
            span.set_status(trace.Status(trace.StatusCode.ERROR))
            raise RpcError(grpc.StatusCode.UNAVAILABLE, "")
        if self.flags.boolean("adManualGc", False, context=flag_ctx):
            gc.collect()
        return demo_pb2.AdResponse(ads=ads)

    def _by_category(self, category: str) -> list[demo_pb2.Ad]:
        with self.tracer.start_as_current_span(
            "getAdsByCategory", attributes={"app.ads.category": category}
        ) as span:
            ads = ADS.get(category, [])
            span.set_attribute("app.ads.count", len(ads))
            return list(ads)

    def _random_ads(self) -> list[demo_pb2.Ad]:
        with self.tracer.start_as_current_span("getRandomAds") as span:
            ads = [self.rng.choice(ALL_ADS) for _ in range(MAX_ADS_TO_SERVE)]
            span.set_attribute("app.ads.count", len(ads))
            return ads


def build() -> list[Registration]:
    service = AdService(Flags.from_env())
    return [lambda s: demo_pb2_grpc.add_AdServiceServicer_to_server(service, s)]


def main() -> int:
    return run_grpc("ad", Style.GO, "AD_PORT", build)


if __name__ == "__main__":
    sys.exit(main())
