"""The bundled suite's side-by-side fault scenarios (suites/otel_demo/scenarios.py) on a fake
stack: scenarios whose flags touch nothing of each other run at once, a conflicting one
starts only after the one before it released (its marker's flags already switched back),
a failing scenario fails only its own test with its own message and its requests recorded
on it, and TRACEBED_SUITE_BATCH=0 runs each in its own turn with the marker switched by the
plugin as for any test."""

from __future__ import annotations

import ast
import re
from typing import Any

import pytest

from tracebed.suites.otel_demo.scenarios import FLOW_FLAGS, needs_of_function, side_by_side

pytest_plugins = ["pytester"]

CONFTEST = """
import threading
from contextlib import contextmanager
import pytest
from tracebed.suites.otel_demo.batch import drivers_from_env
from tracebed.suites.otel_demo.scenarios import ScenarioBatch, mark_items

LOG = []
LOCK = threading.Lock()

def log(line):
    with LOCK:
        LOG.append(line)

class FakeFlags:
    def set(self, **flags):
        log("set " + ",".join(f"{k}={v}" for k, v in sorted(flags.items())))
        return {"flags": {k: "before" for k in flags}}
    def restore(self, document, keys=None):
        log("restore " + ",".join(sorted(keys)))
    @contextmanager
    def switched(self, **flags):
        before = self.set(**flags)
        yield before
        self.restore(before, keys=flags)

class FakeStack:
    flags = FakeFlags()

class FakeShop:
    def __init__(self, on_result=None):
        self.on_result = on_result
    def close(self):
        pass
    def visit(self, name):
        self.on_result(name)
        return name

class FakeHarness:
    def shop(self, timeout, on_result=None):
        return FakeShop(on_result)

RESULTS = pytest.StashKey()

@pytest.fixture
def shop(request):
    return FakeShop(request.node.stash.setdefault(RESULTS, []).append)

@pytest.fixture(scope="session")
def demo_stack():
    return FakeStack()

@pytest.fixture(scope="session")
def scenario_batch(request, demo_stack):
    fixtures = {"tracebed_harness": FakeHarness(), "demo_stack": demo_stack, "span_sink": None}
    return ScenarioBatch(fixtures, request.session, drivers_from_env())

def pytest_collection_modifyitems(items):
    mark_items(items)

@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        print("RECORDED", item.name, item.stash.get(RESULTS, []))
    return report
"""

TESTS = """
import os
import threading
import pytest
from conftest import LOG, log
from tracebed.suites.otel_demo.scenarios import release, side_by_side

STARTED = {name: threading.Event() for name in ("ads", "image", "pay2")}
WAIT = float(os.environ.get("SCENARIO_WAIT", "10"))  # bounded: a scenario that never runs beside fails its test, it does not hang

@side_by_side(drives=("ads",))
@pytest.mark.flags(adFailure="on")
def test_ads(request):
    log("ads start")
    STARTED["ads"].set()
    assert STARTED["image"].wait(WAIT), "image did not run beside ads"

@side_by_side(drives=("image",))
@pytest.mark.flags(imageSlowLoad="5sec")
def test_image(request):
    log("image start")
    STARTED["image"].set()
    assert STARTED["ads"].wait(WAIT), "ads did not run beside image"

@side_by_side(drives=("order",))
@pytest.mark.flags(paymentFailure="100%")
def test_pay_first(request, shop):
    log("pay1 start")
    shop.visit("pay1-request")
    release()
    log("pay1 released")
    assert STARTED["pay2"].wait(WAIT), "the conflicting scenario did not start on release"
    log("pay1 end")

@side_by_side(drives=("order",))
@pytest.mark.flags(paymentFailure="50%")
def test_pay_second(request, shop):
    log("pay2 start")
    STARTED["pay2"].set()
    shop.visit("pay2-request")
    assert False, "pay2 fails on its own"

def test_zz_log():
    print("LOG", LOG)
"""


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_scenarios=TESTS)
    return pytester


def logged(out: str) -> list[str]:
    line = next(line for line in out.splitlines() if "LOG [" in line)  # after -s's dots
    return list(ast.literal_eval(line[line.index("LOG [") + 4 :]))


def test_scenarios_overlap_where_their_flags_allow(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEBED_SUITE_BATCH", "4")
    result = suite.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4, failed=1)
    out = result.stdout.str()
    assert "AssertionError: pay2 fails on its own" in out
    assert "FAILED test_scenarios.py::test_pay_second" in out
    # Its failure says when it ran in the batch.
    assert re.search(r"side by side.*\n.*started [0-9.]+s, released [0-9.]+s, ended", out), out
    # Each test carries the requests its own scenario made, not the others'.
    assert "RECORDED test_pay_first ['pay1-request']" in out
    assert "RECORDED test_pay_second ['pay2-request']" in out
    log = logged(out)
    # The two paymentFailure scenarios in file order: the second's switch comes after the
    # first's release has switched its flag back.
    assert (
        log.index("pay1 start")
        < log.index("restore paymentFailure")
        < log.index("set paymentFailure=50%")
        < log.index("pay2 start")
        < log.index("pay1 end")
    ), log
    assert log.count("restore paymentFailure") == 2, log  # each scenario's own, once


def test_without_the_batch_each_scenario_runs_in_its_turn(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEBED_SUITE_BATCH", "0")
    monkeypatch.setenv("SCENARIO_WAIT", "0.5")
    result = suite.runpytest("-s", "-p", "no:cacheprovider", "-k", "pay or zz")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    # In turn: pay2 starts only when pay1 has ended (pay1 waited for it in vain).
    assert "the conflicting scenario did not start on release" in out
    log = logged(out)
    assert log.index("pay1 released") < log.index("pay2 start"), log
    assert "pay1 end" not in log
    # The plugin's marker fixture switched each one's flag around its test, as for any test.
    assert log[:2] == ["set paymentFailure=100%", "pay1 start"], log
    assert log.index("restore paymentFailure") < log.index("set paymentFailure=50%"), log


def test_unknown_flows_and_a_missing_request_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown flows \\['nope'\\]"):
        side_by_side(drives=("nope",))

    def no_request(shop: object) -> None: ...

    with pytest.raises(TypeError, match="takes `request`"):
        side_by_side(drives=("ads",))(no_request)


def test_every_flow_names_flags_of_the_demo_releases() -> None:
    import json

    from tracebed.reference.flagd.flagfile import bundled_flag_file

    known = set()
    for release in ("2.0.2", "3.0.0"):
        known |= set(json.loads(bundled_flag_file(release).read_text())["flags"])
    named = set().union(*FLOW_FLAGS.values())
    assert named <= known, sorted(named - known)


def _needs(name: str) -> Any:
    """A fault scenario's needs as the batch sees them: its declaration and its marker's flags
    (for a parametrized one, every case's)."""
    from tracebed.suites.otel_demo import test_faults

    function = getattr(test_faults, name)
    needs = needs_of_function(function)
    assert needs is not None, f"{name} does not run side by side"
    flags: set[str] = set()
    for mark in getattr(function, "pytestmark", []):
        if mark.name == "flags":
            flags |= set(mark.kwargs)
        if mark.name == "parametrize":
            for case in mark.args[1]:
                marks = getattr(case, "marks", ())
                flags |= {k for m in marks if m.name == "flags" for k in m.kwargs}
    return needs.switching(flags)


def test_every_fault_scenario_of_the_suite_runs_side_by_side() -> None:
    from tracebed.suites.otel_demo.test_faults import FLAG_SCENARIOS

    for flag, tests in FLAG_SCENARIOS.items():
        for name in tests:
            assert flag in _needs(name).switches, f"{name} does not declare that it switches {flag}"


@pytest.mark.parametrize(
    ("a", "b", "conflict"),
    [
        # the same flag: one after the other
        (
            "test_payment_failure_100_fails_every_checkout",
            "test_payment_failure_rate_follows_the_variant",
            True,
        ),
        # Kafka's orders fail under paymentFailure
        (
            "test_payment_failure_100_fails_every_checkout",
            "test_kafka_queue_problems_floods_the_consumers",
            True,
        ),
        # an order's EmptyCart fails under cartFailure: the email scenario's trace is not healthy
        (
            "test_cart_failure_100_breaks_every_empty_cart",
            "test_email_memory_leak_keeps_confirmations_telemetry_alike",
            True,
        ),
        # the frontend looks recommended products up: productCatalogFailure's may be one
        (
            "test_product_catalog_failure_breaks_one_product",
            "test_recommendation_cache_failure_turns_the_leaky_cache_on",
            True,
        ),
        (
            "test_load_generator_traffic_off_only_evaluates_the_flag",
            "test_load_generator_vus_follow_the_flag",
            True,
        ),
        # nothing of each other's
        (
            "test_ad_failure_fails_one_in_ten",
            "test_image_slow_load_delays_images_at_the_proxy",
            False,
        ),
        (
            "test_kafka_queue_problems_floods_the_consumers",
            "test_intl_shipping_slowdown_delays_non_us_orders",
            False,
        ),
        (
            "test_load_generator_traffic_off_only_evaluates_the_flag",
            "test_payment_failure_100_fails_every_checkout",
            False,
        ),
        (
            "test_product_catalog_failure_breaks_one_product",
            "test_kafka_queue_problems_floods_the_consumers",
            False,
        ),
    ],
)
def test_the_suite_declarations_give_the_expected_conflicts(a: str, b: str, conflict: bool) -> None:
    assert _needs(a).conflicts(_needs(b)) is conflict
    assert _needs(b).conflicts(_needs(a)) is conflict  # the rule is symmetric
