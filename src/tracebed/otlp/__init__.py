"""OTLP receivers (gRPC and HTTP, protobuf and JSON) feeding the span store, and the sink."""

from tracebed.otlp.sink import Sink

__all__ = ["Sink"]
