"""Where observed traces come from: OTLP/JSON files, or a running sink's query API."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tracebed.errors import SinkError
from tracebed.model import Trace


class TraceSourceError(SinkError, ValueError):
    """Traces could not be read; the message names the file or URL."""


def traces_from_files(paths: Iterable[Path]) -> list[Trace]:
    """Every trace in OTLP/JSON files (a file may hold several traces; ids are merged)."""
    from tracebed.report.otlp_json import OtlpJsonError, spans_from_otlp_json, traces_from_spans

    spans = []
    for path in paths:
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
        except OSError as exc:
            raise TraceSourceError(f"{path}: cannot read: {exc.strerror or exc}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise TraceSourceError(f"{path}: not JSON: {exc}") from None
        try:
            spans += spans_from_otlp_json(document)
        except OtlpJsonError as exc:
            raise TraceSourceError(f"{path}: {exc}") from None
    return traces_from_spans(spans)


def traces_from_sink(base_url: str, limit: int = 200, timeout: float = 10.0) -> list[Trace]:
    """The most recent `limit` traces held by a sink (`GET /api/traces`, then each trace)."""
    import requests

    from tracebed.report.otlp_json import OtlpJsonError, spans_from_otlp_json

    base = base_url.rstrip("/")
    if not base.startswith(("http://", "https://")):
        raise TraceSourceError(f"sink URL must be http(s)://host:port, got {base_url!r}")
    session = requests.Session()
    try:
        listing = session.get(f"{base}/api/traces", timeout=timeout)
        listing.raise_for_status()
        ids = [t["trace_id"] for t in listing.json().get("traces", [])][-limit:]
        traces = []
        for trace_id in ids:
            response = session.get(f"{base}/api/traces/{trace_id}", timeout=timeout)
            if response.status_code == 404:
                continue  # evicted between the listing and now
            response.raise_for_status()
            traces.append(Trace(trace_id, spans_from_otlp_json(response.json())))
    except requests.RequestException as exc:
        raise TraceSourceError(f"sink at {base}: {exc}") from None
    except (ValueError, KeyError, OtlpJsonError) as exc:
        raise TraceSourceError(f"sink at {base} answered something unexpected: {exc}") from None
    return traces
