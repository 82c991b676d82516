"""The OTLP wire: receivers (gRPC, HTTP; protobuf, JSON, gzip) of traces, logs and metrics
feeding the store, the sink and its query API (`query_api` for logs and metrics, `jaeger` for
Jaeger's); the codecs (`codec` bodies, `decode`/`encode` spans, `signals` logs and metrics,
`otlp_json` / `signals_json` documents and files) and `SinkClient`, the query API as a source."""

from tracebed.otlp.sink import Sink

__all__ = ["Sink"]
