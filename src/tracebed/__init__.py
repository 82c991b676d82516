"""tracebed: trace-based integration testing of the OpenTelemetry Demo, inside pytest."""

from tracebed.errors import (
    ConfigError,
    ExpectationFailed,
    FlowError,
    QuerySyntaxError,
    SinkError,
    StackError,
    TracebedError,
    TraceTimeout,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "ExpectationFailed",
    "FlowError",
    "QuerySyntaxError",
    "SinkError",
    "StackError",
    "TraceTimeout",
    "TracebedError",
    "__version__",
]
