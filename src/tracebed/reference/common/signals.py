"""The metrics and log records each stand-in service emits, in one table per demo release.

Service code names what it emits by a stable key (``count("transactions", currency="USD")``,
``log("order_placed", order_id=...)``); the table says what that key is on the wire at the
active release: the metric's name, instrument, unit, meter and attribute names, or the log
record's body, severity, attribute names and whether it carries the span context. A key that
the release's table lacks emits nothing, so a release that has no such metric or log (email
at 2.0.2) needs no branch in the service code.

``TABLES`` is keyed by demo release: 2.0.2 (demo-facts §5, and demo-facts-3.0 §6.2 for the
log inventory, with the 2.0.2 attribute names of §5.4) and 3.0.0, derived from 2.0.2's by
what changed (demo-facts-3.0 §5.4 and §6: the same keys with their ``demo.*`` names, units
and EventNames, and the metrics and logs it added or removed). The tables give the final
wire names: the span renaming of ``common.renames`` does not touch metrics or logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeVar

from tracebed.reference import versions

Instrument = Literal["counter", "histogram"]
Severity = Literal["DEBUG", "INFO", "WARN", "ERROR"]

#: The release the stand-in reproduces when nothing says otherwise.
DEFAULT_RELEASE = versions.DEFAULT


@dataclass(frozen=True)
class Metric:
    name: str
    instrument: Instrument
    unit: str = ""
    description: str = ""
    #: instrumentation scope (meter) name; "" means the service name
    meter: str = ""
    #: meter version: an environment variable's name (currency's ``VERSION``), or ""
    meter_version_env: str = ""
    #: stable field -> attribute name on the wire
    attributes: dict[str, str] = field(default_factory=dict)
    #: explicit bucket boundaries (histograms), as the demo's view or advice sets them
    buckets: tuple[float, ...] = ()
    #: factor from the value the service code passes to the recorded value (cart passes
    #: nanoseconds; 3.0.0 records seconds)
    scale: float = 1.0


@dataclass(frozen=True)
class Log:
    #: the body; ``{field}`` placeholders are filled when ``formatted`` (else sent verbatim,
    #: as .NET's ILogger sends its message template)
    body: str
    severity: Severity = "INFO"
    #: stable field -> attribute name on the wire
    attributes: dict[str, str] = field(default_factory=dict)
    #: logger (instrumentation scope) name; "" means the service name
    scope: str = ""
    formatted: bool = True
    #: False where the demo logs without a context (Go's plain ``logger.Info``)
    span_context: bool = True
    #: the OTLP ``event_name`` (none at 2.0.2: the demo's EventNames are new at 3.0.0)
    event_name: str = ""


@dataclass(frozen=True)
class ServiceSignals:
    #: which of "traces", "metrics", "logs" the stand-in's service emits
    emits: frozenset[str]
    metrics: dict[str, Metric] = field(default_factory=dict)
    logs: dict[str, Log] = field(default_factory=dict)
    #: what the demo's service emits that the stand-in leaves out, and why
    left_out: tuple[str, ...] = ()


_T, _M, _L = "traces", "metrics", "logs"
_OTELGRPC = "go.opentelemetry.io/contrib/instrumentation/google.golang.org/grpc/otelgrpc"
_RUNTIME = "the SDK's runtime/library metrics of another language ({})"
#: otelgrpc's server attributes (stable field -> wire name).
_RPC_ATTRS = {
    "system": "rpc.system",
    "service": "rpc.service",
    "method": "rpc.method",
    "status_code": "rpc.grpc.status_code",
}
#: otelgrpc's server metric: the only metric of the Go services' SDK the stand-in reproduces.
_RPC_SERVER_DURATION = Metric(
    "rpc.server.duration", "histogram", unit="ms", meter=_OTELGRPC, attributes=_RPC_ATTRS
)

# The demo 2.0.2's signals per service. Sources: demo-facts §5 (metric names, instruments,
# attributes), demo-facts-3.0 §6 (the log inventory; it marks as new at 3.0.0 only the
# EventNames and the email and load-generator logs) and §5.4 (the 2.0.2 attribute names).
RELEASE_2_0_2: dict[str, ServiceSignals] = {
    "ad": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            "ad_requests": Metric(
                "app.ads.ad_requests",
                "counter",
                attributes={
                    "request_type": "app.ads.ad_request_type",
                    "response_type": "app.ads.ad_response_type",
                },
            ),
        },
        logs={
            "targeted": Log("Targeted ad request received for {context_keys}"),
        },
        left_out=(
            _RUNTIME.format("the Java agent's JVM and gRPC metrics"),
            "the GC/CPU flag and failure log lines (their text is not in the facts)",
        ),
    ),
    "cart": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            # 2.0.2 records Stopwatch ticks (ns on Linux), with these buckets (demo-facts §5.2)
            "add_item_latency": Metric(
                "app.cart.add_item.latency",
                "histogram",
                buckets=tuple(float(b) for b in range(500_000, 1_100_001, 100_000)),
            ),
            "get_cart_latency": Metric(
                "app.cart.get_cart.latency",
                "histogram",
                buckets=tuple(float(b) for b in range(300_000, 900_001, 100_000)),
            ),
        },
        logs={
            # ILogger sends the message template as the body and the values as attributes
            "add_item": Log(
                "AddItemAsync called with userId={userId}, productId={productId}, "
                "quantity={quantity}",
                attributes={"user_id": "userId", "product_id": "productId", "quantity": "quantity"},
                formatted=False,
            ),
            "get_cart": Log(
                "GetCartAsync called with userId={userId}",
                attributes={"user_id": "userId"},
                formatted=False,
            ),
            "empty_cart": Log(
                "EmptyCartAsync called with userId={userId}",
                attributes={"user_id": "userId"},
                formatted=False,
            ),
        },
        left_out=(_RUNTIME.format(".NET process/runtime, ASP.NET Core and OpenFeature meters"),),
    ),
    "checkout": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={"rpc_server_duration": _RPC_SERVER_DURATION},
        logs={
            "place_order": Log(
                "[PlaceOrder]",
                attributes={"user_id": "user_id", "user_currency": "user_currency"},
            ),
            "payment_went_through": Log(
                "payment went through", attributes={"transaction_id": "transaction_id"}
            ),
            "order_placed": Log(
                "order placed",
                attributes={
                    "order_id": "app.order.id",
                    "shipping_amount": "app.shipping.amount",
                    "order_amount": "app.order.amount",
                    "items_count": "app.order.items.count",
                    "tracking_id": "app.shipping.tracking.id",
                },
            ),
            # a plain logger.Info: no context
            "post_processor": Log("sending to postProcessor", span_context=False),
        },
        left_out=(
            _RUNTIME.format("Go runtime, otelgrpc client and otelhttp metrics"),
            "the email-sent/failed and Kafka write-result log lines (their text is not in "
            "the facts) and sarama's internal ones",
        ),
    ),
    "currency": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            "conversions": Metric(
                "app.currency_counter",
                "counter",
                meter="app.currency",
                meter_version_env="VERSION",
                attributes={"currency_code": "currency_code"},
            ),
        },
        logs={
            "supported": Log("GetSupportedCurrencies successful"),
            "converted": Log("conversion successful"),
            "conversion_failed": Log("conversion failure", severity="ERROR"),
        },
    ),
    # 2.0.2's email exports traces only (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; demo-facts-3.0
    # §5.1): its confirmation log and counter are new at 3.0.0.
    "email": ServiceSignals(frozenset({_T})),
    "payment": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            "transactions": Metric(
                "app.payment.transactions",
                "counter",
                attributes={"currency": "app.payment.currency"},
            ),
        },
        logs={
            "charge_received": Log("Charge request received.", scope="payment-logger"),
            "transaction_complete": Log(
                "Transaction complete.",
                scope="payment-logger",
                attributes={
                    "transaction_id": "transactionId",
                    "card_type": "cardType",
                    "last_four": "lastFourDigits",
                    "amount": "amount",
                    "loyalty_level": "loyalty_level",
                },
            ),
        },
        left_out=(_RUNTIME.format("Node runtime metrics"), "the warn record of a failed charge"),
    ),
    "product-catalog": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={"rpc_server_duration": _RPC_SERVER_DURATION},
        logs={
            "product_found": Log(
                "Product Found",
                attributes={"name": "app.product.name", "id": "app.product.id"},
            ),
        },
        left_out=(
            _RUNTIME.format("Go runtime metrics"),
            "start-up and shutdown log lines",
        ),
    ),
    "quote": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            # no unit at 2.0.2 (demo-facts-3.0 §6.1: the unit is new)
            "quotes": Metric(
                "quotes",
                "counter",
                meter="quotes",
                attributes={"number_of_items": "number_of_items"},
            ),
        },
        logs={"calculated": Log("Calculated quote", attributes={"total": "total"})},
        left_out=("the PHP SDK's internal metrics",),
    ),
    "recommendation": ServiceSignals(
        frozenset({_T, _M, _L}),
        metrics={
            "recommendations": Metric(
                "app_recommendations_counter",
                "counter",
                unit="recommendations",
                description="Counts the total number of given recommendations",
                attributes={"type": "recommendation.type"},
            ),
        },
        logs={
            "received": Log("Receive ListRecommendations for product ids:{product_ids}"),
            "cache_miss": Log("get_product_list: cache miss"),
            "cache_hit": Log("get_product_list: cache hit"),
        },
        left_out=("the logging handler's code.* and otel* attributes",),
    ),
    "shipping": ServiceSignals(
        frozenset({_T}),
        left_out=(
            "2.0.2's Rust shipping has no custom metric (app.shipping.items_count is 2.1.3's) "
            "and its tonic/tracing library telemetry is not reproduced",
        ),
    ),
    "accounting": ServiceSignals(
        frozenset({_T, _L}),
        logs={
            "order_details": Log(
                "Order details: {@OrderResult}.",
                attributes={"order": "OrderResult"},
                formatted=False,
            ),
        },
        left_out=(_RUNTIME.format(".NET auto-instrumentation runtime and Kafka client metrics"),),
    ),
    "fraud-detection": ServiceSignals(
        frozenset({_T, _L}),
        logs={
            "consumed": Log(
                "Consumed record with orderId: {order_id}, and updated total count to: {total}"
            ),
            "queue_problems": Log("FeatureFlag 'kafkaQueueProblems' is enabled, sleeping 1 second"),
        },
        left_out=(_RUNTIME.format("the Java agent's JVM and Kafka client metrics"),),
    ),
    # The Next.js server has no OTLP logs (demo-facts-3.0 §13.2).
    "frontend": ServiceSignals(
        frozenset({_T, _M}),
        metrics={
            "requests": Metric(
                "app.frontend.requests",
                "counter",
                attributes={"method": "method", "target": "target", "status": "status"},
            ),
        },
        left_out=(_RUNTIME.format("Node http/undici/grpc instrumentation metrics"),),
    ),
}


#: 3.0.0's cart latency buckets (seconds; demo-facts-3.0 §6.1).
_CART_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10)
_UNVERIFIED_BODY = "the text of {} is not in the facts"

# The demo 3.0.0's signals, as what changed since 2.0.2 (demo-facts-3.0 §5.4's metric rows,
# §6.1 metrics, §6.2 logs, §13.2 the service/signal matrix). One row per metric or log:
# the fields that changed (``dataclasses.replace``), a whole ``Metric``/``Log`` for one new
# at 3.0.0, or ``None`` for one 3.0.0 removed. A row not named here is 2.0.2's, with its
# attribute names renamed by ``V3_ATTRIBUTE_RENAMES``.

#: Wire attribute names 3.0.0 renamed: the span attributes' map (§5.4), which the logs share,
#: and the metric attributes §5.4's metric rows rename beyond it.
V3_ATTRIBUTE_RENAMES: dict[str, str | None] = {
    **versions.ATTRIBUTE_RENAMES[versions.V3],
    "app.payment.currency": "demo.payment.currency",
    "currency_code": "demo.exchange.to",
}

V3_METRICS: dict[tuple[str, str], dict[str, Any] | Metric | None] = {
    # no unit in the code (the schema's {ad_request} is not applied)
    ("ad", "ad_requests"): {"name": "demo.ad.requests"},
    # seconds instead of Stopwatch ticks: the code passes ns, the metric records s
    ("cart", "add_item_latency"): {
        "name": "demo.cart.add_item.latency",
        "unit": "s",
        "buckets": _CART_BUCKETS_S,
        "scale": 1e-9,
    },
    ("cart", "get_cart_latency"): {
        "name": "demo.cart.get_cart.latency",
        "unit": "s",
        "buckets": _CART_BUCKETS_S,
        "scale": 1e-9,
    },
    # no unit; the meter version is VERSION (3.0.0); the code appends _counter to the name
    ("currency", "conversions"): {
        "name": "demo.exchange.conversions_counter",
        "meter": "demo.exchange.conversions",
    },
    ("email", "confirmations"): Metric("demo.notification.confirmations", "counter", unit="1"),
    ("payment", "transactions"): {"name": "demo.payment.transactions", "unit": "{transaction}"},
    ("quote", "quotes"): {"unit": "quotes", "description": "number of quotes calculated"},
    ("recommendation", "recommendations"): {
        "name": "demo.recommendation.requests",
        "description": "",
    },
    # no unit, no attributes; + the item count per successful quote
    ("shipping", "items_shipped"): Metric(
        "demo.shipping.items_shipped", "counter", meter="otel_demo.shipping.quote"
    ),
    ("frontend", "requests"): None,
}

V3_LOGS: dict[tuple[str, str], dict[str, Any] | Log | None] = {
    ("cart", "add_item"): {"event_name": "cart.add_item"},
    ("cart", "get_cart"): {"event_name": "cart.get"},
    ("cart", "empty_cart"): {"event_name": "cart.empty"},
    ("currency", "supported"): {"event_name": "currency.get_supported_currencies"},
    ("currency", "converted"): {
        "attributes": {"from_code": "currency.from", "to_code": "currency.to"},
        "event_name": "currency.conversion",
    },
    ("currency", "conversion_failed"): {"event_name": "currency.conversion_failed"},
    ("email", "confirmation_sent"): Log(
        "Order confirmation email sent",
        attributes={"order_id": "demo.order.id"},
        event_name="email.confirmation_sent",
    ),
    # tracing events: the body is the message, the event's name the EventName
    ("shipping", "quote_sent"): Log(
        "Sending Quote",
        attributes={"dollars": "dollars", "cents": "cents"},
        event_name="shipping.quote.sent",
    ),
    ("shipping", "international_slowdown"): Log(
        "International shipping slowdown",
        attributes={"delay_secs": "delay_secs"},
        event_name="shipping.international.slowdown",
    ),
    ("shipping", "tracking_id_created"): Log(
        "Tracking ID Created",
        attributes={"tracking_id": "tracking_id"},
        event_name="shipping.tracking_id.created",
    ),
    ("accounting", "order_details"): {"event_name": "accounting.order.received"},
    ("accounting", "duplicate_skipped"): Log(
        "Order {OrderId} was already saved; skipping the duplicate",
        severity="WARN",
        attributes={"order_id": "OrderId"},
        formatted=False,
        event_name="accounting.order.duplicate_skipped",
    ),
}

#: What the stand-in leaves out at 3.0.0, where it differs from 2.0.2's.
V3_LEFT_OUT: dict[str, tuple[str, ...]] = {
    "ad": (
        _RUNTIME.format("the Java agent's JVM and gRPC metrics"),
        "the Prometheus counter demo_ad_served_total on :9465 (the collector of a stack "
        "with Prometheus does not scrape it; demo-facts-3.0 §6.1)",
        "the GC/CPU flag and failure log lines (their text is not in the facts)",
    ),
    "cart": (
        _RUNTIME.format(".NET process/runtime, ASP.NET Core and OpenFeature meters"),
        "the cart.redis.* and cart.health_check.* records (their text is not in the facts)",
    ),
    "currency": ("the currency.server.started/ip_overwrite start-up records",),
    "email": (_RUNTIME.format("Sinatra/Rack metrics"),),
    "product-catalog": (
        _RUNTIME.format("Go runtime metrics"),
        "otelsql's db.client.operation.duration and db.sql.connection.* metrics",
        "the database-connection, products-found, start-up and shutdown log lines",
    ),
    "shipping": (
        "actix's http.server.* metrics",
        "the server-started, quote-requested and flag-evaluation records",
        _UNVERIFIED_BODY.format("the records (only their EventNames and fields are)"),
    ),
    "accounting": (
        _RUNTIME.format(".NET auto-instrumentation runtime and Kafka client metrics"),
        "the kafka.connecting, consume_failed, consumer.closing, parsing_failed records",
        _UNVERIFIED_BODY.format("the duplicate_skipped record"),
    ),
}


_Row = TypeVar("_Row", Metric, Log)


def _renamed(attrs: dict[str, str], renames: dict[str, str | None]) -> dict[str, str]:
    """``attrs`` with the release's wire names (a name it dropped is dropped)."""
    out = {key: renames.get(wire, wire) for key, wire in attrs.items()}
    return {key: wire for key, wire in out.items() if wire is not None}


def _derive(
    old: dict[str, _Row],
    service: str,
    changes: dict[tuple[str, str], dict[str, Any] | _Row | None],
    renames: dict[str, str | None],
) -> dict[str, _Row]:
    """``service``'s rows of one kind at the next release: 2.0.2's renamed, then ``changes``."""
    rows = {k: replace(r, attributes=_renamed(r.attributes, renames)) for k, r in old.items()}
    for (owner, key), change in changes.items():
        if owner != service:
            continue
        if change is None:
            del rows[key]
        elif isinstance(change, dict):
            rows[key] = replace(rows[key], **change)
        else:
            rows[key] = change
    return rows


def _next_release(
    base: dict[str, ServiceSignals],
    metrics: dict[tuple[str, str], dict[str, Any] | Metric | None],
    logs: dict[tuple[str, str], dict[str, Any] | Log | None],
    left_out: dict[str, tuple[str, ...]],
    renames: dict[str, str | None],
) -> dict[str, ServiceSignals]:
    table: dict[str, ServiceSignals] = {}
    for service, row in base.items():
        new_metrics = _derive(row.metrics, service, metrics, renames)
        new_logs = _derive(row.logs, service, logs, renames)
        # a service emits what it has rows for (as every 2.0.2 row does)
        emits = {_T} | ({_M} if new_metrics else set()) | ({_L} if new_logs else set())
        table[service] = ServiceSignals(
            frozenset(emits), new_metrics, new_logs, left_out.get(service, row.left_out)
        )
    return table


RELEASE_3_0_0: dict[str, ServiceSignals] = _next_release(
    RELEASE_2_0_2, V3_METRICS, V3_LOGS, V3_LEFT_OUT, V3_ATTRIBUTE_RENAMES
)

#: Every release's table, by release.
TABLES: dict[str, dict[str, ServiceSignals]] = {
    versions.V2: RELEASE_2_0_2,
    versions.V3: RELEASE_3_0_0,
}


def release() -> str:
    """The demo release the stand-in reproduces: ``service.version`` of the resource."""
    for item in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = item.partition("=")
        if key.strip() == "service.version" and value.strip() in TABLES:
            return value.strip()
    # a process started by hand: the release it impersonates (TRACEBED_DEMO_VERSION)
    return versions.current()


def for_service(service: str, release_name: str | None = None) -> ServiceSignals:
    """``service``'s row (a service with no row emits traces only)."""
    table = TABLES[release_name or release()]
    return table.get(service, ServiceSignals(frozenset({_T})))


def attributes(mapping: dict[str, str], fields: dict[str, Any]) -> dict[str, Any]:
    """The wire attributes for ``fields`` (fields the table does not name are dropped)."""
    return {wire: fields[key] for key, wire in mapping.items() if key in fields}
