"""The demo's tiers as ../shared/reference/seed-service-flow.md groups them.

The seed names six groups in start order and a few dependencies of its own. It is the
project's declared intent; the compose files' `depends_on` graph is what Compose obeys.
The topology reports where the two disagree.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tracebed.stack.errors import TopologyError, yaml_error

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


def load_grouping(path: str | Path) -> list[tuple[str, list[str]]]:
    """A grouping from YAML: `groups: [{name: ..., services: [...]}, ...]` in start order.

    Lets a fork of the demo declare its own tiers (fixtures/seed-tiers.yaml is the seed's).
    """
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text())
    except FileNotFoundError:
        raise TopologyError(f"grouping file not found: {p}") from None
    except yaml.YAMLError as exc:
        raise TopologyError(yaml_error(p, exc)) from None
    groups = data.get("groups") if isinstance(data, dict) else None
    if not isinstance(groups, list) or not groups:
        raise TopologyError(f"{p}: expected 'groups: [{{name, services}}, ...]'")
    extra = sorted(set(data) - {"groups"})
    if extra:
        raise TopologyError(f"{p}: {extra[0]}: unknown key (expected groups)")
    out: list[tuple[str, list[str]]] = []
    seen: dict[str, str] = {}
    for i, group in enumerate(groups):
        extra = sorted(set(group) - {"name", "services"}) if isinstance(group, dict) else []
        if extra:
            raise TopologyError(
                f"{p}: groups[{i}].{extra[0]}: unknown key (expected name, services)"
            )
        if not isinstance(group, dict) or not isinstance(group.get("services"), list):
            raise TopologyError(f"{p}: groups[{i}] needs a 'name' and a 'services' list")
        name = str(group.get("name") or f"group-{i}")
        for svc in group["services"]:
            if str(svc) in seen:
                raise TopologyError(
                    f"{p}: service {svc!r} is in group {seen[str(svc)]!r} and {name!r}"
                )
            seen[str(svc)] = name
        out.append((name, [str(svc) for svc in group["services"]]))
    return out
