"""Which demo release the stand-in impersonates, and what differs between releases.

One table per difference, keyed by release, so services ask "what is the name at this
release" instead of branching on the version string. The processes read the release from
``TRACEBED_DEMO_VERSION`` (``build_spec`` sets it for every service it starts).
"""

from __future__ import annotations

import os

from tracebed.reference.common.config import EnvError

V2 = "2.0.2"
V3 = "3.0.0"
#: Releases the stand-in can impersonate, newest first.
VERSIONS: tuple[str, ...] = (V3, V2)
#: The release impersonated when nothing says otherwise (the demo's current release).
DEFAULT = V3
#: The environment variable every stand-in process reads.
ENV = "TRACEBED_DEMO_VERSION"


def check(version: str) -> str:
    """``version`` if the stand-in knows it; one clear error otherwise."""
    if version not in VERSIONS:
        raise EnvError(f"unknown demo version {version!r}; known: {', '.join(VERSIONS)}")
    return version


def current() -> str:
    """The release this process impersonates (``TRACEBED_DEMO_VERSION``, else DEFAULT)."""
    return check(os.environ.get(ENV) or DEFAULT)


def is_v3() -> bool:
    return current() == V3


#: Span and event attribute keys renamed by the release (demo-facts-3.0 §5.4), applied
#: where spans leave the process (``common.renames``). ``None`` = the release dropped it.
#: Keys new at a release (``enduser.id``, ``user_agent.synthetic.type``) are set by the
#: services themselves, since no 2.0.2 key corresponds to them.
ATTRIBUTE_RENAMES: dict[str, dict[str, str | None]] = {
    V2: {},
    V3: {
        # ad
        "app.ads.contextKeys": "demo.ad.context_keys",
        "app.ads.contextKeys.count": "demo.ad.context_keys.count",
        "app.ads.count": "demo.ad.count",
        "app.ads.ad_request_type": "demo.ad.request_type",
        "app.ads.ad_response_type": "demo.ad.response_type",
        "app.ads.category": "demo.ad.category",
        # cart, checkout
        "app.user.id": "user.id",
        "app.product.id": "demo.product.id",
        "app.product.quantity": "demo.product.quantity",
        "app.product.name": "demo.product.name",
        "app.cart.items.count": "demo.cart.items.count",
        "app.user.currency": "demo.user_context.selected_currency",
        "app.order.id": "demo.order.id",
        "app.order.amount": "demo.order.amount",
        "app.order.items.count": "demo.order.items.count",
        "app.shipping.amount": "demo.shipping.amount",
        "app.shipping.tracking.id": "demo.shipping.tracking.id",
        "app.payment.transaction.id": "demo.payment.transaction.id",
        # currency
        "app.currency.conversion.from": "demo.exchange.from",
        "app.currency.conversion.to": "demo.exchange.to",
        # email
        "app.email.recipient": None,
        # payment
        "app.payment.amount": "demo.payment.amount",
        "app.payment.card_type": "demo.payment.card_type",
        "app.payment.card_valid": "demo.payment.card_valid",
        "app.payment.charged": "demo.payment.charged",
        "app.loyalty.level": "demo.user_context.loyalty_level",
        # product-catalog, recommendation
        "app.products.count": "demo.product.count",
        "app.products_search.count": "demo.product.search.count",
        "app.products_recommended.count": "demo.product.recommended.count",
        "app.recommendation.cache_enabled": "demo.feature_flag.recommendation_cache",
        "app.cache_hit": "demo.recommendation.cache_hit",
        "app.filtered_products.count": "demo.product.filtered.count",
        "app.filtered_products.list": "demo.product.filtered.list",
        # quote
        "app.quote.items.count": "demo.shipping.quote.items_count",
        "app.quote.cost.total": "demo.shipping.quote.cost.total",
        # shipping (its 3.0.0 HTTP server sets only this one)
        "app.shipping.cost.total": "demo.shipping.cost.total",
        # frontend-web
        "app.synthetic_request": "demo.synthetic_request",
    },
}

#: Services exporting OTLP over http/protobuf (port 4318); the rest use gRPC (4317).
#: At 2.0.2 the stand-in's services all export over gRPC, as they always have here.
OTLP_HTTP_SERVICES: dict[str, frozenset[str]] = {
    V2: frozenset(),
    V3: frozenset(
        {
            "accounting",
            "ad",
            "checkout",
            "email",
            "flagd",
            "flagd-ui",
            "fraud-detection",
            "load-generator",
            "quote",
            "shipping",
        }
    ),
}

#: The Kafka topic's environment variable (3.0.0 reads ``KAFKA_TOPIC``; 2.0.2 hard-codes it).
KAFKA_TOPIC_DEFAULT = "orders"


def kafka_topic() -> str:
    if current() == V2:
        return KAFKA_TOPIC_DEFAULT
    return os.environ.get("KAFKA_TOPIC") or KAFKA_TOPIC_DEFAULT


def synthetic(baggage_value: object) -> bool:
    """Baggage ``synthetic_request=true`` (k6 traffic at 3.0.0)."""
    return str(baggage_value).lower() == "true"
