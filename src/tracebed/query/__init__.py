"""The query layer: Tracetest-compatible selectors and assertions, call-chain patterns, and the
named wait conditions (`tracebed.query.conditions`) that say when a trace is complete.

    from tracebed.query import select, assert_that
    select(trace, 'span[tracetest.span.type="rpc" rpc.service="oteldemo.CartService"]')
    assert_that(trace).has('span[name="orders publish"]', count=1, where={"messaging.system": "kafka"})
"""

from tracebed.query.api import TraceAssertion, assert_that, select
from tracebed.query.attributes import span_view, to_text
from tracebed.query.chains import (
    Call,
    ChainMismatch,
    assert_chain,
    load_chain,
    load_chains,
    match_chain,
    parse_chain,
    svc,
)
from tracebed.query.conditions import (
    Condition,
    complete_shape,
    entry_span,
    follows_chain,
    has_services,
    quiet,
    settled,
)
from tracebed.query.errors import QueryEvaluationError, QuerySyntaxError
from tracebed.query.expression import (
    Assertion,
    AssertionResult,
    EvalContext,
    Template,
    parse_assertion,
    parse_expression,
    parse_template,
)
from tracebed.query.selector import Selector, parse_selector
from tracebed.query.spec import Spec, SpecResult

__all__ = [
    "Call",
    "ChainMismatch",
    "Condition",
    "complete_shape",
    "entry_span",
    "follows_chain",
    "has_services",
    "quiet",
    "settled",
    "assert_chain",
    "load_chain",
    "load_chains",
    "match_chain",
    "parse_chain",
    "svc",
    "Assertion",
    "AssertionResult",
    "EvalContext",
    "QueryEvaluationError",
    "QuerySyntaxError",
    "Selector",
    "Spec",
    "SpecResult",
    "Template",
    "TraceAssertion",
    "assert_that",
    "parse_assertion",
    "parse_expression",
    "parse_selector",
    "parse_template",
    "select",
    "span_view",
    "to_text",
]
