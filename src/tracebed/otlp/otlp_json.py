"""Spans as OTLP/JSON (an `ExportTraceServiceRequest`) documents and files.

Writing goes through the protobuf messages (`tracebed.otlp.encode`) and protobuf's JSON mapping
with OTLP/JSON's rules: lowerCamelCase keys, trace and span ids as hex, enums as integers, 64-bit
integers as decimal strings, spans grouped by resource and then by scope.
Reading walks the dicts rather than using protobuf's parser, to be lenient where real producers
differ (ids in base64 as protobuf's own JSON mapping writes them, enums by name, integers as
numbers, snake_case keys, pre-1.0 names) and strict everywhere else: anything that is not a
trace export gets an `OtlpJsonError` that says where and why (protobuf's errors name no place).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from tracebed.errors import SinkError
from tracebed.model.span import (
    Attributes,
    AttrValue,
    Event,
    Link,
    Scope,
    Span,
    SpanKind,
    Status,
    StatusCode,
)
from tracebed.model.trace import Trace
from tracebed.otlp.codec import to_otlp_json
from tracebed.otlp.encode import spans_to_request

JsonDict = dict[str, Any]


class OtlpJsonError(SinkError, ValueError):
    """The document is not a valid OTLP/JSON trace export; the message names the place."""


# -- writing --------------------------------------------------------------------------


def trace_to_otlp_json(trace: Trace | Iterable[Span]) -> JsonDict:
    """A trace (or any spans) as an `ExportTraceServiceRequest` dict, ready for `json.dumps`.

    Built as protobuf messages and written by protobuf's JSON mapping, so it is valid for the
    schema by construction; only the ids are turned from base64 into OTLP/JSON's hex.
    """
    return to_otlp_json(spans_to_request(trace))


def write_otlp_json(
    path: str | Path, trace: Trace | Iterable[Span], *, indent: int | None = 1
) -> Path:
    path = Path(path)
    path.write_text(json.dumps(trace_to_otlp_json(trace), indent=indent) + "\n", encoding="utf-8")
    return path


# -- reading --------------------------------------------------------------------------


def _get(obj: Mapping[str, Any], camel: str, snake: str | None = None, default: Any = None) -> Any:
    if camel in obj:
        return obj[camel]
    if snake is not None and snake in obj:
        return obj[snake]
    return default


def _as_dict(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise OtlpJsonError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _as_list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpJsonError(f"{where}: expected an array, got {type(value).__name__}")
    return value


def _decode_id(value: Any, size: int, where: str, *, required: bool) -> str:
    """Hex as OTLP/JSON says; base64 as protobuf's JSON mapping writes. Empty/zero -> ''."""
    if value in (None, ""):
        if required:
            raise OtlpJsonError(f"{where}: missing")
        return ""
    if not isinstance(value, str):
        raise OtlpJsonError(f"{where}: expected a hex string, got {type(value).__name__}")
    raw: bytes | None = None
    if len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = None
    if raw is None:
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raw = None
    if raw is None or len(raw) != size:
        raise OtlpJsonError(f"{where}: {value!r} is not a {size}-byte id in hex (or base64)")
    if not any(raw):
        if required:
            raise OtlpJsonError(f"{where}: all-zero id is invalid")
        return ""
    return raw.hex()


def _decode_int(value: Any, where: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise OtlpJsonError(f"{where}: expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            pass
    raise OtlpJsonError(f"{where}: expected an integer (or a decimal string), got {value!r}")


def _decode_double(value: Any, where: str) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)  # also "NaN", "Infinity", "-Infinity"
        except ValueError:
            pass
    raise OtlpJsonError(f"{where}: expected a number, got {value!r}")


def decode_value(value: Any, where: str = "value") -> AttrValue:
    """An OTLP/JSON `AnyValue` as a Python value (as the protobuf decoder makes them)."""
    obj = _as_dict(value, where)
    if not obj:
        return None
    if len(obj) != 1:
        raise OtlpJsonError(f"{where}: an AnyValue holds exactly one field, got {sorted(obj)}")
    ((field, inner),) = obj.items()
    if field in ("stringValue", "string_value"):
        if not isinstance(inner, str):
            raise OtlpJsonError(f"{where}.stringValue: expected a string, got {inner!r}")
        return inner
    if field in ("boolValue", "bool_value"):
        if not isinstance(inner, bool):
            raise OtlpJsonError(f"{where}.boolValue: expected true/false, got {inner!r}")
        return inner
    if field in ("intValue", "int_value"):
        return _decode_int(inner, f"{where}.intValue")
    if field in ("doubleValue", "double_value"):
        return _decode_double(inner, f"{where}.doubleValue")
    if field in ("bytesValue", "bytes_value"):
        try:
            return base64.b64decode(inner, validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise OtlpJsonError(f"{where}.bytesValue: not base64: {inner!r}") from None
    if field in ("arrayValue", "array_value"):
        values = _as_list(_get(_as_dict(inner, where), "values"), f"{where}.arrayValue.values")
        return [decode_value(v, f"{where}.arrayValue.values[{i}]") for i, v in enumerate(values)]
    if field in ("kvlistValue", "kvlist_value"):
        values = _as_list(_get(_as_dict(inner, where), "values"), f"{where}.kvlistValue.values")
        return decode_attributes(values, f"{where}.kvlistValue.values")
    raise OtlpJsonError(f"{where}: unknown AnyValue field {field!r}")


def decode_attributes(pairs: Any, where: str = "attributes") -> dict[str, AttrValue]:
    out: dict[str, AttrValue] = {}
    for i, pair in enumerate(_as_list(pairs, where)):
        pair = _as_dict(pair, f"{where}[{i}]")
        key = pair.get("key")
        if not isinstance(key, str):
            raise OtlpJsonError(f"{where}[{i}].key: expected a string, got {key!r}")
        out[key] = decode_value(pair.get("value", {}), f"{where}[{i}] ({key})")
    return out


def _decode_enum(value: Any, parse: Any, where: str) -> Any:
    if value is None:
        return parse(0)
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise OtlpJsonError(f"{where}: expected an integer or a name, got {value!r}")
    try:
        return parse(value)
    except ValueError as exc:
        raise OtlpJsonError(f"{where}: {exc}") from None


def span_from_otlp_json(
    obj: Any, resource: Attributes | None = None, scope: Scope | None = None, where: str = "span"
) -> Span:
    """One OTLP/JSON span dict as a `Span` (resource and scope come from its enclosing groups)."""
    obj = _as_dict(obj, where)
    status = _as_dict(_get(obj, "status", default={}) or {}, f"{where}.status")
    name = _get(obj, "name", default="")
    if not isinstance(name, str):
        raise OtlpJsonError(f"{where}.name: expected a string, got {name!r}")
    message = status.get("message", "")
    if not isinstance(message, str):
        raise OtlpJsonError(f"{where}.status.message: expected a string, got {message!r}")
    events = []
    for i, event in enumerate(_as_list(_get(obj, "events"), f"{where}.events")):
        event = _as_dict(event, f"{where}.events[{i}]")
        events.append(
            Event(
                name=str(event.get("name", "")),
                time_ns=_decode_int(
                    _get(event, "timeUnixNano", "time_unix_nano"),
                    f"{where}.events[{i}].timeUnixNano",
                ),
                attributes=decode_attributes(
                    event.get("attributes"), f"{where}.events[{i}].attributes"
                ),
            )
        )
    links = []
    for i, link in enumerate(_as_list(_get(obj, "links"), f"{where}.links")):
        link = _as_dict(link, f"{where}.links[{i}]")
        links.append(
            Link(
                trace_id=_decode_id(
                    _get(link, "traceId", "trace_id"),
                    16,
                    f"{where}.links[{i}].traceId",
                    required=True,
                ),
                span_id=_decode_id(
                    _get(link, "spanId", "span_id"), 8, f"{where}.links[{i}].spanId", required=True
                ),
                attributes=decode_attributes(
                    link.get("attributes"), f"{where}.links[{i}].attributes"
                ),
            )
        )
    return Span(
        trace_id=_decode_id(
            _get(obj, "traceId", "trace_id"), 16, f"{where}.traceId", required=True
        ),
        span_id=_decode_id(_get(obj, "spanId", "span_id"), 8, f"{where}.spanId", required=True),
        parent_span_id=_decode_id(
            _get(obj, "parentSpanId", "parent_span_id"), 8, f"{where}.parentSpanId", required=False
        ),
        name=name,
        kind=_decode_enum(obj.get("kind"), SpanKind.parse, f"{where}.kind"),
        start_ns=_decode_int(
            _get(obj, "startTimeUnixNano", "start_time_unix_nano"), f"{where}.startTimeUnixNano"
        ),
        end_ns=_decode_int(
            _get(obj, "endTimeUnixNano", "end_time_unix_nano"), f"{where}.endTimeUnixNano"
        ),
        status=Status(
            _decode_enum(status.get("code"), StatusCode.parse, f"{where}.status.code"), message
        ),
        attributes=decode_attributes(obj.get("attributes"), f"{where}.attributes"),
        events=tuple(events),
        links=tuple(links),
        resource=dict(resource or {}),
        scope=scope or Scope(),
    )


def iter_spans_from_otlp_json(document: Any) -> Iterator[Span]:
    doc = _as_dict(document, "document")
    groups = _get(doc, "resourceSpans", "resource_spans")
    if groups is None:
        raise OtlpJsonError(
            "document: no 'resourceSpans' key; expected an OTLP/JSON ExportTraceServiceRequest "
            f"(got keys {sorted(doc)[:8]})"
        )
    for r, group in enumerate(_as_list(groups, "resourceSpans")):
        where = f"resourceSpans[{r}]"
        group = _as_dict(group, where)
        resource_obj = _as_dict(group.get("resource") or {}, f"{where}.resource")
        resource = decode_attributes(resource_obj.get("attributes"), f"{where}.resource.attributes")
        scope_groups = _get(group, "scopeSpans", "scope_spans")
        if scope_groups is None:  # pre-1.0 OTLP called them instrumentationLibrarySpans
            scope_groups = group.get("instrumentationLibrarySpans")
        for s, scope_group in enumerate(_as_list(scope_groups, f"{where}.scopeSpans")):
            swhere = f"{where}.scopeSpans[{s}]"
            scope_group = _as_dict(scope_group, swhere)
            scope_obj = _as_dict(
                scope_group.get("scope") or scope_group.get("instrumentationLibrary") or {},
                f"{swhere}.scope",
            )
            scope = Scope(str(scope_obj.get("name", "")), str(scope_obj.get("version", "")))
            for i, span in enumerate(_as_list(scope_group.get("spans"), f"{swhere}.spans")):
                yield span_from_otlp_json(span, resource, scope, f"{swhere}.spans[{i}]")


def spans_from_otlp_json(document: Any) -> list[Span]:
    """Every span of an `ExportTraceServiceRequest` dict; raises `OtlpJsonError` on bad input."""
    return list(iter_spans_from_otlp_json(document))


def traces_from_spans(spans: Iterable[Span]) -> list[Trace]:
    """Group spans by trace id, in order of first appearance."""
    by_trace: dict[str, list[Span]] = {}
    for span in spans:
        by_trace.setdefault(span.trace_id, []).append(span)
    return [Trace(trace_id, group) for trace_id, group in by_trace.items()]


def read_otlp_json(path: str | Path) -> list[Span]:
    """Spans from a file holding one OTLP/JSON export, or JSON Lines of them (the
    collector's file exporter writes one export per line)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise OtlpJsonError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return spans_from_otlp_json(json.loads(text))
    except json.JSONDecodeError as whole_error:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) < 2:
            raise OtlpJsonError(f"{path}: not JSON: {whole_error}") from None
    except OtlpJsonError as exc:
        raise OtlpJsonError(f"{path}: {exc}") from None
    spans: list[Span] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            spans.extend(spans_from_otlp_json(json.loads(line)))
        except json.JSONDecodeError as exc:
            raise OtlpJsonError(f"{path}:{number}: not JSON: {exc}") from None
        except OtlpJsonError as exc:
            raise OtlpJsonError(f"{path}:{number}: {exc}") from None
    return spans
