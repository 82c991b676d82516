"""The project's demo.proto against the demo's contract as written down in demo-facts.md §3."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from google.protobuf.descriptor import FieldDescriptor

from tracebed.reference.common.flags import Flags
from tracebed.reference.proto import demo_pb2

FACTS = Path(__file__).resolve().parents[3] / ".." / "shared" / "reference" / "demo-facts.md"

_SCALARS = {
    FieldDescriptor.TYPE_STRING: "string",
    FieldDescriptor.TYPE_INT32: "int32",
    FieldDescriptor.TYPE_INT64: "int64",
    FieldDescriptor.TYPE_BOOL: "bool",
}


def _section(start: str, end: str) -> str:
    if not FACTS.exists():
        pytest.skip(f"demo facts not found: {FACTS}")
    text = FACTS.read_text()
    return text[text.index(start) : text.index(end)]


def _ours(message: str) -> dict[int, tuple[str, str, bool]]:
    desc = demo_pb2.DESCRIPTOR.message_types_by_name[message]
    return {
        f.number: (
            f.name,
            f.message_type.name if f.message_type else _SCALARS[f.type],
            f.is_repeated,
        )
        for f in desc.fields
    }


def test_messages_match_field_numbers_names_and_types() -> None:
    rows = re.findall(r"^\| `(\w+)` \| (.+) \|$", _section("### 3.2", "### 3.3"), re.M)
    checked = 0
    for message, fields in rows:
        if message not in demo_pb2.DESCRIPTOR.message_types_by_name or "(" in fields:
            continue  # combined rows ("A`/`B") and empty messages are covered below
        expected = {}
        for number, name, rest in re.findall(r"(\d+) `(\w+)`(?: ([\w ]+))?", fields):
            words = (rest or "").split()
            repeated = "repeated" in words
            typ = [w for w in words if w != "repeated"][0] if words else None
            expected[int(number)] = (name, typ, repeated)
        ours = _ours(message)
        assert set(ours) == set(expected), message
        for number, (name, typ, repeated) in expected.items():
            assert ours[number][0] == name, (message, number)
            assert ours[number][2] == repeated, (message, name)
            if typ is not None:
                assert ours[number][1] == typ, (message, name)
        checked += 1
    assert checked >= 30
    assert 4 not in _ours("PlaceOrderRequest")  # field 4 unused


def test_services_and_methods_match() -> None:
    rows = re.findall(
        r"^\| (`(\w+)`)? *\| `(\w+)` \| `(\w+)` \| `(\w+)` \|", _section("### 3.1", "### 3.2"), re.M
    )
    service = ""
    for _, svc, method, request, response in rows:
        service = svc or service
        m = demo_pb2.DESCRIPTOR.services_by_name[service].methods_by_name[method]
        assert (m.input_type.name, m.output_type.name) == (request, response)
    assert len(rows) >= 15  # every service; FeatureFlagService's combined row is skipped
    assert demo_pb2.DESCRIPTOR.package == "oteldemo"


def test_flags_fall_back_to_defaults_when_flagd_is_down() -> None:
    flags = Flags("http://127.0.0.1:9")  # discard port: nothing listens
    assert flags.number("paymentFailure", 0.25) == 0.25
    assert flags.boolean("adFailure", True) is True
    assert flags.integer("kafkaQueueProblems", 7) == 7
