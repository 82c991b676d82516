"""quote: the demo's PHP quote service (``POST /getquote`` answering a bare JSON number)."""

from __future__ import annotations

import json
import random
import sys
from typing import Any

from opentelemetry import trace

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env_port
from tracebed.reference.common.http import Reply, TracedHTTPServer
from tracebed.reference.services._runner import setup_logging


class QuoteCalculator:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.Random()
        self.tracer = trace.get_tracer("quote")

    def calculate(self, body: Any) -> float:
        """8.99 (3.0.0) or 40.0-100.0 (2.0.2) per item, rounded to cents; 0 (and a recorded exception) without a count."""
        quote = 0.0
        with self.tracer.start_as_current_span(
            "calculate-quote", record_exception=False, set_status_on_exception=False
        ) as span:
            span.add_event("Calculating quote")
            try:
                if not isinstance(body, dict) or "numberOfItems" not in body:
                    raise ValueError("numberOfItems not provided")
                count = int(body["numberOfItems"])
                # 3.0.0 charges a fixed 8.99 per item; 2.0.2 a random 40.0-100.0
                per_item = 8.99 if versions.is_v3() else self.rng.randint(400, 1000) / 10
                quote = round(per_item * count, 2)
                span.set_attribute("app.quote.items.count", count)
                span.set_attribute("app.quote.cost.total", quote)
                span.add_event("Quote calculated, returning its value")
                telemetry.count("quotes", number_of_items=count)
            except (ValueError, TypeError) as exc:
                span.record_exception(exc)
        return quote

    def handle(self, body: Any, server_span: trace.Span) -> Reply:
        server_span.add_event("Received get quote request, processing it")
        quote = self.calculate(body)
        telemetry.log("calculated", total=quote)
        server_span.add_event(
            "Quote processed, response sent back", {"app.quote.cost.total": quote}
        )
        return Reply(200, json.dumps(quote).encode())


def main() -> int:
    log = setup_logging("quote")
    try:
        telemetry.setup("quote")
        port = env_port("QUOTE_PORT")
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    calc = QuoteCalculator()
    server = TracedHTTPServer({("POST", "/getquote"): calc.handle}, port, tracer_name="quote")
    log.info("quote listening on port %d", server.port)
    server.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
