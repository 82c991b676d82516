"""The registry reader: semconv 1.40.0 and the demo 3.0.0 registry load and resolve; unknown
keys, bad refs and cycles are errors naming the file and the path inside it."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tracebed.query.registry import (
    Registry,
    RegistryError,
    Requirement,
    SignalType,
    load_registry,
)

REFERENCE = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference"
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()
DEMO = (REFERENCE / "otel-demo-3.0.0" / "telemetry-schema").resolve()

needs_reference = pytest.mark.skipif(
    not (SEMCONV.is_dir() and DEMO.is_dir()), reason="reference registries not present"
)


@pytest.fixture(scope="module")
def semconv() -> Registry:
    return load_registry(SEMCONV)


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@needs_reference
def test_semconv_loads_with_enums_templates_deprecations_and_requirement_levels(
    semconv: Registry,
) -> None:
    method = semconv.attribute("http.request.method")
    assert method is not None and method.type.is_enum
    assert "GET" in {m.value for m in method.type.members}
    header = semconv.template_for("http.request.header.content-type")
    assert header is not None and header.key == "http.request.header"
    assert str(header.type) == "template[string[]]"
    old = semconv.attribute("http.method")
    assert old is not None and old.deprecated is not None
    assert old.deprecated.renamed_to == "http.request.method"
    duration = semconv.metric("http.server.request.duration")
    assert duration is not None and duration.unit == "s" and duration.instrument == "histogram"
    levels = {use.key: use.requirement for use in duration.attributes}
    assert levels["http.request.method"] is Requirement.REQUIRED
    assert levels["http.response.status_code"] is Requirement.CONDITIONALLY_REQUIRED
    kinds = {signal.type for signal in semconv.signals.values()}
    assert kinds == set(SignalType)
    assert len(semconv.attributes) > 800


@needs_reference
def test_demo_registry_resolves_refs_into_semconv(semconv: Registry) -> None:
    demo = load_registry(DEMO, semconv)
    assert demo.manifest["semconv_version"] == "1.40.0"
    checkout = demo.signal("service.checkout")
    assert checkout is not None
    keys = {use.key for use in checkout.attributes}
    assert {"user_agent.synthetic.type", "demo.order.id", "demo.cart.items.count"} <= keys
    synthetic = checkout.attribute("user_agent.synthetic.type")
    assert synthetic is not None and synthetic.attribute.type.is_enum  # from semconv
    ads = demo.metric("demo.ad.requests")
    assert ads is not None and ads.unit == "{ad_request}"
    assert [u.requirement for u in ads.attributes] == [Requirement.REQUIRED] * 2
    assert len(demo.own_metrics()) == 8
    assert demo.attribute("demo.payment.amount") is not None
    assert demo.attribute("http.request.method") is not None  # through the dependency
    assert "session.id" in demo.referenced and "http.request.method" not in demo.referenced


@needs_reference
def test_demo_registry_without_its_dependency_names_the_unresolved_ref() -> None:
    with pytest.raises(RegistryError) as caught:
        load_registry(DEMO)
    err = caught.value
    assert err.file.endswith(".yaml") and "services" in err.file
    assert "matches no attribute" in str(err) and "attributes[" in err.path
    # The manifest's dependency is named, so the reader can tell what is missing.
    assert (
        "the manifest depends on otel: https://github.com/open-telemetry/semantic-conventions"
        in (str(err))
    )


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    bad = write(
        tmp_path,
        "attributes/shop.yaml",
        """\
        file_format: definition/2
        attributes:
          - key: shop.id
            type: string
            brief: ok
          - key: shop.name
            type: string
            colour: blue
        """,
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path)
    assert caught.value.file == str(bad)
    assert caught.value.path == "attributes[1].colour"
    assert "unknown key 'colour'" in str(caught.value)


def test_unknown_key_in_semconv_group(tmp_path: Path) -> None:
    write(
        tmp_path,
        "shop/registry.yaml",
        """\
        groups:
          - id: registry.shop
            type: attribute_group
            brief: shop
            flavour: sweet
            attributes: []
        """,
    )
    with pytest.raises(RegistryError, match=r"registry.yaml: groups\[0\]\.flavour: unknown key"):
        load_registry(tmp_path)


def test_bad_ref_names_file_and_path(tmp_path: Path) -> None:
    write(
        tmp_path,
        "attributes.yaml",
        """\
        file_format: definition/2
        attributes:
          - key: shop.id
            type: string
            brief: ok
        """,
    )
    bad = write(
        tmp_path,
        "services/shop.yaml",
        """\
        file_format: definition/2
        attribute_groups:
          - id: service.shop
            brief: shop
            attributes:
              - ref: shop.id
              - ref: shop.idd
        """,
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path)
    assert caught.value.file == str(bad)
    assert caught.value.path == "attribute_groups[0] (service.shop).attributes[1]"
    assert "'shop.idd' matches no attribute" in str(caught.value)


def test_extends_cycle_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "spans.yaml",
        """\
        groups:
          - id: registry.shop
            type: attribute_group
            brief: shop
            attributes:
              - id: shop.id
                type: string
                brief: id
                stability: stable
          - id: span.a
            type: span
            brief: a
            extends: span.b
            span_kind: server
            attributes: []
          - id: span.b
            type: span
            brief: b
            extends: span.a
            span_kind: server
            attributes: []
        """,
    )
    with pytest.raises(RegistryError) as caught:
        load_registry(tmp_path)
    assert "cycle of groups: span.a -> span.b -> span.a" in str(caught.value)
    assert caught.value.file.endswith("spans.yaml") and caught.value.path.startswith("groups[")


def test_ref_group_cycle_is_an_error(tmp_path: Path) -> None:
    write(
        tmp_path,
        "groups.yaml",
        """\
        file_format: definition/2
        attributes:
          - key: shop.id
            type: string
            brief: id
        attribute_groups:
          - id: shop.one
            brief: one
            attributes:
              - ref_group: shop.two
          - id: shop.two
            brief: two
            attributes:
              - ref: shop.id
              - ref_group: shop.one
        """,
    )
    with pytest.raises(RegistryError, match="cycle of groups: shop.one -> shop.two -> shop.one"):
        load_registry(tmp_path)


def test_bad_type_and_duplicate_definition(tmp_path: Path) -> None:
    write(
        tmp_path,
        "a.yaml",
        """\
        file_format: definition/2
        attributes:
          - key: shop.id
            type: strng
            brief: id
        """,
    )
    with pytest.raises(RegistryError, match=r"attributes\[0\]\.type: unknown type 'strng'"):
        load_registry(tmp_path)
    write(tmp_path, "a.yaml", "file_format: definition/2\nattributes:\n- {key: a.b, type: int}\n")
    write(tmp_path, "b.yaml", "file_format: definition/2\nattributes:\n- {key: a.b, type: int}\n")
    with pytest.raises(RegistryError, match="'a.b' is already defined in .*a.yaml"):
        load_registry(tmp_path)


def test_not_yaml_is_an_error_with_the_line(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "file_format: definition/2\nattributes: [\n")
    with pytest.raises(RegistryError, match=r"a.yaml: line \d+: not valid YAML"):
        load_registry(tmp_path)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not a directory"):
        load_registry(tmp_path / "nope")
