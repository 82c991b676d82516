"""`x-tracebed-stack`, parsed once into StackMeta."""

from __future__ import annotations

import pytest

from tracebed.stack import StackMeta, Topology, TopologyError
from tracebed.stack.model import ServiceDef


def test_parse_what_the_reference_stack_writes() -> None:
    meta = StackMeta.parse(
        {
            "frontend_url": "http://127.0.0.1:8080",
            "flagd_ofrep_url": "http://127.0.0.1:8016",
            "flagd_ui_url": "http://127.0.0.1:8080/feature",
            "flag_file": "/tmp/flags.json",
            "sink_otlp_grpc": "127.0.0.1:4317",
            "demo_version": "3.0.0",
            "ports": {"ENVOY_PORT": "8080"},
            "absent": {"jaeger": "not installable here"},
            "dropped_depends_on": ["frontend-proxy -> jaeger"],
            "not_started": {"load-generator": "not requested"},
            "some_future_key": 1,
        }
    )
    assert meta.declared and meta.frontend_url == "http://127.0.0.1:8080"
    assert meta.flagd_ofrep_url == "http://127.0.0.1:8016"
    assert meta.ports == {"ENVOY_PORT": 8080}
    assert meta.demo_version == "3.0.0"
    assert meta.absent == {"jaeger": "not installable here"}
    assert meta.dropped_depends_on == ["frontend-proxy -> jaeger"]
    assert meta.not_started == {"load-generator": "not requested"}


def test_no_section_is_an_empty_meta() -> None:
    assert StackMeta.parse(None) == StackMeta()
    assert not StackMeta().declared and StackMeta().absent == {}
    assert StackMeta.parse({"frontend_url": "http://x:1"}).demo_version is None
    topo = Topology({"a": ServiceDef(name="a")})
    assert topo.meta == StackMeta() and topo.absent == {}


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("http://x", "must be a mapping"),
        ({"absent": ["jaeger"]}, "absent must be a mapping"),
        ({"ports": {"A": "eighty"}}, "ports must map names"),
        ({"dropped_depends_on": "a -> b"}, "must be a list"),
    ],
)
def test_malformed_section_is_a_topology_error(raw: object, says: str) -> None:
    with pytest.raises(TopologyError, match=says):
        StackMeta.parse(raw)


def test_topology_reads_it_from_its_extras() -> None:
    topo = Topology(
        {"a": ServiceDef(name="a")},
        extras={"x-tracebed-stack": {"frontend_url": "http://h:1", "absent": {"b": "why"}}},
    )
    assert topo.meta.declared and topo.meta.frontend_url == "http://h:1"
    assert topo.absent == {"b": "why"}
