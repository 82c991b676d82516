"""The OTLP wire: receivers (gRPC, HTTP; protobuf, JSON, gzip) feeding the store, the sink and its
query API; the codecs (`codec` bodies, `decode`/`encode` protobuf, `otlp_json` documents and
files) and `SinkClient`, the query API as a `TraceSource`."""

from tracebed.otlp.sink import Sink

__all__ = ["Sink"]
