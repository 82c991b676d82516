"""Shop flows: the demo load generator's tasks as calls with a trace id of our choosing.

Names are loaded lazily so that `python -m tracebed.flows.locust_runner` can let Locust
monkey-patch the process with gevent before `requests` is imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tracebed.flows.chain import CHECKOUT_SERVICES, ChainCheck, EdgeLatency
    from tracebed.flows.client import ShopClient
    from tracebed.flows.context import TraceContext
    from tracebed.flows.load import LoadRunError, LoadSummary, run_load
    from tracebed.flows.result import FlowResult, FlowRun, NoSinkError
    from tracebed.flows.tasks import TASK_WEIGHTS

_EXPORTS = {
    "CHECKOUT_SERVICES": "chain",
    "ChainCheck": "chain",
    "EdgeLatency": "chain",
    "ShopClient": "client",
    "TraceContext": "context",
    "LoadRunError": "load",
    "LoadSummary": "load",
    "run_load": "load",
    "FlowResult": "result",
    "FlowRun": "result",
    "NoSinkError": "result",
    "TASK_WEIGHTS": "tasks",
}

__all__ = [
    "CHECKOUT_SERVICES",
    "ChainCheck",
    "EdgeLatency",
    "FlowResult",
    "FlowRun",
    "LoadRunError",
    "LoadSummary",
    "NoSinkError",
    "ShopClient",
    "TASK_WEIGHTS",
    "TraceContext",
    "run_load",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tracebed.flows' has no attribute {name!r}")
    return getattr(importlib.import_module(f"tracebed.flows.{module}"), name)
