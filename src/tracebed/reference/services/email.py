"""email: the demo's Ruby/Sinatra service (``POST /send_order_confirmation``)."""

from __future__ import annotations

import sys
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from tracebed.reference import versions
from tracebed.reference.common import telemetry
from tracebed.reference.common.config import EnvError, env_port
from tracebed.reference.common.flags import Flags
from tracebed.reference.common.http import Reply, TracedHTTPServer
from tracebed.reference.services._runner import setup_logging

SENDER = "noreply@example.com"


class NoMethodError(Exception):
    """What Ruby raises when the OpenStruct-parsed body lacks a key the template reads."""


def _get(obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise NoMethodError(f"undefined method `{key}' for nil:NilClass")
    return obj.get(key)


#: Mails kept by the emailMemoryLeak flag are capped, so a long run cannot exhaust memory.
LEAK_CAP_BYTES = 64 * 1024 * 1024


class EmailService:
    def __init__(self, flags: Flags | None = None) -> None:
        self.tracer = trace.get_tracer("email")
        self.flags = flags
        self.kept: list[str] = []
        self._kept_bytes = 0

    def handle(self, body: Any, server_span: trace.Span) -> Reply:
        order = _get(body, "order")
        server_span.set_attribute("app.order.id", str(_get(order, "order_id") or ""))
        email = _get(body, "email")
        # The confirmation counter and log are 3.0.0's (email exported traces only at
        # 2.0.2): no-ops unless the release's signal table has them.
        telemetry.count("confirmations")
        with self.tracer.start_as_current_span("send_email") as span:
            body = self._render(order)
            span.set_attribute("app.email.recipient", str(email or ""))  # dropped at 3.0.0
            if versions.is_v3():
                span.set_attribute("app.order.id", str(_get(order, "order_id") or ""))
                self._leak(body)
            telemetry.log("confirmation_sent", order_id=str(_get(order, "order_id") or ""))
        return Reply(200, b"", content_type="text/html;charset=utf-8")

    def _leak(self, body: str) -> None:
        """emailMemoryLeak (3.0.0): pad the mail by length x (m-1) and keep it when m >= 1."""
        if self.flags is None:
            return
        m = self.flags.integer("emailMemoryLeak", 0)
        if m < 1:
            return
        mail = body + " " * (len(body) * (m - 1))
        if self._kept_bytes + len(mail) <= LEAK_CAP_BYTES:
            self.kept.append(mail)
            self._kept_bytes += len(mail)

    def _render(self, order: Any) -> str:
        """Render the confirmation; missing ``items`` (checkout's omitempty) raises like ERB."""
        with self.tracer.start_as_current_span(
            "sinatra.render_template", attributes={"sinatra.template_name": "confirmation"}
        ):
            lines = [f"Order {_get(order, 'order_id')} confirmed, from {SENDER}"]
            cost = _get(order, "shipping_cost") or {}
            lines.append(
                f"Shipping: {cost.get('units')}.{cost.get('nanos')} {cost.get('currency_code')}"
            )
            address = _get(order, "shipping_address") or {}
            lines.append(f"Ship to: {address.get('city')}, {address.get('country')}")
            items = _get(order, "items")
            if items is None:
                raise NoMethodError("undefined method `each' for nil:NilClass")
            for entry in items:
                item = _get(entry, "item") or {}
                lines.append(f"{item.get('quantity')} x {item.get('product_id')}")
            return "\n".join(lines)


def _handle_errors(service: EmailService) -> Any:
    def handler(body: Any, span: trace.Span) -> Reply:
        try:
            return service.handle(body, span)
        except NoMethodError as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            return Reply(500, b"<h1>Internal Server Error</h1>", content_type="text/html")

    return handler


def main() -> int:
    log = setup_logging("email")
    try:
        telemetry.setup("email")
        port = env_port("EMAIL_PORT")
    except EnvError as exc:
        log.error("%s", exc)
        return 2
    routes = {("POST", "/send_order_confirmation"): _handle_errors(EmailService(Flags.from_env()))}
    server = TracedHTTPServer(routes, port, tracer_name="email", old_semconv=True)
    log.info("email listening on port %d", server.port)
    server.serve_until_signal()
    return 0


if __name__ == "__main__":
    sys.exit(main())
