"""The Python face of the query layer: `select(trace, ...)` and `assert_that(trace).has(...)`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from tracebed.errors import ExpectationFailed
from tracebed.model import Span, Trace
from tracebed.query.attributes import span_view, to_text
from tracebed.query.chains import Call, assert_chain
from tracebed.query.expression import EvalContext, parse_assertion
from tracebed.query.selector import Selector, parse_selector, select
from tracebed.query.values import compare_text

if TYPE_CHECKING:
    from tracebed.model import SpanStore

__all__ = ["TraceAssertion", "assert_that", "select"]


class TraceAssertion:
    """Fluent checks on one trace; every failure shows the tree with the selected spans marked.

        assert_that(trace).has('span[rpc.service="oteldemo.PaymentService"]', count=1,
                                where={"rpc.grpc.status_code": 0})
        assert_that(trace).has("span[name=\"x\"]", min_count=1, expect=["attr:tracetest.span.duration < 1s"])
        assert_that(trace).lacks('span[tracetest.span.status_code="STATUS_CODE_ERROR"]')
    """

    def __init__(self, trace: Trace, variables: Mapping[str, str] | None = None):
        self.trace = trace
        self.variables = dict(variables or {})

    def select(self, selector: str | Selector) -> list[Span]:
        return select(self.trace, selector)

    def has(
        self,
        selector: str | Selector,
        count: int | None = None,
        *,
        min_count: int | None = None,
        max_count: int | None = None,
        where: Mapping[str, Any] | None = None,
        expect: Iterable[str] = (),
    ) -> list[Span]:
        """Select spans and check them. Without any count, at least one span must match.

        `where` compares attributes for equality on every selected span (values as Python:
        `0`, `"ok"`, `True`); `expect` takes Tracetest assertions (`attr:x >= 3`).
        Returns the selected spans.
        """
        parsed = parse_selector(selector) if isinstance(selector, str) else selector
        spans = parsed.select(self.trace)
        problems: list[str] = []
        if count is not None and len(spans) != count:
            problems.append(f"expected {count} span(s), selected {len(spans)}")
        if min_count is not None and len(spans) < min_count:
            problems.append(f"expected at least {min_count} span(s), selected {len(spans)}")
        if max_count is not None and len(spans) > max_count:
            problems.append(f"expected at most {max_count} span(s), selected {len(spans)}")
        if count is None and min_count is None and max_count is None and not spans:
            problems.append("expected at least one span, selected none")
        for key, wanted in (where or {}).items():
            for span in spans:
                actual = span_view(span).get(key)
                if actual is None or not compare_text("=", actual, to_text(wanted), key=key):
                    problems.append(
                        f"{span.service}: {span.name} [{span.span_id}]: {key} is "
                        f"{'missing' if actual is None else repr(actual)}, expected {to_text(wanted)!r}"
                    )
        for text in expect:
            assertion = parse_assertion(text)
            targets: list[Span | None] = [None] if assertion.is_meta else list(spans)
            for target in targets:
                ctx = EvalContext(span_view(target) if target else {}, len(spans), self.variables)
                result = assertion.evaluate(ctx)
                if not result.passed:
                    where_ = f"{target.service}: {target.name} [{target.span_id}]" if target else "selection"
                    detail = f" ({result.error})" if result.error else ""
                    problems.append(f"{where_}: {text} failed: actual {result.actual!r}{detail}")
        if problems:
            raise ExpectationFailed(self._message(parsed, spans, problems))
        return spans

    def lacks(self, selector: str | Selector) -> None:
        """No span matches `selector`."""
        self.has(selector, count=0)

    def follows(self, chain: str | Call, *, exact: bool = False, correlate: Sequence[str] = (),
                store: SpanStore | None = None) -> None:
        """The trace's service calls follow a chain pattern (see `tracebed.query.chains`)."""
        assert_chain(self.trace, chain, exact=exact, correlate=correlate, store=store)

    def _message(self, selector: Selector, spans: list[Span], problems: list[str]) -> str:
        shown = problems[:20] + ([f"… {len(problems) - 20} more"] if len(problems) > 20 else [])
        return (
            f"selector {selector.text or '(all spans)'!r} matched {len(spans)} span(s):\n  "
            + "\n  ".join(shown)
            + "\n\n"
            + self.trace.render(marks={s.span_id for s in spans})
        )


def assert_that(trace: Trace, variables: Mapping[str, str] | None = None) -> TraceAssertion:
    return TraceAssertion(trace, variables)
