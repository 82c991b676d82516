"""Assertions and expressions: comparators, types, durations, filters, variables, errors."""

from __future__ import annotations

import pytest

from tracebed.query import (
    EvalContext,
    QuerySyntaxError,
    parse_assertion,
    parse_expression,
    parse_template,
)


def check(text: str, attributes: dict[str, str] | None = None, **kw: object) -> bool:
    ctx = EvalContext(attributes=attributes or {}, **kw)  # type: ignore[arg-type]
    result = parse_assertion(text).evaluate(ctx)
    return result.passed


BODY = '{"order": {"orderId": "o-1", "items": [{"q": 1}, {"q": 2}], "cost": {"units": "17", "nanos": 0}},' \
       ' "empty": [], "obj": {}, "flag": true, "n": 599380801}'


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("attr:code = 200", True),
        ('attr:code = "200"', True),
        ("attr:code != 200", False),
        ("attr:code < 300", True),
        ("attr:code > 300", False),
        ("attr:code <= 200", True),
        ("attr:code >= 201", False),
        ('attr:msg contains "world"', True),
        ('attr:msg not-contains "world"', False),
        ('attr:msg not-contains "mars"', True),
        ("attr:ratio = 0.5", True),
        ("attr:ratio = 0.50", True),  # numbers compare as numbers
        ("attr:flag = true", False),  # `true` is not a literal of expressions: it is no value
        ('attr:flag = "true"', True),
        ("attr:missing = \"\"", True),  # a missing attribute reads as ""
        ("attr:code = 100 + 100", True),
        ("attr:code = 400 / 2", True),
        ("attr:code = 20 * 10", True),
        ("attr:code - 1 = 199", True),
        ("attr:neg < 0", True),
        ("attr:neg = -5", True),
    ],
)
def test_comparators(text: str, passes: bool) -> None:
    attrs = {"code": "200", "msg": "hello world", "ratio": "0.5", "flag": "true", "neg": "-5"}
    if text == "attr:flag = true":
        with pytest.raises(QuerySyntaxError):
            parse_assertion(text)
        return
    assert check(text, attrs) is passes


def test_order_comparison_on_text_is_an_error_not_a_pass() -> None:
    result = parse_assertion('attr:msg > 3').evaluate(EvalContext({"msg": "abc"}))
    assert not result.passed
    assert result.error is not None and "not" in result.error


@pytest.mark.parametrize(
    ("duration_ns", "text", "passes"),
    [
        (1_600_000, "attr:tracetest.span.duration < 2ms", False),  # rounded to 2ms like Tracetest
        (1_400_000, "attr:tracetest.span.duration < 2ms", True),
        (1_400_000, "attr:tracetest.span.duration = 1ms", True),
        (250_000_000, "attr:tracetest.span.duration < 1s", True),
        (1_500_000_000, "attr:tracetest.span.duration = 1.5s", True),
        (1_500_000_000, "attr:tracetest.span.duration > 1s", True),
        (90_000_000_000, "attr:tracetest.span.duration = 1.5m", True),
        (3_600_000_000_000, "attr:tracetest.span.duration = 1h", True),
        (500, "attr:tracetest.span.duration = 500ns", True),
        (2_000, "attr:tracetest.span.duration = 2us", True),
        (20_000_000, "attr:tracetest.span.duration <= 20ms", True),
        (20_000_000, "attr:tracetest.span.duration >= 21ms", False),
    ],
)
def test_durations_with_units(duration_ns: int, text: str, passes: bool) -> None:
    result = parse_assertion(text).evaluate(EvalContext({"tracetest.span.duration": str(duration_ns)}))
    assert result.passed is passes, result
    assert result.actual.endswith(("ns", "us", "ms", "s", "m", "h"))  # shown with a unit


def test_status_code_spellings() -> None:
    attrs = {"tracetest.span.status_code": "STATUS_CODE_ERROR"}
    for spelling in ('"STATUS_CODE_ERROR"', '"error"', '"ERROR"', "2"):
        assert check(f"attr:tracetest.span.status_code = {spelling}", attrs), spelling
    assert check('attr:tracetest.span.status_code != "ok"', attrs)


@pytest.mark.parametrize(
    ("text", "passes"),
    [
        ("attr:body | json_path '$.order.orderId' = \"o-1\"", True),
        ("attr:body | json_path '.order.orderId' = \"o-1\"", True),  # ojg-style path without $
        ("attr:body | json_path '$.order.orderId' != \"\"", True),
        ("attr:body | json_path '$.order.cost.units' > 0", True),
        ("attr:body | json_path '$.order.cost.nanos' = 0", True),
        ("attr:body | json_path '$.n' >= 599380800", True),
        ("attr:body | json_path '$.empty' = \"[]\"", True),
        ("attr:body | json_path '$.obj' = \"{}\"", True),
        ("attr:body | json_path '$.flag' = \"true\"", True),
        ("attr:body | json_path '$.order.items[*].q' = '[1, 2]'", True),
        ("attr:body | json_path '$.order.items[*].q' contains 2", True),
        ("attr:body | json_path '$.order.items[*].q' contains 3", False),
        ("attr:body | json_path '$.order.items[*].q' | get_index 1 = 2", True),
        ("attr:body | json_path '$.order.items[*].q' | get_index 'last' = 2", True),
        ("attr:body | json_path '$.order.items[*].q' | length = 2", True),
        ("attr:body | json_path '$.order.items[*].q' | count = 2", True),
        ("attr:body | json_path '$.order.items[*].q' | type = \"array\"", True),
        ("attr:body | json_path '$.nothing' = \"\"", True),
        ("attr:body | json_path '$.nothing' | type = \"nil\"", True),
        ("attr:body | json_path '$.order.orderId' | type = \"string\"", True),
        ("attr:body | json_path '$.n' | type = \"number\"", True),
    ],
)
def test_json_path_and_array_filters(text: str, passes: bool) -> None:
    assert check(text, {"body": BODY}) is passes


def test_documented_filter_examples() -> None:
    assert check("'{ \"name\": \"Jorge\", \"age\": 27 }' | json_path '.age' = 27")
    assert check("'{ \"array\": [{\"name\": \"Jorge\", \"age\": 27}, {\"name\": \"Tim\", \"age\": 52}]}' "
                 "| json_path '$.array[*].name' = '[\"Jorge\", \"Tim\"]'")
    assert check(r"'My account balance is $48.52' | regex '\$\d+(\.\d+)?' = '$48.52'")
    assert check(r"'Hello Marcus, today you have 8 meetings' | regex_group 'Hello (\w+), today you have (\d+) meetings'"
                 " = '[\"Marcus\", 8]'")
    assert check("'{ \"array\": [1, 2, 3] }' | json_path '$.array[*]' | get_index 1 = 2")
    assert check("'{ \"array\": [1, 2, 3] }' | json_path '$.array[*]' | get_index 'last' = 3")
    assert check("'{ \"array\": [1, 2, 3] }' | json_path '$.array[*]' | length = 3")
    assert check('2 | type = "number"')
    assert check('2s | type = "duration"')
    assert check('"something" | type = "string"')
    assert check('[1, 2s, "this is a string"] | type = "array"')
    assert check('["number", "string"] contains attr:my_attribute | type', {"my_attribute": "42"})
    assert not check('["number", "duration"] contains attr:my_attribute | type', {"my_attribute": "x"})


def test_filter_errors_fail_with_a_reason() -> None:
    result = parse_assertion("attr:body | json_path '$.x' = 1").evaluate(EvalContext({"body": "not json"}))
    assert not result.passed and result.error and "not JSON" in result.error
    result = parse_assertion("attr:body | json_path '$.a[*]' | get_index 5 = 1").evaluate(
        EvalContext({"body": '{"a": [1, 2]}'}))
    assert not result.passed and result.error and "out of bounds" in result.error
    result = parse_assertion("attr:body | regex '(' = 1").evaluate(EvalContext({"body": "x"}))
    assert not result.passed and result.error and "invalid regex" in result.error


def test_variables_env_and_interpolation() -> None:
    ctx = EvalContext({"greeting": "Hello Ana, 3 left", "n": "3"}, variables={"NAME": "Ana"},
                      environ={"LIMIT": "5"})
    assert parse_assertion('attr:greeting = "Hello ${var:NAME}, ${attr:n} left"').evaluate(ctx).passed
    assert parse_assertion("attr:n < env:LIMIT").evaluate(ctx).passed
    assert parse_assertion("attr:n = var:NAME").evaluate(ctx).passed is False
    missing = parse_assertion("attr:n = var:NOPE").evaluate(ctx)
    assert not missing.passed and missing.error and 'variable "NOPE" is not set' in missing.error
    assert parse_assertion('attr:n = "${env:NOPE}3"').evaluate(ctx).passed  # unset env is ""


def test_selected_spans_count_is_meta() -> None:
    assertion = parse_assertion("attr:tracetest.selected_spans.count >= 1")
    assert assertion.is_meta
    assert assertion.evaluate(EvalContext(selected_count=2)).passed
    assert not assertion.evaluate(EvalContext(selected_count=0)).passed
    assert not parse_assertion("attr:http.status_code = 200").is_meta


def test_templates() -> None:
    template = parse_template("http://${var:FRONTEND_ADDR}/api/${env:PATH_PART}")
    assert template.render(EvalContext(variables={"FRONTEND_ADDR": "h:1"}, environ={"PATH_PART": "cart"})) \
        == "http://h:1/api/cart"
    assert [r.name for r in template.refs] == ["FRONTEND_ADDR", "PATH_PART"]
    assert parse_template("no variables").render(EvalContext()) == "no variables"


def test_functions() -> None:
    value = parse_expression("uuid()").evaluate(EvalContext())
    assert len(str(value)) == 36
    number = int(str(parse_expression("randomInt(3, 5)").evaluate(EvalContext())))
    assert 3 <= number <= 5


@pytest.mark.parametrize(
    ("text", "column", "expected"),
    [
        ("", 1, "an assertion"),
        ("attr:x", 7, "a comparator"),
        ("attr:x =", 9, "a value"),
        ("attr:x == 1", 9, "a value"),
        ('attr:x = "abc', 10, 'a closing "'),
        ("attr:x | nope = 1", 10, "a filter name"),
        ("attr:x | json_path = 1", 10, "1 argument(s) for filter json_path"),
        ("attr:x | length 1 = 1", 10, "0 argument(s)"),
        ("attr:x = 1 2", 12, "end of the assertion"),
        ("attr: x = 1", 6, "a name after the prefix"),
        ("attr:x = foo(1)", 10, "a value"),
        ("attr:x = uuid(1)", 10, "0 argument(s) for uuid()"),
        ('attr:x = "a ${var:}"', 19, "a name after the prefix"),
        ('attr:x = "a ${attr:y"', 13, "a closing } for ${"),
        ("attr:x = [1, 2", 15, "',' or ']'"),
        ("attr:x ~ 1", 8, "a value"),
    ],
)
def test_expression_syntax_errors(text: str, column: int, expected: str) -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_assertion(text)
    assert info.value.column == column, str(info.value)
    assert expected in info.value.expected, str(info.value)
