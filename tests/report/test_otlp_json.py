"""OTLP/JSON: round trips, conformance against the real protobuf schema, and bad input."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind as OtelKind
from opentelemetry.trace import Status as OtelStatus
from opentelemetry.trace import StatusCode as OtelStatusCode

from tests.factories import make_span
from tests.report.factory import T0, checkout_trace, span_with_everything
from tracebed.model import Scope, SpanKind, StatusCode, Trace
from tracebed.otlp.otlp_json import (
    OtlpJsonError,
    read_otlp_json,
    spans_from_otlp_json,
    trace_to_otlp_json,
    traces_from_spans,
    write_otlp_json,
)

_ID_KEYS = {"traceId", "spanId", "parentSpanId"}


def _hex_ids_to_base64(node: Any) -> Any:
    """OTLP/JSON ids are hex; protobuf's own JSON parser wants base64 for bytes fields."""
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in _ID_KEYS
            else _hex_ids_to_base64(v)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids_to_base64(v) for v in node]
    return node


def test_checkout_trace_round_trips_through_json_text() -> None:
    trace = checkout_trace()
    text = json.dumps(trace_to_otlp_json(trace))
    back = spans_from_otlp_json(json.loads(text))
    assert sorted(back, key=lambda s: s.span_id) == sorted(trace, key=lambda s: s.span_id)
    rebuilt = Trace(trace.trace_id, back)
    assert rebuilt.edges == trace.edges
    assert [s.span_id for _, s in rebuilt.walk()] == [s.span_id for _, s in trace.walk()]


def test_every_field_and_value_type_round_trips() -> None:
    span = span_with_everything()
    (back,) = spans_from_otlp_json(json.loads(json.dumps(trace_to_otlp_json([span]))))
    assert back == span
    assert back.attributes["i"] == -(2**63) and back.attributes["big"] == 2**63 - 1
    assert back.attributes["bytes"] == b"\xff\x00"
    assert back.attributes["empty"] is None
    assert back.attributes["list"] == ["a", 1, [2.5, None]]


def test_written_json_follows_otlp_json_encoding_rules() -> None:
    span = span_with_everything()
    doc = trace_to_otlp_json([span])
    (group,) = doc["resourceSpans"]
    (scope_group,) = group["scopeSpans"]
    assert scope_group["scope"] == {"name": "go.opentelemetry.io/otel", "version": "1.34.0"}
    out = scope_group["spans"][0]
    assert out["traceId"] == "0af7651916cd43dd8448eb211c80319c"  # hex, not base64
    assert out["parentSpanId"] == "00f067aa0ba902b7"
    assert out["kind"] == 4  # enums as integers
    assert out["startTimeUnixNano"] == str(T0)  # 64-bit integers as strings
    assert out["status"] == {"code": 2, "message": "it broke"}
    values = {a["key"]: a["value"] for a in out["attributes"]}
    assert values["big"] == {"intValue": str(2**63 - 1)}
    assert values["d"] == {"doubleValue": 0.25}
    assert values["bytes"] == {"bytesValue": base64.b64encode(b"\xff\x00").decode()}
    assert values["empty"] == {}
    assert out["events"][0]["timeUnixNano"] == str(T0 + 10)


def test_written_json_is_a_valid_export_request_for_the_protobuf_schema() -> None:
    trace = checkout_trace()
    request = json_format.ParseDict(
        _hex_ids_to_base64(trace_to_otlp_json(trace)), ExportTraceServiceRequest()
    )  # raises on any field the schema does not have or a value of the wrong type
    pb_spans = [
        (rs.resource, ss.scope, span)
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    assert len(pb_spans) == len(trace)
    by_id = trace.by_id
    for resource, scope, pb in pb_spans:
        span = by_id[pb.span_id.hex()]
        assert pb.trace_id.hex() == trace.trace_id
        assert pb.parent_span_id.hex() == span.parent_span_id
        assert pb.kind == int(span.kind)
        assert (pb.start_time_unix_nano, pb.end_time_unix_nano) == (span.start_ns, span.end_ns)
        assert {kv.key: kv.value.string_value for kv in resource.attributes}["service.name"] == (
            span.service
        )
        assert scope.name == span.scope.name
    # one resource group per service (spans of one service share a resource)
    assert len(request.resource_spans) == len(trace.services)


def test_spans_grouped_by_resource_then_scope_in_first_seen_order() -> None:
    a1 = make_span("a", trace_id="1", name="a1", service="a", scope=Scope("s1"))
    b1 = make_span("b", trace_id="1", name="b1", service="b", scope=Scope("s1"))
    a2 = make_span("c", trace_id="1", name="a2", service="a", scope=Scope("s2"))
    a3 = make_span("d", trace_id="1", name="a3", service="a", scope=Scope("s1"))
    doc = trace_to_otlp_json([a1, b1, a2, a3])
    shape = [
        [(ss["scope"]["name"], [s["name"] for s in ss["spans"]]) for ss in rs["scopeSpans"]]
        for rs in doc["resourceSpans"]
    ]
    assert shape == [[("s1", ["a1", "a3"]), ("s2", ["a2"])], [("s1", ["b1"])]]


def test_reads_what_the_opentelemetry_sdk_exports() -> None:
    """Real producer: SDK spans -> the official OTLP encoder -> protobuf's JSON (base64 ids,
    enum names, camelCase) -> our reader."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "checkout"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.report", "9.9")
    with tracer.start_as_current_span("PlaceOrder", kind=OtelKind.SERVER) as root:
        root.set_attribute("app.order.items.count", 3)
        root.set_attribute("app.tags", ["x", "y"])
        with tracer.start_as_current_span("charge", kind=OtelKind.CLIENT) as child:
            child.add_event("retry", {"attempt": 2})
            child.set_status(OtelStatus(OtelStatusCode.ERROR, "declined"))
    provider.shutdown()
    sdk_spans = exporter.get_finished_spans()
    document = json_format.MessageToDict(encode_spans(sdk_spans))
    assert document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"].startswith(
        "SPAN_KIND_"
    )  # the protobuf mapping writes names: the reader must accept them

    spans = {s.name: s for s in spans_from_otlp_json(document)}
    for sdk in sdk_spans:
        ours = spans[sdk.name]
        assert ours.trace_id == f"{sdk.context.trace_id:032x}"
        assert ours.span_id == f"{sdk.context.span_id:016x}"
        assert ours.start_ns == sdk.start_time and ours.end_ns == sdk.end_time
        assert ours.service == "checkout"
        assert ours.scope == Scope("tests.report", "9.9")
    assert spans["PlaceOrder"].kind is SpanKind.SERVER and spans["PlaceOrder"].is_root
    assert spans["PlaceOrder"].attributes["app.order.items.count"] == 3
    assert spans["PlaceOrder"].attributes["app.tags"] == ["x", "y"]
    assert spans["charge"].parent_span_id == spans["PlaceOrder"].span_id
    assert spans["charge"].status.code is StatusCode.ERROR
    assert spans["charge"].status.message == "declined"
    assert spans["charge"].events[0].attributes == {"attempt": 2}


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"spans": []}, "no 'resourceSpans' key"),
        ([], "document: expected an object"),
        ({"resourceSpans": {}}, "resourceSpans: expected an array"),
        (
            {"resourceSpans": [{"scopeSpans": [{"spans": [{"spanId": "a" * 16}]}]}]},
            "resourceSpans[0].scopeSpans[0].spans[0].traceId: missing",
        ),
        (
            {
                "resourceSpans": [
                    {"scopeSpans": [{"spans": [{"traceId": "zz", "spanId": "a" * 16}]}]}
                ]
            },
            "is not a 16-byte id",
        ),
        (
            {
                "resourceSpans": [
                    {"scopeSpans": [{"spans": [{"traceId": "0" * 32, "spanId": "a" * 16}]}]}
                ]
            },
            "all-zero id",
        ),
    ],
)
def test_bad_documents_name_the_place(document: Any, message: str) -> None:
    with pytest.raises(OtlpJsonError) as info:
        spans_from_otlp_json(document)
    assert message in str(info.value)


def _doc_with(**span_fields: Any) -> dict[str, Any]:
    span = {"traceId": "1" * 32, "spanId": "2" * 16, "name": "x", **span_fields}
    return {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "SPAN_KIND_SIDEWAYS"}, "spans[0].kind: unknown span kind"),
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano: expected an integer"),
        ({"status": {"code": 7}}, "status.code"),
        (
            {"attributes": [{"key": "k", "value": {"intValue": "1", "stringValue": "1"}}]},
            "exactly one field",
        ),
        ({"attributes": [{"key": "k", "value": {"fooValue": 1}}]}, "unknown AnyValue field"),
        ({"attributes": [{"value": {"intValue": "1"}}]}, "attributes[0].key"),
    ],
)
def test_bad_span_fields_name_the_field(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(OtlpJsonError) as info:
        spans_from_otlp_json(_doc_with(**fields))
    assert message in str(info.value)


def test_lenient_forms_real_producers_use() -> None:
    (span,) = spans_from_otlp_json(
        _doc_with(
            kind="SPAN_KIND_CONSUMER",
            startTimeUnixNano=5,  # a number instead of a string
            endTimeUnixNano="9",
            parentSpanId="",
            status={"code": "STATUS_CODE_OK"},
            attributes=[
                {"key": "n", "value": {"intValue": 3}},
                {"key": "f", "value": {"doubleValue": "NaN"}},
            ],
        )
    )
    assert span.kind is SpanKind.CONSUMER and span.status.code is StatusCode.OK
    assert (span.start_ns, span.end_ns, span.parent_span_id) == (5, 9, "")
    assert span.attributes["n"] == 3 and span.attributes["f"] != span.attributes["f"]  # NaN


def test_write_unencodable_value_is_a_clear_error() -> None:
    span = make_span("2", trace_id="1", name="x", attributes={"when": object()})
    with pytest.raises(TypeError, match="cannot write object value"):
        trace_to_otlp_json([span])
    with pytest.raises(ValueError, match="does not fit in 64 bits"):
        trace_to_otlp_json([make_span("2", trace_id="1", name="x", attributes={"n": 2**64})])


def test_files_single_document_and_json_lines(tmp_path: Path) -> None:
    first, second = checkout_trace(), checkout_trace(trace_id="f" * 32, payment_error=True)
    path = write_otlp_json(tmp_path / "one.json", first)
    assert {s.span_id for s in read_otlp_json(path)} == set(first.by_id)

    lines = tmp_path / "export.jsonl"  # what the collector's file exporter writes
    lines.write_text(
        "\n".join(json.dumps(trace_to_otlp_json(t)) for t in (first, second)) + "\n",
        encoding="utf-8",
    )
    traces = traces_from_spans(read_otlp_json(lines))
    assert [(t.trace_id, len(t)) for t in traces] == [
        (first.trace_id, len(first)),
        (second.trace_id, len(second)),
    ]

    broken = tmp_path / "broken.jsonl"
    broken.write_text(lines.read_text().splitlines()[0] + "\n{nope\n", encoding="utf-8")
    with pytest.raises(OtlpJsonError, match=r"broken.jsonl:2: not JSON"):
        read_otlp_json(broken)
    with pytest.raises(OtlpJsonError, match="cannot read"):
        read_otlp_json(tmp_path / "missing.json")
