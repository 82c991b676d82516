"""Failure text beyond the bare tree: what was asked, what came back, and what the trace shows."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Collection, Mapping
from typing import Any

from tracebed.model.trace import Trace

BODY_HEAD_CHARS = 600


def body_head(body: Any, limit: int = BODY_HEAD_CHARS) -> str:
    """The start of a response body, readable: JSON pretty-printed, bytes decoded or as hex."""
    if body is None:
        return "(no body)"
    if isinstance(body, bytes | bytearray):
        raw = bytes(body)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = f"<{len(raw)} bytes> " + raw[: limit // 2].hex()
    elif isinstance(body, str):
        text = body
    else:
        text = json.dumps(body, indent=1, ensure_ascii=False, default=str)
    if isinstance(body, str | bytes | bytearray):
        stripped = text.strip()
        if stripped.startswith(("[", "{")):
            with contextlib.suppress(ValueError):  # not JSON after all: show it as text
                text = json.dumps(json.loads(stripped), indent=1, ensure_ascii=False)
    if not text:
        return "(empty body)"
    if len(text) > limit:
        return text[:limit] + f"… ({len(text) - limit} more characters)"
    return text


def trace_summary(trace: Trace) -> str:
    """One line: spans, services, duration, errors."""
    if not len(trace):
        return f"trace {trace.trace_id}: no spans received"
    errors = len(trace.errors)
    return (
        f"trace {trace.trace_id}: {len(trace)} spans, {len(trace.services)} services, "
        f"{trace.duration * 1000:.1f} ms, {errors} error{'s' if errors != 1 else ''}"
    )


def format_exchange(
    method: str,
    url: str,
    status_code: int | None,
    body: Any = None,
    *,
    request_body: Any = None,
    headers: Mapping[str, str] | None = None,
    trace: Trace | None = None,
    trace_id: str = "",
    marks: Collection[str] = (),
    limit: int = BODY_HEAD_CHARS,
) -> str:
    """A request/response and its trace, as a failure message shows it.

    `marks` are span ids to flag with `>>` in the tree (e.g. the spans an assertion rejected).
    """
    lines = [f"request:  {method.upper()} {url}"]
    if trace_id or trace is not None:
        lines.append(f"trace id: {trace_id or (trace.trace_id if trace is not None else '')}")
    if request_body is not None:
        lines.append("request body:")
        lines.append(_indent(body_head(request_body, limit)))
    status = "no response" if status_code is None else str(status_code)
    lines.append(f"response: {status}")
    for key, value in (headers or {}).items():
        lines.append(f"  {key}: {value}")
    if status_code is not None:
        lines.append(_indent(body_head(body, limit)))
    if trace is not None:
        lines.append(trace.render(marks=marks))  # its first line summarises the trace
    return "\n".join(lines)


def _indent(text: str, prefix: str = "  ") -> str:
    return "\n".join(prefix + line for line in text.splitlines())
