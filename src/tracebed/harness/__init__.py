"""tracebed.harness: the composition root — one `Harness` owns the sink, topology, backend,
stack, flag switch and stack metadata of a run, for the pytest fixtures and the CLI alike.

It imports stack, otlp, flows and refstack; only `plugin` and `cli` import it.
"""

from tracebed.harness.core import (
    DemoStack,
    Harness,
    HarnessOptions,
    SinkMode,
    StackKind,
    joins_the_sink,
)
from tracebed.harness.records import RecordedStack, stacks_on_record
from tracebed.harness.sink import SinkHandle, SinkStartError, start_sink

__all__ = [
    "DemoStack",
    "Harness",
    "HarnessOptions",
    "RecordedStack",
    "SinkHandle",
    "SinkMode",
    "SinkStartError",
    "StackKind",
    "joins_the_sink",
    "stacks_on_record",
    "start_sink",
]
