"""The task mix: the demo's weights, and clear errors for bad mixes."""

from __future__ import annotations

import inspect

import pytest

from tracebed.flows.client import ShopClient
from tracebed.flows.tasks import ALL_TASKS, TASK_WEIGHTS, task_mix


def test_demo_weights() -> None:
    assert dict(TASK_WEIGHTS) == {
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
    assert sum(TASK_WEIGHTS.values()) == 29
    assert task_mix("2.2.0")["get_product_reviews"] == 2


def test_every_task_is_a_client_method() -> None:
    for name in ALL_TASKS:
        method = getattr(ShopClient, name)
        # Every parameter has a default: the load generator calls each task with none.
        params = list(inspect.signature(method).parameters.values())[1:]
        assert all(p.default is not inspect.Parameter.empty for p in params), name


def test_mix_specs() -> None:
    assert task_mix("checkout=2, index=1") == {"checkout": 2, "index": 1}
    assert task_mix({"checkout": 1, "index": 0}) == {"checkout": 1}
    with pytest.raises(ValueError, match="unknown task"):
        task_mix("checkuot=1")
    with pytest.raises(ValueError, match="name=weight"):
        task_mix("1.9.9")
    with pytest.raises(ValueError, match="at least one"):
        task_mix({"index": 0})
