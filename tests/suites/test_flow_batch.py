"""The bundled suite's flow batch (suites/otel_demo/batch.py) on a fake shop: every job is
driven before the first test checks its outcome, a failing job fails only its own test with
its own message, and TRACEBED_SUITE_BATCH=0 drives each test in its own call instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracebed.harness import Harness, HarnessOptions
from tracebed.refstack import reference_topology
from tracebed.suites.otel_demo.waiting import QUIET_S, quiet_window

pytest_plugins = ["pytester"]

CONFTEST = '''
import threading
import pytest
from tracebed.suites.otel_demo.batch import BatchContext, FlowBatch, drivers_from_env

DRIVEN = []
LOCK = threading.Lock()

class FakeShop:
    def __init__(self, on_result=None):
        self.on_result = on_result
    def close(self):
        pass
    def visit(self, name):
        with LOCK:
            DRIVEN.append(name)
        return name

class FakeHarness:
    def shop(self, timeout, on_result=None):
        return FakeShop(on_result)

@pytest.fixture
def shop(request):
    seen = request.node.stash.setdefault(RESULTS, [])
    return FakeShop(seen.append)

RESULTS = pytest.StashKey()

@pytest.fixture(scope="session")
def flow_batch(request):
    ctx = BatchContext(None, None, request.config)
    return FlowBatch(FakeHarness(), ctx, request.session, drivers_from_env())
'''

TESTS = '''
import pytest
from conftest import DRIVEN
from tracebed.suites.otel_demo.batch import Job, pre_driven

def job(ctx, name):
    if name == "skipped":
        return None
    def wait(run):
        assert run != "broken", f"{run}: a request failed"
        return run.upper()
    return Job(lambda shop: shop.visit(name), wait)

@pytest.mark.parametrize("name", ["a", "broken", "c", "skipped"])
@pre_driven(job)
def test_flow(name, flow_batch, request):
    if name == "skipped":
        pytest.skip("not on this stack")
    value = flow_batch.outcome(request)
    assert value == name.upper()
    print("DRIVEN-BEFORE", name, sorted(DRIVEN))
'''


@pytest.fixture
def suite(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_batch=TESTS)
    return pytester


def test_the_batch_drives_every_job_first_and_fails_only_the_failing_one(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("TRACEBED_SUITE_BATCH", raising=False)
    result = suite.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    # The first test already saw every job driven (the skipped one not at all).
    out = result.stdout.str()
    assert "DRIVEN-BEFORE a ['a', 'broken', 'c']" in out
    assert "AssertionError: broken: a request failed" in out
    assert "FAILED test_batch.py::test_flow[broken]" in out


def test_without_the_batch_each_test_drives_in_its_own_call(
    suite: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEBED_SUITE_BATCH", "0")
    result = suite.runpytest("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=1, skipped=1)
    out = result.stdout.str()
    assert "DRIVEN-BEFORE a ['a']" in out
    assert "DRIVEN-BEFORE c ['a', 'broken', 'c']" in out
    assert "AssertionError: broken: a request failed" in out


def test_the_quiet_window_outlasts_the_export_delay() -> None:
    assert quiet_window(0.0) == QUIET_S  # no delay at all: the floor
    for delay in (0.05, 0.5, 1.0, 5.0):  # the stand-in.s 50 ms ... the SDK default
        assert quiet_window(delay) > delay


def test_the_harness_knows_the_export_delay(tmp_path: Path) -> None:
    assert Harness(HarnessOptions(export_delay=5.0)).export_delay() == 5.0
    # A stack that does not say (here: none known yet) has the SDK default.
    assert Harness(HarnessOptions(kind="external")).export_delay() == 5.0
    # The stand-in says, in its services' environment: 50 ms.
    harness = Harness(HarnessOptions())
    harness.topology = reference_topology(tmp_path / "reference", "127.0.0.1:4317")
    assert harness.export_delay() == 0.05
