"""The parsers never crash: any text parses or raises QuerySyntaxError with a sane column."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tracebed.query import QuerySyntaxError, parse_assertion, parse_selector, parse_template
from tracebed.query.chains import parse_chain

ALPHABET = st.sampled_from(list('span[]():,."\'=!<>|${}- \tattrvcontainsfirstlnth_child0123456789$.*@/\\\n'))
TOKENS = st.sampled_from([
    "span", "[", "]", ":first", ":last", ":nth_child(", ")", "name", "=", "!=", "<", ">=", " ",
    "contains", "not-contains", '"x"', "'y'", "2", "1.5", "true", ",", "attr:a.b", "var:V", "env:E",
    "|", "json_path", "'$.a'", "get_index", "length", "count", "type", "regex", "200ms", "${", "}",
    "+", "-", "->", "→", "{", "?", "*", "frontend", "checkout",
])
TEXT = st.one_of(st.text(ALPHABET, max_size=60), st.lists(TOKENS, max_size=25).map("".join), st.text(max_size=40))


def _check(parser, text: str) -> None:  # type: ignore[no-untyped-def]
    try:
        parser(text)
    except QuerySyntaxError as exc:
        assert 1 <= exc.column <= len(text) + 1
        assert exc.expected and str(exc).startswith("syntax error at column")


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_selector_parser_never_crashes(text: str) -> None:
    parse_selector.cache_clear()
    _check(parse_selector, text)


@settings(max_examples=400, deadline=None)
@given(TEXT)
def test_assertion_parser_never_crashes(text: str) -> None:
    _check(parse_assertion, text)


@settings(max_examples=200, deadline=None)
@given(TEXT)
def test_template_parser_never_crashes(text: str) -> None:
    _check(parse_template, text)


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_chain_parser_never_crashes(text: str) -> None:
    _check(parse_chain, text)


ASSERTION_TOKENS = st.sampled_from([
    "attr:a", "attr:body", "var:V", "env:E", "1", "0", "2.5", "200ms", "1h", '"x"', "'[1, 2]'", "'{\"a\": [1]}'",
    " = ", " != ", " < ", " >= ", " contains ", " not-contains ", " + ", " - ", " * ", " / ",
    " | json_path '$.a'", " | json_path '$[*]'", " | regex '[0-9]+'", " | regex_group '(x)(y)'",
    " | get_index 0", " | get_index 'last'", " | length", " | count", " | type", "[1, 2s]",
    "uuid()", "randomInt(1, 2)", "randomInt(\"a\", 2)", '"${attr:a}"',
])


@settings(max_examples=300, deadline=None)
@given(st.lists(ASSERTION_TOKENS, min_size=1, max_size=8).map("".join),
       st.sampled_from(["", "1", "abc", '{"a": [1, 2]}', "[1, 2]", "9" * 400, "1e308"]))
def test_evaluation_never_crashes(text: str, value: str) -> None:
    from tracebed.query import EvalContext

    try:
        assertion = parse_assertion(text)
    except QuerySyntaxError:
        return
    result = assertion.evaluate(EvalContext({"a": value, "body": value}, 1, {"V": value}, {"E": value}))
    assert isinstance(result.passed, bool)
    assert result.passed or result.error is None or isinstance(result.error, str)


def test_a_duration_beyond_a_float_compares_without_crashing() -> None:
    # the case hypothesis found: 400 digits become inf as a float, and int(inf) raised
    from tracebed.query import EvalContext

    for text, passed in (("attr:a > 200ms", True), ("attr:a = 200ms", False), ("attr:b < 1s", True)):
        result = parse_assertion(text).evaluate(EvalContext({"a": "9" * 400, "b": "-" + "9" * 400}, 1, {}, {}))
        assert result.passed is passed, text
