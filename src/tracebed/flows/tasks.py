"""The demo load generator's HTTP task mix: task name -> weight, per demo version.

The tasks themselves are flows of the one flow registry (`tracebed.flows.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from tracebed.flows.registry import FLOWS

# locustfile.py at 2.0.2 (WebsiteUser); 2.1.3 keeps the same tasks and weights.
TASK_WEIGHTS_2_0_2: Mapping[str, int] = MappingProxyType(
    {
        "index": 1,
        "browse_product": 10,
        "get_recommendations": 3,
        "get_ads": 3,
        "view_cart": 3,
        "add_to_cart": 2,
        "checkout": 1,
        "checkout_multi": 1,
        "flood_home": 5,
    }
)

# 2.2.0 adds the product-review tasks (and the backing ProductReviewService).
TASK_WEIGHTS_2_2_0: Mapping[str, int] = MappingProxyType(
    {**TASK_WEIGHTS_2_0_2, "get_product_reviews": 2, "ask_product_ai_assistant": 1}
)

TASK_WEIGHTS = TASK_WEIGHTS_2_0_2

# The browser user's tasks (Playwright in the demo), replayed as their pages' HTTP calls; in no
# demo mix by default (the demo runs them as a separate user class), but usable in a custom one.
BROWSER_TASKS = frozenset(name for name, flow in FLOWS.items() if flow.kind == "browser")
ALL_TASKS = frozenset(name for name, flow in FLOWS.items() if flow.is_task)
TASK_MIXES: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {"2.0.2": TASK_WEIGHTS_2_0_2, "2.1.3": TASK_WEIGHTS_2_0_2, "2.2.0": TASK_WEIGHTS_2_2_0}
)

# Tasks whose main request is a checkout: their traces are verified for the full chain.
CHECKOUT_TASKS = frozenset({"checkout", "checkout_multi"})


def task_mix(spec: str | Mapping[str, int] | None) -> dict[str, int]:
    """A mix by demo version ("2.0.2"), by `name=weight,...`, or as a mapping; validated."""
    if spec is None:
        return dict(TASK_WEIGHTS)
    if isinstance(spec, str):
        if spec in TASK_MIXES:
            return dict(TASK_MIXES[spec])
        mix: dict[str, int] = {}
        for part in filter(None, (p.strip() for p in spec.split(","))):
            name, sep, weight = part.partition("=")
            if not sep or not weight.strip().isdigit():
                raise ValueError(
                    f"task mix {spec!r}: expected a demo version ({', '.join(TASK_MIXES)}) "
                    "or name=weight,... (e.g. browse_product=10,checkout=1)"
                )
            mix[name.strip()] = int(weight)
        spec = mix
    known = ALL_TASKS
    unknown = sorted(set(spec) - known)
    if unknown:
        raise ValueError(f"unknown task(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    if any(w < 0 for w in spec.values()) or not any(spec.values()):
        raise ValueError("task weights must be >= 0 with at least one > 0")
    return {name: weight for name, weight in spec.items() if weight > 0}
