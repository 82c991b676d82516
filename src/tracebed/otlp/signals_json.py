"""OTLP/JSON files of any signal: traces, metrics and logs, as the collector's file exporter
writes them (one export per file, or JSON Lines of exports).

Traces go through the span reader; metrics and logs through protobuf's JSON parser into
`ExportMetricsServiceRequest` / `ExportLogsServiceRequest` (after the OTLP/JSON hex ids are
rewritten to the base64 protobuf's mapping expects), then into the model's `Metric` and `LogRecord`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)

from tracebed.errors import SinkError
from tracebed.model.logs import LogRecord
from tracebed.model.metrics import Metric
from tracebed.model.span import Span
from tracebed.otlp import codec

# The span reader is moving into otlp/; import it from wherever it lives in this tree.
from tracebed.otlp.otlp_json import OtlpJsonError, spans_from_otlp_json
from tracebed.otlp.signals import logs_from_request, logs_to_request, metrics_from_request


class SignalsJsonError(SinkError, ValueError):
    """A file that is not OTLP/JSON of traces, metrics or logs; the message names the file."""


@dataclass
class SignalFile:
    path: str
    spans: list[Span] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)

    @property
    def kinds(self) -> list[str]:
        return [k for k in ("spans", "metrics", "logs") if getattr(self, k)]


def parse_metrics_json(document: dict[str, Any]) -> ExportMetricsServiceRequest:
    """An OTLP/JSON metrics export as its protobuf message; raises `SignalsJsonError`."""
    return _parse(document, ExportMetricsServiceRequest())


def parse_logs_json(document: dict[str, Any]) -> ExportLogsServiceRequest:
    return _parse(document, ExportLogsServiceRequest())


def _parse(document: dict[str, Any], message: codec.M) -> codec.M:
    try:
        return codec.parse(json.dumps(document).encode(), codec.JSON, message)
    except codec.BadPayload as exc:
        raise SignalsJsonError(str(exc)) from None


def _documents(path: Path) -> Iterator[tuple[str, Any]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SignalsJsonError(
            f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    try:
        yield "document", json.loads(text)
        return
    except json.JSONDecodeError as whole_error:
        lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
        if len(lines) < 2:
            raise SignalsJsonError(f"{path}: not JSON: {whole_error}") from None
    for n, line in lines:
        try:
            yield f"line {n}", json.loads(line)
        except json.JSONDecodeError as exc:
            raise SignalsJsonError(f"{path}: line {n}: not JSON: {exc}") from None


def write_logs_json(
    path: str | Path, records: Iterable[LogRecord], *, indent: int | None = 1
) -> Path:
    """Log records as one OTLP/JSON `ExportLogsServiceRequest` file (`read_signals_json` reads
    it back)."""
    path = Path(path)
    document = codec.to_otlp_json(logs_to_request(records))
    path.write_text(json.dumps(document, indent=indent) + "\n", encoding="utf-8")
    return path


def read_signals_json(path: str | Path) -> SignalFile:
    """Every span, metric and log record of an OTLP/JSON file; raises `SignalsJsonError`."""
    path = Path(path)
    out = SignalFile(str(path))
    for where, document in _documents(path):
        if not isinstance(document, dict):
            raise SignalsJsonError(f"{path}: {where}: expected a JSON object")
        try:
            if "resourceSpans" in document or "resource_spans" in document:
                out.spans += spans_from_otlp_json(document)
            elif "resourceMetrics" in document or "resource_metrics" in document:
                out.metrics += metrics_from_request(parse_metrics_json(document))
            elif "resourceLogs" in document or "resource_logs" in document:
                out.logs += logs_from_request(parse_logs_json(document))
            else:
                raise SignalsJsonError(
                    "no 'resourceSpans', 'resourceMetrics' or 'resourceLogs' key "
                    f"(got keys {sorted(document)[:6]})"
                )
        except (SignalsJsonError, OtlpJsonError) as exc:
            raise SignalsJsonError(f"{path}: {where}: {exc}") from None
    return out


__all__ = [
    "SignalFile",
    "SignalsJsonError",
    "logs_from_request",
    "metrics_from_request",
    "parse_logs_json",
    "parse_metrics_json",
    "read_signals_json",
    "write_logs_json",
]
