"""The demo load generator's HTTP task mix: task name -> weight, per demo version.

The tasks themselves are flows of the one flow registry (`tracebed.flows.registry`).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# Each release's table (2.0.2 = 2.1.3 = 3.0.0's nine tasks; 2.2.0 adds the review tasks), held
# once in tracebed.demo_data, shared with the reference stack's load generator.
from tracebed.demo_data import TASK_WEIGHTS_2_0_2 as TASK_WEIGHTS_2_0_2
from tracebed.demo_data import TASK_WEIGHTS_2_2_0 as TASK_WEIGHTS_2_2_0
from tracebed.flows.registry import FLOWS

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
