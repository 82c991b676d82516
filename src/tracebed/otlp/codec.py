"""Bodies of OTLP requests: protobuf or OTLP/JSON, optionally gzip-compressed.

OTLP/JSON differs from protobuf's canonical JSON mapping in one way that matters here: trace
and span ids are hex, not base64. They are rewritten before protobuf's own JSON parser runs.
"""

from __future__ import annotations

import base64
import binascii
import json
import zlib
from typing import Any, TypeVar

from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message

from tracebed.errors import SinkError

M = TypeVar("M", bound=Message)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
SUPPORTED_TYPES = (PROTOBUF, JSON)

_ID_KEYS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


class BadPayload(SinkError, ValueError):
    """The body cannot be decoded (HTTP 400 / gRPC INVALID_ARGUMENT)."""


class PayloadTooLarge(SinkError, ValueError):
    """The (decompressed) body is over the size limit (HTTP 413)."""


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()


def gunzip(body: bytes, limit: int) -> bytes:
    """Decompress, refusing to inflate past `limit` bytes (a small bomb stays small)."""
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise BadPayload(f"body is not valid gzip: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise PayloadTooLarge(f"decompressed body is over the limit of {limit} bytes")
    if not inflater.eof:
        raise BadPayload("gzip body is truncated")
    return out


def _hex_to_b64(value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        # Not hex: keep something that decodes to a 1-byte id, so the span (or log record,
        # whose ids may be empty) is rejected as malformed (partial success) rather than
        # failing the whole request or passing as "no id".
        return base64.b64encode(b"\xff").decode("ascii")
    return base64.b64encode(raw).decode("ascii")


# AnyValues and their key-value lists have no id keys: not walked (most of a document).
_NO_IDS = frozenset({"attributes", "filteredAttributes", "filtered_attributes", "body"})


def _rewrite_ids(node: Any, convert: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: (
                v
                if k in _NO_IDS
                else convert(v)
                if k in _ID_KEYS and isinstance(v, str)
                else _rewrite_ids(v, convert)
            )
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_ids(v, convert) for v in node]
    return node


def parse(body: bytes, content_type: str, message: M) -> M:
    """Fill `message` from a protobuf or OTLP/JSON body; raises BadPayload."""
    kind = media_type(content_type)
    if kind == PROTOBUF:
        try:
            message.ParseFromString(body)
        except DecodeError as exc:
            raise BadPayload(f"body is not a valid {message.DESCRIPTOR.name}: {exc}") from None
        return message
    if kind == JSON:
        try:
            document = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise BadPayload(f"body is not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise BadPayload("OTLP/JSON body must be a JSON object")
        try:
            json_format.ParseDict(
                _rewrite_ids(document, _hex_to_b64), message, ignore_unknown_fields=True
            )
        except json_format.ParseError as exc:
            raise BadPayload(
                f"body is not a valid OTLP/JSON {message.DESCRIPTOR.name}: {exc}"
            ) from None
        return message
    raise ValueError(f"unsupported content type {content_type!r}")


def _b64_to_hex(value: str) -> str:
    try:
        return base64.b64decode(value).hex()
    except (binascii.Error, ValueError):
        return value


def to_otlp_json(message: Message) -> dict[str, Any]:
    """A message as an OTLP/JSON document (hex ids, enums as integers, int64 as strings)."""
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    return dict(_rewrite_ids(document, _b64_to_hex))


def serialize(message: Message, content_type: str) -> bytes:
    if media_type(content_type) == JSON:
        return json.dumps(to_otlp_json(message)).encode()
    return message.SerializeToString()
