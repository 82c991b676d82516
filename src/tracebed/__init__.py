"""tracebed: trace-based integration testing of the OpenTelemetry Demo, inside pytest."""

__version__ = "0.1.0"
