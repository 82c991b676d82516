"""Running Tracetest tests and suites: trigger, wait for the trace, evaluate every spec.

`run(test, source, hosts)` fires the test's trigger with a trace id tracebed chose, waits in
`source` (a `SpanStore`, or the sink's HTTP API through `SinkClient`) until every spec's
selector finds what it needs and no span arrived for a quiet window, and evaluates each spec
on the trace (with the "Tracetest trigger" span at its root). `run_resource` runs a suite's
steps in order, the `outputs` of each becoming variables of the later ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tracebed.flows.context import TraceContext
from tracebed.model import Span, Trace, TraceTimeoutError
from tracebed.model.source import TraceSource
from tracebed.query.attributes import span_view
from tracebed.query.conditions import Condition
from tracebed.query.errors import QueryEvaluationError
from tracebed.query.expression import EvalContext
from tracebed.query.spec import Spec, SpecResult
from tracebed.tracetest import triggers
from tracebed.tracetest.definition import (
    GrpcTrigger,
    HttpTrigger,
    SuiteDefinition,
    TestDefinition,
    TraceIdTrigger,
)
from tracebed.tracetest.hosts import HostMap
from tracebed.tracetest.triggers import TriggerError, TriggerResponse
from tracebed.tracetest.variables import Variables

DEFAULT_TIMEOUT_S = 30.0
#: How long a trigger's own request may take. Not the trace timeout: a short wait for the
#: trace (a test that expects a span never to come) must not cut the request off under load.
TRIGGER_TIMEOUT_S = 30.0
DEFAULT_QUIET_S = 0.5
TRIGGER_TITLE = "trigger"  # the one check of a test without specs: its trigger succeeded


def spec_title(spec: Spec, number: int) -> str:
    """How a spec is named in reports: its name, else `spec N: selector`."""
    return spec.name or f"spec {number + 1}: {spec.selector.text or '(all spans)'}"


def checks(test: TestDefinition) -> list[tuple[int | None, str]]:
    """(spec index, title) of each check a test reports; a test without specs reports its
    trigger (index None)."""
    if not test.specs:
        return [(None, TRIGGER_TITLE)]
    return [(number, spec_title(spec, number)) for number, spec in enumerate(test.specs)]


@dataclass
class Verdict:
    """One check of a test: passed or not, with the whole story when not."""

    title: str
    index: int | None
    passed: bool
    detail: str  # failed: what went wrong; passed: the spec's result
    summary: str = ""  # one line: selector, span count, actual values
    marks: tuple[str, ...] = ()  # the spans the spec selected
    trace: Trace | None = field(default=None, repr=False)

    @property
    def message(self) -> str:
        """The detail and, for a failed spec, the trace tree with its selected spans marked."""
        if self.passed or self.trace is None:
            return self.detail
        return f"{self.detail}\n{self.trace.render(marks=list(self.marks))}"


@dataclass
class TestResult:
    """What running one test found: the trigger's response, the trace, each spec's result."""

    __test__ = False  # not a pytest test class, whatever its name

    test: TestDefinition
    trace_id: str = ""
    trace: Trace | None = None
    response: TriggerResponse | None = None
    error: str | None = None  # the test could not run (trigger failed, bad template, no sink)
    results: list[SpecResult] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)
    timeout_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def verdict(self, index: int | None) -> Verdict:
        title = TRIGGER_TITLE if index is None else spec_title(self.test.specs[index], index)
        name = self.test.title
        if self.error:
            return Verdict(title, index, False, f"{name}: {self.error}")
        if index is None:
            if self.response is not None and self.response.error:
                return Verdict(title, index, False, f"{name}: {self.response.error}")
            return Verdict(title, index, True, "")
        result = self.results[index]
        summary = summary_line(result)
        if result.passed:
            return Verdict(title, index, True, result.describe(), summary)
        lines = [result.describe(), ""]
        if not result.spans and self.timeout_reason:
            lines.append(self.timeout_reason)
        lines += [f"note: {note}" for note in self.notes]
        return Verdict(
            title, index, False, "\n".join(lines), summary, tuple(result.span_ids), self.trace
        )

    def verdicts(self) -> list[Verdict]:
        return [self.verdict(index) for index, _ in checks(self.test)]

    @property
    def passed(self) -> bool:
        return all(v.passed for v in self.verdicts())


def run(
    test: TestDefinition,
    source: TraceSource,
    hosts: HostMap,
    variables: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    quiet: float = DEFAULT_QUIET_S,
    proto_path: Sequence[str | Path] = (),
) -> TestResult:
    """Fire the test's trigger, wait for its trace in `source`, evaluate its specs and outputs.

    Never raises for what the test finds: a failed trigger is the result's `error`, a trace
    that never completed its `timeout_reason` (the specs are evaluated on what arrived).
    """
    variables = variables if variables is not None else {}
    result = TestResult(test)
    ctx = EvalContext(variables=variables)
    trigger = test.trigger
    trigger_span: Span | None = None
    try:
        if isinstance(trigger, TraceIdTrigger):
            result.trace_id = trigger.id.render(ctx).strip().lower()
        elif isinstance(trigger, HttpTrigger | GrpcTrigger):
            context = TraceContext.fresh()
            result.trace_id = context.trace_id
            if isinstance(trigger, HttpTrigger):
                result.response = triggers.http(
                    trigger, ctx, hosts, context, max(timeout, TRIGGER_TIMEOUT_S)
                )
            else:
                result.response = triggers.grpc(
                    trigger,
                    ctx,
                    hosts,
                    context,
                    test.path,
                    max(timeout, TRIGGER_TIMEOUT_S),
                    proto_path,
                )
            trigger_span = triggers.trigger_span(context, result.response)
        else:
            result.error = "the test has no trigger"
            return result
    except QueryEvaluationError as exc:
        result.error = f"trigger: {exc}"
        return result
    except TriggerError as exc:
        result.error = f"trigger failed: {exc}"
        return result
    if result.response is not None and result.response.error:
        result.notes.append(f"trigger: {result.response.error}")
    result.trace = _wait(result, source, trigger_span, variables, timeout, quiet)
    result.results = [spec.evaluate(result.trace, variables) for spec in test.specs]
    for output in test.outputs:
        spans = output.selector.select(result.trace)
        if not spans:
            result.notes.append(
                f"output {output.name}: selector {output.selector.text!r} matched no span"
            )
            continue
        try:
            value = output.value.evaluate(EvalContext(span_view(spans[0]), len(spans), variables))
        except QueryEvaluationError as exc:
            result.notes.append(f"output {output.name}: {exc}")
            continue
        result.outputs[output.name] = str(value)
    return result


def _wait(
    result: TestResult,
    source: TraceSource,
    trigger_span: Span | None,
    variables: Mapping[str, str],
    timeout: float,
    quiet: float,
) -> Trace:
    test = result.test
    extra = [trigger_span] if trigger_span else []

    def view(trace: Trace) -> Trace:
        return Trace(trace.trace_id, [*extra, *trace], source) if extra else trace

    def specs_find_their_spans(trace: Trace) -> bool:
        full = view(trace)
        return all(spec.needs(full, variables) for spec in test.specs) and all(
            output.selector.select(full) for output in test.outputs
        )

    complete = Condition(specs_find_their_spans, "every spec's selector finds its spans")
    if extra and complete(Trace(result.trace_id, [])):
        # Everything asked for is on the trigger span: no need to wait for the backend's spans.
        return view(source.get_trace(result.trace_id) or Trace(result.trace_id, [], source))
    try:
        trace = source.wait_for_trace(result.trace_id, until=complete, quiet=quiet, timeout=timeout)
    except TraceTimeoutError as exc:
        result.timeout_reason = (
            f"trace {result.trace_id} not complete after {exc.waited:.1f}s: {exc.reason}"
        )
        trace = exc.trace
    return view(trace)


def run_resource(
    resource: TestDefinition | SuiteDefinition,
    source: TraceSource,
    hosts: HostMap,
    variables: Mapping[str, str] | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    quiet: float = DEFAULT_QUIET_S,
    proto_path: Sequence[str | Path] = (),
    on_result: Callable[[TestResult], None] | None = None,
) -> list[TestResult]:
    """A test, or a suite's steps in order (each step's outputs are variables of the later
    ones); `on_result` sees each step's result as soon as it is there."""
    steps = resource.steps if isinstance(resource, SuiteDefinition) else (resource,)
    outputs: dict[str, str] = {}
    results: list[TestResult] = []
    for test in steps:
        known = _with_values(variables, outputs)
        step = run(
            test, source, hosts, known, timeout=timeout, quiet=quiet, proto_path=proto_path
        )
        outputs.update(step.outputs)
        results.append(step)
        if on_result is not None:
            on_result(step)
    return results


def _with_values(variables: Mapping[str, str] | None, values: Mapping[str, str]) -> Mapping[str, str]:
    if isinstance(variables, Variables):  # keeps its `*_ADDR` lookup
        return variables.with_values(values)
    return {**(variables or {}), **values}


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def summary_line(result: SpecResult) -> str:
    """One line for `pytest -v` and the CLI: the selector, how many spans it matched, and each
    expectation's actual value."""
    selector = " ".join((result.spec.selector.text or "(all spans)").split())
    if len(selector) > 80:
        selector = selector[:79] + "…"
    parts = [f"{selector} → {len(result.spans)} span(s)"]
    for outcome in result.outcomes:
        actual = ", ".join(_short(r.actual) for _, r in outcome.results[:3]) or "-"
        more = ", …" if len(outcome.results) > 3 else ""
        parts.append(f"{' '.join(outcome.assertion.text.split())} → {actual}{more}")
    return "; ".join(parts)
