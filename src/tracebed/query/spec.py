"""A Tracetest spec (selector + assertions) evaluated on a trace, with a readable result."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tracebed.model import Span, Trace
from tracebed.query.attributes import span_view
from tracebed.query.expression import Assertion, AssertionResult, EvalContext, parse_assertion
from tracebed.query.selector import Selector, parse_selector


@dataclass(frozen=True)
class Spec:
    selector: Selector
    assertions: tuple[Assertion, ...]
    name: str = ""

    @staticmethod
    def parse(selector: str, assertions: Sequence[str], name: str = "") -> Spec:
        return Spec(parse_selector(selector), tuple(parse_assertion(a) for a in assertions), name)

    @property
    def title(self) -> str:
        return self.name or self.selector.text or "(all spans)"

    def needs(self, trace: Trace, variables: Mapping[str, str] | None = None) -> bool:
        """True once the trace holds what this spec looks at (used to decide when to stop waiting).

        A spec that asserts on `tracetest.selected_spans.count` needs those assertions to hold;
        any other spec needs its selector to match at least one span.
        """
        spans = self.selector.select(trace)
        meta = [a for a in self.assertions if a.is_meta]
        if meta:
            ctx = EvalContext(selected_count=len(spans), variables=variables or {})
            return all(a.evaluate(ctx).passed for a in meta)
        return bool(spans)

    def evaluate(self, trace: Trace, variables: Mapping[str, str] | None = None) -> SpecResult:
        spans = self.selector.select(trace)
        variables = variables or {}
        results: list[AssertionOutcome] = []
        for assertion in self.assertions:
            if assertion.is_meta:
                ctx = EvalContext(selected_count=len(spans), variables=variables)
                results.append(AssertionOutcome(assertion, [(None, assertion.evaluate(ctx))]))
                continue
            per_span: list[tuple[Span | None, AssertionResult]] = [
                (span, assertion.evaluate(EvalContext(span_view(span), len(spans), variables)))
                for span in spans
            ]
            results.append(AssertionOutcome(assertion, per_span))
        return SpecResult(self, tuple(spans), tuple(results))


@dataclass(frozen=True)
class AssertionOutcome:
    assertion: Assertion
    results: list[tuple[Span | None, AssertionResult]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        # No selected span: nothing to check, so it cannot pass (Tracetest reports an empty run).
        return bool(self.results) and all(r.passed for _, r in self.results)

    def describe(self) -> str:
        mark = "✓" if self.passed else "✗"
        if not self.results:
            return f"  {mark} {self.assertion.text}  (no span selected)"
        actual = ", ".join(_shown(r) for _, r in self.results[:10])
        more = f" … {len(self.results) - 10} more" if len(self.results) > 10 else ""
        lines = [f"  {mark} {self.assertion.text}  (actual: {actual}{more})"]
        for span, result in self.results:
            if result.error:
                where = f"{span.service}: {span.name} [{span.span_id}]" if span else "selection"
                lines.append(f"      {where}: {result.error}")
        return "\n".join(lines)


def _shown(result: AssertionResult) -> str:
    return repr(result.actual) if len(result.actual) <= 80 else repr(result.actual[:77] + "...")


@dataclass(frozen=True)
class SpecResult:
    spec: Spec
    spans: tuple[Span, ...]
    outcomes: tuple[AssertionOutcome, ...]

    @property
    def passed(self) -> bool:
        return all(o.passed for o in self.outcomes)

    @property
    def span_ids(self) -> list[str]:
        return [s.span_id for s in self.spans]

    def describe(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        lines = [
            f"{mark} {self.spec.title}",
            f"  selector: {self.spec.selector.text or '(empty: all spans)'}",
            f"  matched: {len(self.spans)} span(s)",
        ]
        lines += [o.describe() for o in self.outcomes]
        return "\n".join(lines)
