"""Selectors against hand-built traces, including the examples of Tracetest's selector docs."""

from __future__ import annotations

import pytest

from tracebed.model import SpanKind, StatusCode, Trace
from tracebed.query import QuerySyntaxError, parse_selector, select

from .helpers import TRACE_ID, docs_trace, ids, span


@pytest.fixture(scope="module")
def trace() -> Trace:
    return docs_trace()


# -- the documented examples ------------------------------------------------------------------
def test_empty_selector_selects_every_span_in_tree_order(trace: Trace) -> None:
    assert ids(select(trace, "")) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert ids(select(trace, "   ")) == list(range(1, 12))


def test_filter_by_type(trace: Trace) -> None:
    assert ids(select(trace, 'span[tracetest.span.type="http"]')) == [1, 2, 4, 6, 7, 9]


def test_and_with_space_and_with_comma(trace: Trace) -> None:
    assert ids(select(trace, 'span[tracetest.span.type="http" service.name="cart-api"]')) == [1, 6]
    # Tracetest's docs write a comma inside the brackets too; it is still AND.
    assert ids(select(trace, 'span[service.name="cart-api", name="purchase products"]')) == [6]


def test_or_merges_in_order_without_duplicates(trace: Trace) -> None:
    sel = 'span[service.name="product-api"], span[service.name="auth-api"], span[service.name="product-api"]'
    assert ids(select(trace, sel)) == [2, 3, 4, 5, 7, 8]


def test_contains_operator(trace: Trace) -> None:
    assert ids(select(trace, 'span[service.name contains "api"]')) == list(range(1, 11))
    assert ids(select(trace, 'span[service.name not-contains "api"]')) == [11]


def test_pseudo_classes(trace: Trace) -> None:
    assert ids(select(trace, 'span[tracetest.span.type="http"]:first')) == [1]
    assert ids(select(trace, 'span[tracetest.span.type="http"]:last')) == [9]
    assert ids(select(trace, 'span[tracetest.span.type="http"]:nth_child(3)')) == [4]


@pytest.mark.parametrize("n", [0, -1, 7, 100])
def test_nth_child_out_of_range_selects_nothing(trace: Trace, n: int) -> None:
    assert select(trace, f'span[tracetest.span.type="http"]:nth_child({n})') == []


def test_parent_child_selects_in_the_whole_subtree(trace: Trace) -> None:
    assert ids(select(trace, 'span[service.name="auth-api" tracetest.span.type="http"]')) == [4, 7]
    sel = 'span[service.name="cart-api", name="purchase products"] span[service.name="auth-api" tracetest.span.type="http"]'
    assert ids(select(trace, sel)) == [7]
    # "recursively in all levels below the parent", not only direct children
    assert ids(select(trace, 'span[name="close order"] span[tracetest.span.type="database"]')) == [3, 5, 8]


def test_descendant_includes_the_parent_itself_like_tracetest(trace: Trace) -> None:
    # Tracetest's engine searches the parent's subtree starting at the parent.
    assert ids(select(trace, 'span[service.name="cart-api"] span[name="purchase products"]')) == [6]


def test_pseudo_on_child_applies_per_parent(trace: Trace) -> None:
    sel = 'span[tracetest.span.type="http" service.name="product-api"] span[tracetest.span.type="database"]:first'
    assert ids(select(trace, sel)) == [3]
    sel = 'span[name="purchase products"] span[tracetest.span.type="database"]:last'
    assert ids(select(trace, sel)) == [8]


def test_three_level_chain(trace: Trace) -> None:
    sel = 'span[name="close order"] span[name="purchase products"] span[kind="consumer"]'
    assert ids(select(trace, sel)) == [11]


# -- pseudo-attributes ------------------------------------------------------------------------
def test_kind_name_type_and_status() -> None:
    t = Trace(TRACE_ID, [
        span(1, "GET /", kind=SpanKind.SERVER, http__request__method="GET"),
        span(2, "oteldemo.CartService/GetCart", 1, kind=SpanKind.CLIENT, rpc__system="grpc",
             http__method="POST", status=StatusCode.ERROR, message="boom"),
        span(3, "HGET", 2, db__system="redis", status=StatusCode.OK),
        span(4, "orders publish", 1, kind=SpanKind.PRODUCER, messaging__system="kafka"),
        span(5, "work", 1),
    ])
    assert ids(select(t, 'span[kind="server"]')) == [1]
    assert ids(select(t, 'span[tracetest.span.kind="producer"]')) == [4]
    assert ids(select(t, 'span[tracetest.span.type="rpc"]')) == [2]  # rpc wins over http
    assert ids(select(t, 'span[tracetest.span.type="database"]')) == [3]
    assert ids(select(t, 'span[tracetest.span.type="messaging"]')) == [4]
    assert ids(select(t, 'span[tracetest.span.type="general"]')) == [5]
    assert ids(select(t, 'span[tracetest.span.status_code="STATUS_CODE_ERROR"]')) == [2]
    assert ids(select(t, 'span[tracetest.span.status_code="error"]')) == [2]
    assert ids(select(t, 'span[tracetest.span.status_code="ok"]')) == [3]
    assert ids(select(t, 'span[tracetest.span.status_code="unset"]')) == [1, 4, 5]
    assert ids(select(t, 'span[tracetest.span.status_description="boom"]')) == [2]
    assert ids(select(t, 'span[name="HGET" service.name="svc"]')) == [3]


def test_value_types_and_numeric_operators() -> None:
    t = Trace(TRACE_ID, [
        span(1, "a", **{"http.status_code": 200, "retry": True, "ratio": 0.25}),
        span(2, "b", 1, **{"http.status_code": 503, "retry": False, "ratio": 1.0}),
        span(3, "c", 1, **{"http.status_code": "404"}),
    ])
    assert ids(select(t, "span[http.status_code=200]")) == [1]
    assert ids(select(t, 'span[http.status_code="200"]')) == [1]
    assert ids(select(t, "span[http.status_code>=400]")) == [2, 3]
    assert ids(select(t, "span[http.status_code<404]")) == [1]
    assert ids(select(t, "span[http.status_code<=404 http.status_code>200]")) == [3]
    assert ids(select(t, "span[http.status_code!=200]")) == [2, 3]
    assert ids(select(t, "span[retry=true]")) == [1]
    assert ids(select(t, "span[retry=false]")) == [2]
    assert ids(select(t, "span[ratio=0.25]")) == [1]
    assert ids(select(t, "span[ratio=1]")) == [2]
    assert ids(select(t, "span[ratio<0.5]")) == [1]
    # a missing attribute is "" (Tracetest): it never equals a value, and `!=` matches it
    assert ids(select(t, "span[retry!=true]")) == [2, 3]
    # `<` on a non-number does not match (no error)
    assert select(t, 'span[name<"b"]') == []


def test_duration_pseudo_attribute() -> None:
    t = Trace(TRACE_ID, [span(1, "slow", duration_ms=1500), span(2, "fast", 1, duration_ms=2)])
    assert ids(select(t, "span[tracetest.span.duration>1000000000]")) == [1]


def test_strings_with_escapes_and_single_quotes() -> None:
    t = Trace(TRACE_ID, [span(1, 'say "hi"'), span(2, "it's", 1)])
    assert ids(select(t, r'span[name="say \"hi\""]')) == [1]
    assert ids(select(t, "span[name='say \"hi\"']")) == [1]
    assert ids(select(t, r"span[name='it\'s']")) == [2]


def test_resource_attributes_are_visible_and_span_attributes_win() -> None:
    s = span(1, "x", service="frontend", **{"service.name": "override"})
    assert select([s], 'span[service.name="override"]') == [s]
    assert select([span(1, "x", service="frontend")], 'span[service.name="frontend"]')


def test_orphans_are_searched_too() -> None:
    # a span whose parent has not arrived is still a top of the tree
    t = Trace(TRACE_ID, [span(1, "root"), span(5, "orphan", 99)])
    assert ids(select(t, 'span[name="orphan"]')) == [5]


def test_selector_object_round_trip_and_cache() -> None:
    sel = parse_selector('span[name="a"]:first')
    assert parse_selector('span[name="a"]:first') is sel  # parsed once
    assert sel.text == 'span[name="a"]:first'


# -- syntax errors ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("span", 5, "'['"),
        ("span[]", 6, "an attribute filter"),
        ("span[name]", 10, "an operator"),
        ('span[name="x"', 14, "']'"),
        ('span[name="x]', 14, 'a closing "'),
        ('span[name="x"]:foo', 16, "a pseudo-class"),
        ('span[name="x"]:nth_child(a)', 26, "a whole number"),
        ('span[name="x"]:nth_child(2', 27, "')'"),
        ('span[name="x"]span[a=1]', 15, "a space between"),
        ("span[name=x]", 11, "a value"),
        ('span[name="x"] ,', 17, "span[...]"),
        ('span[name == "x"]', 12, "a value"),
        ('span[name="x"] foo', 16, "',' (another selector)"),
        ('foo[name="x"]', 1, "span[...]"),
        ('span[name ~ "x"]', 11, "an operator"),
        ('span[name containsx "x"]', 11, "an operator"),
    ],
)
def test_syntax_errors_name_the_column_and_what_was_expected(text: str, column: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_selector(text)
    assert info.value.column == column, str(info.value)
    assert expected in info.value.expected, str(info.value)
    # the message shows the text and a caret under the column
    lines = str(info.value).splitlines()
    assert lines[0].startswith(f"syntax error at column {column}: expected")
    assert lines[2].index("^") - 2 == column - 1
