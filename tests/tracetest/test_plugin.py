"""Tracetest YAML files run as pytest items, end to end: real HTTP/gRPC services instrumented
with the OpenTelemetry SDK export to a real Sink; the plugin triggers, waits and asserts."""

from __future__ import annotations

import textwrap
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.tracetest import apps

pytest_plugins = ["pytester"]

CONFTEST = """
import pytest
from tests.tracetest import apps

@pytest.fixture(scope="session")
def span_sink():
    return apps.CURRENT.sink

@pytest.fixture(scope="session")
def demo_stack():
    return apps.CURRENT
"""

PROTO = Path(__file__).resolve().parents[2] / "src" / "tracebed" / "reference" / "proto" / "demo.proto"


@pytest.fixture(scope="module")
def running() -> Iterator[apps.Running]:
    run = apps.Running()
    apps.CURRENT = run.apps
    try:
        yield run
    finally:
        apps.CURRENT = None
        run.stop()


@pytest.fixture
def suite(pytester: pytest.Pytester, running: apps.Running) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    return pytester


def write(pytester: pytest.Pytester, name: str, text: str) -> Path:
    path = pytester.path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


PRICE_TEST = """\
type: Test
spec:
  id: shop-price
  name: 'Shop: price'
  trigger:
    type: http
    httpRequest:
      url: ${var:SHOP_ADDR}/api/price
      method: GET
      headers:
      - key: Content-Type
        value: application/json
  specs:
  - name: It answered
    selector: span[tracetest.span.type="general" name="Tracetest trigger"]
    assertions:
    - attr:tracetest.response.status = 200
    - attr:tracetest.response.body | json_path '$.currencyCode' = "EUR"
    - attr:tracetest.response.body | json_path '$.units' = 42
  - name: Currency converted
    selector: span[tracetest.span.type="rpc" name="Currency/Convert" rpc.system="grpc"]
    assertions:
    - attr:app.currency.conversion.to = "EUR"
    - attr:rpc.grpc.status_code = 0
    - attr:tracetest.span.duration < 5s
  - name: The shop called currency
    selector: span[service.name="shop"] span[service.name="currency"]
    assertions:
    - attr:tracetest.selected_spans.count = 1
  outputs:
  - name: CONVERTED_TO
    selector: span[name="Currency/Convert"]
    value: attr:app.currency.conversion.to
"""


def test_http_trigger_end_to_end(suite: pytest.Pytester) -> None:
    write(suite, "price.yaml", PRICE_TEST)
    write(suite, "other.yaml", "services:\n  a: {}\n")  # other YAML is not collected
    result = suite.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    # each spec is its own line, with how many spans matched and the actual values
    result.stdout.fnmatch_lines([
        "*price.yaml::Shop: price::It answered PASSED (span[[]tracetest.span.type=\"general\" "
        "name=\"Tracetest trigger\"[]] → 1 span(s); attr:tracetest.response.status = 200 → '200'*",
        "*price.yaml::Shop: price::Currency converted PASSED (span*→ 1 span(s);*→ 'EUR'*",
        "*::The shop called currency PASSED (span[[]service.name=\"shop\"[]] span[[]service.name=\"currency\"[]]"
        " → 1 span(s)*",
    ])


def test_failure_shows_selector_count_actual_values_and_marked_tree(suite: pytest.Pytester) -> None:
    write(suite, "price.yaml", PRICE_TEST.replace('conversion.to = "EUR"', 'conversion.to = "JPY"'))
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-tracetest-quiet=0.2")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*FAIL Currency converted",
        '*selector: span[[]tracetest.span.type="rpc" name="Currency/Convert" rpc.system="grpc"[]]',
        "*matched: 1 span(s)",
        "*✗ attr:app.currency.conversion.to = \"JPY\"  (actual: 'EUR')",
        "*✓ attr:rpc.grpc.status_code = 0*",
        "*tracetest: Tracetest trigger*",
        ">>*currency: Currency/Convert [[]server[]]*",
    ])


def test_junit_xml_carries_the_trace_id(suite: pytest.Pytester) -> None:
    write(suite, "price.yaml", PRICE_TEST)
    xml = suite.path / "junit.xml"
    result = suite.runpytest("-p", "no:cacheprovider", f"--junitxml={xml}")
    result.assert_outcomes(passed=3)
    cases = ET.parse(xml).getroot().findall(".//testcase")
    assert len(cases) == 3
    trace_ids = {p.get("value") for case in cases for p in case.findall(".//property")
                 if "trace" in (p.get("name") or "")}
    assert len(trace_ids) == 1  # one trigger, three specs
    (trace_id,) = trace_ids
    assert trace_id is not None and len(trace_id) == 32
    trace = apps.CURRENT.sink.store.trace(trace_id) if apps.CURRENT else None
    assert trace is not None and {"shop", "currency"} <= trace.services


GRPC_TEST = """\
type: Test
spec:
  id: currency-convert
  name: 'Currency: Convert'
  trigger:
    type: grpc
    grpc:
      protobufFile: {proto}
      address: ${{var:CURRENCY_ADDR}}
      method: oteldemo.CurrencyService.Convert
      request: |-
        {{"from": {{"currencyCode": "USD", "units": 330, "nanos": 750000000}}, "toCode": "{to}"}}
  specs:
  - name: It converts
    selector: span[tracetest.span.type="rpc" name="Currency/Convert" rpc.method="Convert"]
    assertions:
    - attr:app.currency.conversion.from = "USD"
    - attr:app.currency.conversion.to = "{to}"
  - name: It returns
    selector: span[tracetest.span.type="general" name="Tracetest trigger"]
    assertions:
    - attr:tracetest.response.status = {status}
    - {body}
"""


def test_grpc_trigger_builds_the_request_from_the_proto(suite: pytest.Pytester) -> None:
    # the proto path is relative to the file, as in the demo's suite
    (suite.path / "pb").mkdir()
    (suite.path / "pb" / "demo.proto").write_text(PROTO.read_text())
    write(suite, "currency/convert.yaml",
          GRPC_TEST.format(proto="../pb/demo.proto", to="CAD", status=0,
                           body="attr:tracetest.response.body | json_path '$.units' = \"660\""))
    write(suite, "currency/bad.yaml",
          GRPC_TEST.format(proto="../pb/demo.proto", to="XXX", status=3, body='attr:tracetest.response.body = ""'))
    result = suite.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


USE_OUTPUT_TEST = """\
type: Test
spec:
  id: use-output
  name: Use output
  trigger:
    type: http
    httpRequest:
      url: ${var:SHOP_ADDR}/api/slow
      method: GET
  specs:
  - name: It saw the output of step 1
    selector: span[name="sleepy"]
    assertions:
    - attr:app.step = 1
    - '"${var:CONVERTED_TO}" = "EUR"'
    - attr:tracetest.span.duration >= 50ms
"""

SUITE = """\
type: TestSuite
spec:
  id: all
  name: All
  steps:
  - ./1-price.yaml
  - ./2-use.yaml
"""


def test_suite_runs_steps_in_order_and_outputs_feed_later_steps(suite: pytest.Pytester) -> None:
    write(suite, "flow/1-price.yaml", PRICE_TEST)
    write(suite, "flow/2-use.yaml", USE_OUTPUT_TEST)
    write(suite, "flow/all.yaml", SUITE)
    result = suite.runpytest("-v", "-p", "no:cacheprovider", "flow")
    result.assert_outcomes(passed=4)  # the steps run through the suite only, not twice
    result.stdout.fnmatch_lines(["*all.yaml::[[]1[]] Shop: price::It answered PASSED*",
                                 "*all.yaml::[[]2[]] Use output::It saw the output of step 1 PASSED*"])
    # naming a step file explicitly runs it on its own
    result = suite.runpytest("-p", "no:cacheprovider", "flow/2-use.yaml")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(['*variable "CONVERTED_TO" is not set*'])


def test_timeout_fails_with_the_tree_and_no_fixed_sleep(suite: pytest.Pytester) -> None:
    write(suite, "never.yaml", PRICE_TEST.replace('name="Currency/Convert" rpc.system="grpc"',
                                                   'name="Never/Happens"'))
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-tracetest-timeout=1.5",
                             "--tracebed-tracetest-quiet=0.1")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines([
        "*matched: 0 span(s)*",
        "*not complete after 1.*s: condition every spec's selector finds its spans never held*",
        "*shop: GET /api/price [[]server[]]*",
    ])


def test_variables_from_option_file_and_host_map(suite: pytest.Pytester, running: apps.Running) -> None:
    port = running.apps.shop_url.rsplit(":", 1)[1]
    write(suite, "v.yaml", PRICE_TEST.replace("${var:SHOP_ADDR}", "http://${var:FRONTEND_ADDR}"))
    (suite.path / "vars.yaml").write_text(
        "type: VariableSet\nspec:\n  id: v\n  values:\n  - key: FRONTEND_ADDR\n    value: frontend:8080\n")
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-vars-file=vars.yaml",
                             f"--tracebed-host-map=frontend:8080=127.0.0.1:{port}")
    result.assert_outcomes(passed=3)
    result = suite.runpytest("-p", "no:cacheprovider", f"--tracebed-var=FRONTEND_ADDR=127.0.0.1:{port}")
    result.assert_outcomes(passed=3)


def test_syntax_error_is_a_collection_error_with_file_line_column(suite: pytest.Pytester) -> None:
    write(suite, "bad.yaml", PRICE_TEST.replace('name="Tracetest trigger"]', 'name="Tracetest trigger"'))
    write(suite, "fine.yaml", "type: DataStore\nspec: {}\n")
    result = suite.runpytest("-p", "no:cacheprovider")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*ERROR collecting bad.yaml*", "*bad.yaml:15:74: selector: expected ']' to close span[[], found end of input"])


def test_missing_sink_fixture_is_explained(pytester: pytest.Pytester) -> None:
    write(pytester, "price.yaml", PRICE_TEST)
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "no:tracebed", "-p", "no:tracebed_report")
    result.assert_outcomes(failed=3)
    result.stdout.fnmatch_lines(["*Tracetest items need the `span_sink` fixture*"])


DEMO = Path(__file__).resolve().parents[2] / ".." / "shared" / "reference" / "otel-demo-2.0.2" / "tracetesting"


def test_the_demo_suite_collects_as_items(pytester: pytest.Pytester) -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider", str(DEMO.resolve()))
    assert result.ret == 0, result.stdout.str()
    items = [line for line in result.stdout.lines if "::" in line]
    # each of the 10 suites runs its steps; a test a suite runs is not collected again on its own
    assert len(items) == 61, "\n".join(items)
    assert sum("cart/all.yaml::[5] Cart: check if cart is empty::" in i for i in items) == 2
    assert not any(i.split("::")[0].endswith("/get.yaml") for i in items)
    # named explicitly, a step file is collected on its own
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:cacheprovider",
                                str((DEMO / "payment" / "valid-credit-card.yaml").resolve()))
    assert sum("::" in line for line in result.stdout.lines) == 2


def test_traceid_trigger_asserts_on_a_trace_made_elsewhere(
    suite: pytest.Pytester, running: apps.Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    import secrets

    import requests

    trace_id = secrets.token_hex(16)
    response = requests.get(f"{running.apps.shop_url}/api/slow",
                            headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"}, timeout=10)
    assert response.status_code == 200
    write(suite, "by-id.yaml", """\
        type: Test
        spec:
          id: by-id
          name: By id
          trigger:
            type: traceid
            traceid:
              id: ${env:WANTED_TRACE}
          specs:
          - selector: span[name="sleepy"]
            assertions:
            - attr:app.step = 1
            - attr:service.name = "shop"
        """)
    monkeypatch.setenv("WANTED_TRACE", trace_id)
    result = suite.runpytest("-v", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(['*by-id.yaml::By id::spec 1: span[[]name="sleepy"[]] PASSED*'])


def test_missing_proto_is_a_clear_failure(suite: pytest.Pytester) -> None:
    write(suite, "p.yaml", GRPC_TEST.format(proto="nowhere/other.proto", to="CAD", status=0,
                                            body='attr:tracetest.response.body != ""'))
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*trigger failed: protobufFile 'nowhere/other.proto' not found*"])


AUTH_TEST = """\
type: Test
spec:
  id: auth-{kind}
  name: Auth {kind}
  trigger:
    type: http
    httpRequest:
      url: ${{var:SHOP_ADDR}}/api/whoami
      method: GET
      auth:
{auth}
  specs:
  - selector: span[name="Tracetest trigger"]
    assertions:
    - attr:tracetest.response.body | json_path '$.{field}' = "{expected}"
"""


def test_http_auth_settings(suite: pytest.Pytester) -> None:
    cases = {
        "bearer": ("        type: bearer\n        bearer:\n          token: ${var:TOKEN}", "authorization",
                   "Bearer s3cret"),
        "basic": ("        type: basic\n        basic:\n          username: ann\n          password: pw", "authorization",
                  "Basic YW5uOnB3"),
        "apikey": ("        type: apiKey\n        apiKey:\n          key: X-Api-Key\n          value: k1\n"
                   "          in: header", "apiKey", "k1"),
        "query": ("        type: apiKey\n        apiKey:\n          key: token\n          value: q1\n          in: query",
                  "query", "token=q1"),
    }
    for kind, (auth, field_, expected) in cases.items():
        write(suite, f"{kind}.yaml", AUTH_TEST.format(kind=kind, auth=auth, field=field_, expected=expected))
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-var=TOKEN=s3cret")
    result.assert_outcomes(passed=4)


def test_collection_can_be_switched_off(suite: pytest.Pytester) -> None:
    write(suite, "price.yaml", PRICE_TEST)
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-no-tracetest")
    result.assert_outcomes()
    assert "no tests ran" in result.stdout.str()


def test_ini_keys_work_for_tracetest_items(suite: pytest.Pytester, running: apps.Running) -> None:
    # the trace timeout and the variables come from the ini file, as for every tracebed option
    port = running.apps.shop_url.rsplit(":", 1)[1]
    write(suite, "never.yaml", PRICE_TEST.replace('name="Currency/Convert" rpc.system="grpc"',
                                                   'name="Never/Happens"')
          .replace("${var:SHOP_ADDR}", "http://${var:FRONTEND_ADDR}"))
    suite.makeini(f"""
        [pytest]
        tracebed_trace_timeout = 1.5
        tracebed_tracetest_quiet = 0.1
        tracebed_var = FRONTEND_ADDR=127.0.0.1:{port}
        """)
    result = suite.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*not complete after 1.*s: condition every spec's selector*"])
    # the command line wins over the ini file
    result = suite.runpytest("-p", "no:cacheprovider", "--tracebed-tracetest-timeout=0.5")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*not complete after 0.*s: condition every spec's selector*"])
