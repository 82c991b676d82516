"""The demo's historical Tracetest suite loads, and bad files fail with file:line:column."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebed.tracetest.definition import (
    GrpcTrigger,
    HttpTrigger,
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    load,
    looks_like_tracetest,
)
from tracebed.tracetest.variables import load_variables

DEMO = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2" / "tracetesting"
DEMO_FILES = sorted(DEMO.rglob("*.y*ml")) if DEMO.is_dir() else []


def test_the_demo_suite_is_there() -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    assert len(DEMO_FILES) >= 36


@pytest.mark.parametrize("path", DEMO_FILES, ids=lambda p: str(p.relative_to(DEMO)))
def test_every_demo_file_loads_and_every_selector_and_assertion_parses(path: Path) -> None:
    resource = load(path) if looks_like_tracetest(path) else None
    name = path.name
    if name in ("cli-config.yml", "tracetest-config.yaml", "tracetest-provision.yaml",
                "otelcol-config-tracetest.yml"):
        assert resource is None  # other kinds of YAML are left alone
        return
    assert resource is not None, f"{path} was not recognised as a Tracetest resource"
    if isinstance(resource, SuiteDefinition):
        assert resource.steps and all(isinstance(s, TestDefinition) for s in resource.steps)
        return
    assert isinstance(resource, TestDefinition)
    assert resource.specs, "every demo test has specs"
    for spec in resource.specs:
        assert spec.selector.chains, f"{spec.title}: the demo never uses the empty selector"
        assert spec.assertions
    assert isinstance(resource.trigger, HttpTrigger | GrpcTrigger)


def test_demo_suite_counts() -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    tests = [load(p) for p in DEMO_FILES if looks_like_tracetest(p)]
    specs = sum(len(t.specs) for t in tests if isinstance(t, TestDefinition))
    assertions = sum(len(s.assertions) for t in tests if isinstance(t, TestDefinition) for s in t.specs)
    suites = [t for t in tests if isinstance(t, SuiteDefinition)]
    assert len(suites) == 10
    assert (specs, assertions) == (59, 91)
    cart = next(s for s in suites if s.id == "cart-all")
    assert [s.id for s in cart.steps] == [
        "cart-empty-cart", "cart-add-item-to-cart", "cart-check-if-cart-is-populated",
        "cart-empty-cart", "cart-check-if-cart-is-empty",
    ]


def write(tmp_path: Path, text: str, name: str = "t.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


TEST = """\
type: Test
spec:
  id: t
  name: T
  trigger:
    type: http
    httpRequest:
      url: http://${{var:HOST}}/x
      method: GET
  specs:
  - name: s
    selector: {selector}
    assertions:
    - {assertion}
"""


def test_selector_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, TEST.format(selector='span[name="a" kind]', assertion="attr:x = 1"))
    with pytest.raises(TracetestFileError) as info:
        load(path)
    err = info.value
    assert (err.line, err.column) == (12, 33)
    assert str(err).startswith(f"{path}:12:33: selector: expected an operator")


def test_assertion_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, TEST.format(selector='span[name="a"]', assertion="attr:x === 1"))
    with pytest.raises(TracetestFileError) as info:
        load(path)
    assert (info.value.line, info.value.column) == (14, 15)
    assert "expected a value" in str(info.value)


def test_folded_selector_error_column_is_in_the_file(tmp_path: Path) -> None:
    text = TEST.format(selector='span[name="a"\n      kind="server" bad]', assertion="attr:x = 1")
    path = write(tmp_path, text)
    with pytest.raises(TracetestFileError) as info:
        load(path)
    assert (info.value.line, info.value.column) == (13, 24)


def test_template_error_and_yaml_error(tmp_path: Path) -> None:
    bad_url = TEST.format(selector='span[name="a"]', assertion="attr:x = 1").replace("${var:HOST}", "${var:HOST")
    with pytest.raises(TracetestFileError) as info:
        load(write(tmp_path, bad_url))
    assert info.value.line == 8 and "a closing } for ${" in str(info.value)
    with pytest.raises(TracetestFileError) as info:
        load(write(tmp_path, "type: Test\nspec:\n  id: [unclosed\n", "y.yaml"))
    assert info.value.line >= 3 and "YAML" in str(info.value)


def test_unknown_trigger_and_missing_suite_step(tmp_path: Path) -> None:
    text = TEST.format(selector='span[name="a"]', assertion="attr:x = 1").replace("type: http", "type: kafka")
    with pytest.raises(TracetestFileError, match="unsupported trigger type 'kafka'"):
        load(write(tmp_path, text))
    suite = write(tmp_path, "type: TestSuite\nspec:\n  id: s\n  steps:\n  - ./nope.yaml\n", "s.yaml")
    with pytest.raises(TracetestFileError, match=r"s.yaml:5:5: step './nope.yaml'"):
        load(suite)


def test_other_yaml_is_not_a_tracetest_resource(tmp_path: Path) -> None:
    assert not looks_like_tracetest(write(tmp_path, "services:\n  a: {}\n", "compose.yaml"))
    assert not looks_like_tracetest(write(tmp_path, "kind: Test\nspec: {}\n", "k.yaml"))
    assert load(write(tmp_path, "type: DataStore\nspec: {}\n", "d.yaml")) is None
    # another tool's `type: Test` without Tracetest's shape is not ours either
    assert load(write(tmp_path, "type: Test\nspec:\n  cases: [1]\n", "x.yaml")) is None
    assert load(write(tmp_path, "type: Test\nname: unit\n", "y.yaml")) is None
    assert load(write(tmp_path, "type: TestSuite\nspec:\n  id: s\n", "z.yaml")) is None


def test_suite_steps_by_id(tmp_path: Path) -> None:
    write(tmp_path, TEST.format(selector='span[name="a"]', assertion="attr:x = 1"), "one.yaml")
    suite = load(write(tmp_path, "type: Transaction\nspec:\n  id: s\n  steps: [t, ./one.yaml]\n", "s.yaml"))
    assert isinstance(suite, SuiteDefinition) and [s.id for s in suite.steps] == ["t", "t"]


def test_variables_files(tmp_path: Path) -> None:
    varset = write(tmp_path, "type: VariableSet\nspec:\n  id: v\n  values:\n  - key: A\n    value: a:1\n"
                             "  - key: B\n    value: 2\n", "v.yaml")
    assert load_variables(varset) == {"A": "a:1", "B": "2"}
    assert load_variables(write(tmp_path, "A: x\nB: 3\n", "m.yaml")) == {"A": "x", "B": "3"}
    assert load_variables(write(tmp_path, "# c\nexport A=x\nB='y z'\n", "vars.env")) == {"A": "x", "B": "y z"}
    with pytest.raises(TracetestFileError, match=r"vars2.env:1:1: expected KEY=VALUE"):
        load_variables(write(tmp_path, "not a pair\n", "vars2.env"))


def test_unknown_keys_are_refused_at_the_key(tmp_path: Path) -> None:
    text = TEST.format(selector='span[name="a"]', assertion="attr:x = 1")
    # `spex:` for `specs:` would otherwise run a test with no spec at all
    with pytest.raises(TracetestFileError) as info:
        load(write(tmp_path, text.replace("  specs:", "  spex:")))
    assert (info.value.line, info.value.column) == (10, 3)
    assert str(info.value).endswith("unknown key `spex` in spec (did you mean `specs`?)")
    with pytest.raises(TracetestFileError, match=r"t.yaml:9:7: unknown key `methd` in httpRequest"):
        load(write(tmp_path, text.replace("method: GET", "methd: GET")))
    with pytest.raises(TracetestFileError, match=r"t.yaml:12:5: unknown key `selecter` in a spec"):
        load(write(tmp_path, text.replace("selector:", "selecter:")))
    with pytest.raises(TracetestFileError, match=r"t.yaml:1:1: unknown key `kind` in the resource"):
        load(write(tmp_path, "kind: x\n" + text))
    suite = "type: TestSuite\nspec:\n  id: s\n  stpes: []\n  steps: []\n"
    with pytest.raises(TracetestFileError, match=r"s.yaml:4:3: unknown key `stpes` in spec"):
        load(write(tmp_path, suite, "s.yaml"))


def test_tracetest_keys_that_tracebed_does_not_use_are_accepted(tmp_path: Path) -> None:
    text = TEST.format(selector='span[name="a"]', assertion="attr:x = 1").replace(
        "  trigger:", "  skipTrace: false\n  pollingProfile: default\n  trigger:").replace(
        "      method: GET", "      method: GET\n      SSLVerification: false\n      headers:\n"
                            "      - key: a\n        value: b")
    found = load(write(tmp_path, text))
    assert isinstance(found, TestDefinition) and len(found.specs) == 1


def test_selector_operators_tracetest_rejects_are_refused_in_files(tmp_path: Path) -> None:
    # Tracetest's selector grammar has only `=` and `contains`; `!=` is tracebed's own.
    path = write(tmp_path, TEST.format(selector='span[name!="a"]', assertion="attr:x = 1"))
    with pytest.raises(TracetestFileError) as info:
        load(path)
    assert (info.value.line, info.value.column) == (12, 24)
    assert "expected = or contains (Tracetest selectors allow no other operator), found '!='" in str(info.value)
    ok = write(tmp_path, TEST.format(selector="'span[name=\"a\" kind contains \"x\"]'", assertion="attr:x = 1"))
    assert isinstance(load(ok), TestDefinition)


def test_a_broken_json_path_is_refused_when_the_file_is_loaded(tmp_path: Path) -> None:
    path = write(tmp_path, TEST.format(selector='span[name="a"]',
                                       assertion="attr:body | json_path '$.ads[0' = 1"))
    with pytest.raises(TracetestFileError) as info:
        load(path)
    assert (info.value.line, info.value.column) == (14, 29)
    assert "expected a valid JSONPath, found '$.ads[0'" in str(info.value)
    fine = write(tmp_path, TEST.format(selector='span[name="a"]',
                                       assertion="attr:body | json_path '$.ads[0].id' = 1"))
    assert isinstance(load(fine), TestDefinition)
