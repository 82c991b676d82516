"""The bundled suite's conformance check, its parts: where a release's registry comes from, the
known non-conformances of the demo (their file, their matching), and the stand-in's README
listing the same cases."""

from __future__ import annotations

import importlib.metadata
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.demo_layout import REFERENCE
from tracebed.errors import ConfigError
from tracebed.paths import fixtures_dir
from tracebed.query.conformance import Finding, Level
from tracebed.suites.otel_demo.schema import (
    _checkout_registry,
    describe,
    known_for,
    load_known,
    unexpected,
)

pytest_plugins = ["pytester"]

KNOWN = fixtures_dir() / "conformance" / "3.0.0" / "known.yaml"
README = Path(__file__).resolve().parents[2] / "src" / "tracebed" / "reference" / "README.md"
DEMO30 = (REFERENCE / "otel-demo-3.0.0").resolve()
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()


def finding(finding_id: str, key: str, service: str, span: str = "GET") -> Finding:
    return Finding(
        finding_id,
        Level.VIOLATION,
        f"Attribute '{key}' ...",
        "span",
        span,
        "attribute",
        service,
        "ab" * 16,
        "cd" * 8,
        {"attribute_key": key},
    )


def test_known_entries_match_by_id_key_and_service() -> None:
    known = load_known(KNOWN)
    assert known_for(finding("deprecated", "rpc.system", "checkout"), known) is not None
    assert known_for(finding("missing_attribute", "original_span_name", "any"), known) is not None
    # The same key from a service the entry does not name, or another finding id: not known.
    assert known_for(finding("deprecated", "rpc.system", "shipping"), known) is None
    assert known_for(finding("type_mismatch", "rpc.system", "checkout"), known) is None
    assert known_for(finding("missing_attribute", "demo.secret", "checkout"), known) is None
    new = finding("missing_attribute", "demo.secret", "checkout", "oteldemo.X/Y")
    assert unexpected([new, finding("deprecated", "rpc.system", "ad")], known) == [new]
    assert describe(new) == (
        f"violation missing_attribute 'demo.secret' -- checkout: span 'oteldemo.X/Y' trace "
        f"{'ab' * 16} span {'cd' * 8}: Attribute 'demo.secret' ..."
    )


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("known:\n  - {id: deprecated, key: a}\n", r"known\[0\]: `demo`"),
        ("known:\n  - {id: nope, key: a, demo: x}\n", r"known\[0\]: unknown finding id 'nope'"),
        ("known:\n  - {id: deprecated, key: a, demo: x, why: y}\n", "unknown key 'why'"),
        ("known:\n  - {id: deprecated, key: [], demo: x}\n", r"known\[0\]\.key: must be"),
        ("other: 1\n", "the one key `known`"),
    ],
)
def test_a_bad_known_file_is_one_error_naming_the_entry(
    tmp_path: Path, text: str, error: str
) -> None:
    path = tmp_path / "known.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=error):
        load_known(path)


def test_the_stand_in_readme_lists_every_known_case() -> None:
    section = README.read_text().split("## Registry conformance at 3.0.0", 1)[1]
    for known in load_known(KNOWN):
        for key in known.keys:
            if not any(c in key for c in "*?["):
                assert f"`{key}`" in section, f"{key} ({known.ids}) is not in the README"
        for finding_id in known.ids:
            assert f"`{finding_id}`" in section


def test_a_compose_checkout_has_its_registry_beside_its_compose_files(tmp_path: Path) -> None:
    (tmp_path / "telemetry-schema").mkdir()
    (tmp_path / "telemetry-schema" / "manifest.yaml").write_text("id: x\n")
    stack = SimpleNamespace(topology=SimpleNamespace(compose_files=(tmp_path / "compose.yaml",)))
    assert _checkout_registry(stack, "3.0.0") == tmp_path / "telemetry-schema"
    elsewhere = SimpleNamespace(topology=SimpleNamespace(compose_files=(tmp_path / "a" / "c.yml",)))
    assert _checkout_registry(elsewhere, "3.0.0") is None
    assert _checkout_registry(SimpleNamespace(topology=None), "3.0.0") is None


USER_TEST = """
from types import SimpleNamespace

import pytest

from tracebed.suites.otel_demo.schema import release_registry

STACK = SimpleNamespace(topology=SimpleNamespace(compose_files=[{compose!r}]))


def test_registry(request):
    registry = release_registry(request.config, STACK, "3.0.0")
    print("LOADED", registry.root, registry.attribute("demo.order.id") is not None)


def test_2_0_2(request):
    release_registry(request.config, STACK, "2.0.2")
"""


def _plugin_args() -> list[str]:
    installed = {ep.name for ep in importlib.metadata.entry_points(group="pytest11")}
    return [] if "tracebed_conformance" in installed else ["-p", "tracebed.plugin.conformance"]


def test_release_registry_from_a_compose_checkout_needs_the_semantic_conventions(
    pytester: pytest.Pytester,
) -> None:
    if not (DEMO30 / "telemetry-schema" / "manifest.yaml").is_file() or not SEMCONV.is_dir():
        pytest.skip(f"the demo 3.0.0 registry is not at {DEMO30}")
    pytester.makepyfile(
        test_user=textwrap.dedent(USER_TEST.format(compose=str(DEMO30 / "compose.yaml")))
    )
    result = pytester.runpytest_inprocess(*_plugin_args(), "-rs", "-s")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(
        [
            "*depends on the semantic conventions; pass --tracebed-registry-dependency DIR*",
            "*demo 2.0.2 ships no telemetry registry*",
        ]
    )
    result = pytester.runpytest_inprocess(
        *_plugin_args(), "-s", f"--tracebed-registry-dependency={SEMCONV}"
    )
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([f"*LOADED {DEMO30 / 'telemetry-schema'} True*"])
