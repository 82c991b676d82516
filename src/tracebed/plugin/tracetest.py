"""pytest plugin (tracetest): Tracetest `type: Test` / `TestSuite` YAML files run as pytest items.

`pytest DIR` collects the Tracetest files pytest is pointed at (any other YAML is left alone).
Every spec of a test is its own item; the test runs once (`tracebed.tracetest.run`), before
its first spec, and a suite's steps run in order, their `outputs` feeding the later steps.

Options (in the one table of plugin/core.py, so each is also an ini key): `--tracebed-var`,
`--tracebed-vars-file`, `--tracebed-host-map`, `--tracebed-proto-path`,
`--tracebed-tracetest-quiet`, `--tracebed-tracetest-timeout` (default: the trace timeout),
`--tracebed-no-tracetest`. An unset `*_ADDR` variable and an unmapped host are located through
the `demo_stack` fixture; the spans come from the `span_sink` fixture (anything with `.store`,
or a SpanStore).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tracebed.errors import ExpectationFailed
from tracebed.model.source import DEFAULT_QUIET_S, quiet_after_export_delay
from tracebed.plugin.core import add_options, option
from tracebed.tracetest.definition import (
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    load,
    looks_like_tracetest,
    steps_run_by_suites,
    top_type,
)
from tracebed.tracetest.hosts import HostMap, HostMapError
from tracebed.tracetest.runner import DEFAULT_TIMEOUT_S, TestResult, checks, run
from tracebed.tracetest.variables import Variables, VariablesError


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)  # the same table as the core plugin's (registered once)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tracetest: an item generated from a Tracetest YAML file")


def tracetest_timeout(config: pytest.Config) -> float:
    """--tracebed-tracetest-timeout, else --tracebed-trace-timeout (each also an ini key)."""
    value = option(config, "tracetest-timeout")
    if value in (None, ""):
        value = option(config, "trace-timeout")
    return float(value) if value not in (None, "") else DEFAULT_TIMEOUT_S


# -- collection -------------------------------------------------------------------------------
_SUITE_STEPS_KEY = pytest.StashKey[dict[Path, set[Path]]]()


def _explicit_paths(config: pytest.Config) -> set[Path]:
    base = Path(config.invocation_params.dir)
    return {(base / str(arg).split("::")[0]).resolve() for arg in config.args}


def _covered_by_suite(path: Path, config: pytest.Config) -> bool:
    """A Test that a suite beside it runs is collected through the suite (not twice)."""
    cache: dict[Path, set[Path]] = config.stash.setdefault(_SUITE_STEPS_KEY, {})
    directory = path.parent.resolve()
    if directory not in cache:
        cache[directory] = steps_run_by_suites(directory)
    return path.resolve() in cache[directory]


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or option(parent.config, "no-tracetest"):
        return None
    if not looks_like_tracetest(file_path):
        return None
    if (
        top_type(file_path) == "Test"
        and file_path.resolve() not in _explicit_paths(parent.config)
        and _covered_by_suite(file_path, parent.config)
    ):
        return None
    result: pytest.Collector = TracetestFile.from_parent(parent, path=file_path)
    return result


class TracetestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            resource = load(self.path)
        except TracetestFileError as exc:
            raise self.CollectError(str(exc)) from None
        if resource is None:
            return
        suite = SuiteRun()
        steps = resource.steps if isinstance(resource, SuiteDefinition) else (resource,)
        for index, test in enumerate(steps, 1):
            prefix = (
                f"[{index}] {test.title}" if isinstance(resource, SuiteDefinition) else test.title
            )
            step = StepRun(test, suite, index)
            suite.runs.append(step)
            for number, title in checks(test):
                yield TracetestItem.create(self, f"{prefix}::{title}", step, number)


# -- running (once per test, for all its items) -----------------------------------------------
class TracetestFailure(ExpectationFailed):
    """A spec (or the trigger) failed; the message is the whole story, no traceback needed."""


@dataclass
class SuiteRun:
    """State shared by the steps of one file: outputs feed the later steps."""

    runs: list[StepRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class StepRun:
    test: TestDefinition
    suite: SuiteRun
    index: int
    result: TestResult | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, request: pytest.FixtureRequest) -> TestResult:
        with self.lock:
            if self.result is None:
                try:
                    self.result = self._run(request)
                except BaseException as exc:  # the later items of this test say so too
                    self.result = TestResult(self.test, error=f"could not run: {exc}")
                    raise
                self.suite.outputs.update(self.result.outputs)
            return self.result

    def _run(self, request: pytest.FixtureRequest) -> TestResult:
        config = request.config
        try:
            sink = request.getfixturevalue("span_sink")
        except pytest.FixtureLookupError:
            return TestResult(
                self.test,
                error=(
                    "Tracetest items need the `span_sink` fixture (tracebed.plugin.core provides "
                    "it; in a conftest, any object with `.store` or a SpanStore will do)"
                ),
            )
        try:
            hosts = HostMap.parse(option(config, "host-map") or (), _stack_locator(request))
        except HostMapError as exc:
            raise pytest.UsageError(f"--tracebed-host-map: {exc}") from None
        try:
            variables = Variables.load(
                option(config, "vars-file") or (), option(config, "var") or (), hosts.locate
            )
        except VariablesError as exc:
            flag = "--tracebed-vars-file" if exc.what == "file" else "--tracebed-var"
            raise pytest.UsageError(f"{flag}: {exc}") from None
        return run(
            self.test,
            getattr(sink, "store", sink),
            hosts,
            variables.with_values(self.suite.outputs),
            timeout=tracetest_timeout(config),
            quiet=_quiet(request),
            proto_path=option(config, "proto-path") or (),
        )


def _quiet(request: pytest.FixtureRequest) -> float:
    """`--tracebed-tracetest-quiet`, else 0.5 s or, when the session's harness knows the
    stack's export delay, a window longer than it (a shorter one could end while a span
    still waits in some process)."""
    given = option(request.config, "tracetest-quiet")
    if given not in (None, ""):
        return float(given)
    try:
        harness = request.getfixturevalue("tracebed_harness")
    except pytest.FixtureLookupError:
        return DEFAULT_QUIET_S
    stack = getattr(harness, "demo_stack", None)
    delay = stack.export_delay if stack is not None else harness.options.export_delay
    return DEFAULT_QUIET_S if delay is None else quiet_after_export_delay(delay)


def _stack_locator(request: pytest.FixtureRequest) -> Any:
    """`service -> URL` through the `demo_stack` fixture, looked up only when first needed."""
    state: dict[str, Any] = {}

    def locate(service: str) -> str | None:
        if "stack" not in state:
            try:
                state["stack"] = request.getfixturevalue("demo_stack")
            except pytest.FixtureLookupError:
                state["stack"] = None
        stack = state["stack"]
        if stack is None:
            return None
        try:
            return str(stack.url(service))
        except (LookupError, ValueError, AttributeError):  # not a service of this stack
            return None

    return locate


# -- items ------------------------------------------------------------------------------------
class TracetestItem(pytest.Function):
    """One spec of a Tracetest test. It is a pytest Function so that it can use fixtures."""

    step: StepRun
    spec_index: int | None

    @classmethod
    def create(
        cls, parent: TracetestFile, name: str, step: StepRun, spec_index: int | None
    ) -> TracetestItem:
        def tracetest_spec(request: pytest.FixtureRequest) -> None:
            item = request.node
            assert isinstance(item, TracetestItem)
            item.check(request)

        item: TracetestItem = cls.from_parent(parent, name=name, callobj=tracetest_spec)
        item.step = step
        item.spec_index = spec_index
        item.add_marker(pytest.mark.tracetest)
        # keep a suite's steps on one worker under `pytest -n N --dist loadgroup`
        item.add_marker(pytest.mark.xdist_group(name=str(parent.path)))
        return item

    def check(self, request: pytest.FixtureRequest) -> None:
        step = self.step
        for earlier in step.suite.runs:
            if earlier.index < step.index:
                earlier.ensure(request)  # outputs of earlier steps are needed even under -k
        result = step.ensure(request)
        if result.trace_id:
            self._attach(result)
        verdict = result.verdict(self.spec_index)
        self.summary = verdict.summary
        if not verdict.passed:
            raise TracetestFailure(verdict.message)
        if verdict.message:
            self.add_report_section("call", "tracetest", verdict.message)

    def _attach(self, result: TestResult) -> None:
        try:
            from tracebed.plugin.report import attach_trace, attach_trace_id
        except ImportError:  # the report plugin is optional
            self.user_properties.append(("trace_id", result.trace_id))
            return
        if result.trace is not None and len(result.trace):
            attach_trace(self, result.trace)
        else:
            attach_trace_id(self, result.trace_id)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.step.test.line - 1, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, TracetestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[arg-type]


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if isinstance(item, TracetestItem) and report.when == "call":
        summary = getattr(item, "summary", "")
        if summary:
            report.tracetest_summary = summary
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    summary = getattr(report, "tracetest_summary", "")
    if not summary or report.when != "call" or config.option.verbose < 1:
        return None
    word = "PASSED" if report.passed else "FAILED"
    letter = "." if report.passed else "F"
    markup = {"green": True} if report.passed else {"red": True}
    return report.outcome, letter, (f"{word} ({summary})", markup)


__all__ = ["TracetestFile", "TracetestItem"]
