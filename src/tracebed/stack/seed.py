"""The demo's tiers as ../shared/reference/seed-service-flow.md groups them.

The seed names six groups in start order and a few dependencies of its own. It is the
project's declared intent; the compose files' `depends_on` graph is what Compose obeys.
The topology reports where the two disagree.
"""

from __future__ import annotations

# Group name -> services, in the order the seed starts them.
SEED_GROUPS: list[tuple[str, list[str]]] = [
    (
        "infrastructure",
        ["opensearch", "jaeger", "prometheus", "grafana", "otel-collector", "kafka", "valkey-cart"],
    ),
    ("feature-flags", ["flagd", "flagd-ui"]),
    (
        "core-backends",
        [
            "currency",
            "quote",
            "product-catalog",
            "ad",
            "image-provider",
            "recommendation",
            "cart",
            "payment",
            "email",
            "fraud-detection",
            "accounting",
            "shipping",
        ],
    ),
    ("orchestration", ["checkout"]),
    ("frontend", ["frontend", "frontend-proxy"]),
    ("load-testing", ["load-generator"]),
]

# The dependencies the seed itself lists (its "Dependencies"/"Depends on" columns).
SEED_DEPENDS_ON: dict[str, list[str]] = {
    "recommendation": ["product-catalog"],
    "cart": ["valkey-cart"],
    "fraud-detection": ["kafka"],
    "accounting": ["kafka"],
    "shipping": ["quote"],
    "checkout": [
        "cart",
        "payment",
        "currency",
        "shipping",
        "email",
        "product-catalog",
        "kafka",
        "flagd",
    ],
    "frontend": [
        "ad",
        "cart",
        "checkout",
        "currency",
        "product-catalog",
        "shipping",
        "image-provider",
        "recommendation",
        "quote",
    ],
    "frontend-proxy": ["frontend", "jaeger", "grafana", "load-generator", "flagd-ui"],
    "load-generator": ["frontend"],
}


def seed_group_of() -> dict[str, tuple[int, str]]:
    """service -> (group index, group name)."""
    return {svc: (i, name) for i, (name, svcs) in enumerate(SEED_GROUPS) for svc in svcs}
