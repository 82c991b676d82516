"""Tracetest expressions and assertions: `attr:NAME OP VALUE`, with filters and variables.

    statement := expr COMPARATOR expr
    expr      := term (("+"|"-"|"*"|"/") term)* ("|" FILTER term*)*
    term      := attr:NAME | var:NAME | env:NAME | NUMBER | DURATION | "str" | 'str'
               | [term, ...] | function(term, ...)

Strings interpolate `${expr}`. Filters: json_path, regex, regex_group, get_index, length,
count, type. Comparators: = != < > <= >= contains not-contains.
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tracebed.query.attributes import SELECTED_SPANS_COUNT, to_text
from tracebed.query.errors import QueryEvaluationError, QuerySyntaxError
from tracebed.query.values import (
    COMPARATORS,
    Typed,
    Value,
    compare_values,
    duration_to_ns,
    format_duration,
    round_duration,
)

# -- lexer ----------------------------------------------------------------------------------
_NAME = r"[A-Za-z0-9_](?:[A-Za-z0-9_.]|-(?=[A-Za-z_]))*"
_TOKENS = [
    ("ws", r"\s+"),
    ("comparator", r"!=|<=|>=|=|<|>|not-contains\b|contains\b"),
    ("duration", r"[0-9]+(?:\.[0-9]+)?(?:ns|us|ms|s|m|h)(?![A-Za-z0-9_])"),
    ("number", r"[0-9]+(?:\.[0-9]+)?(?![A-Za-z_])"),
    ("ref", rf"(?:attr|var|env):{_NAME}"),
    ("string", r'"(?:\\.|[^"\\])*"|' + r"'(?:\\.|[^'\\])*'"),
    ("ident", r"[A-Za-z][A-Za-z0-9_]*"),
    ("punct", r"[(),|\[\]]"),
    ("operator", r"[+\-*/]"),
]
_BARE_PREFIX = re.compile(r"(?:attr|var|env):(?![A-Za-z0-9_])")
_LEXER = re.compile("|".join(f"(?P<{name}>{pattern})" for name, pattern in _TOKENS))


@dataclass(frozen=True)
class Token:
    kind: str
    text: str
    pos: int


def _tokenize(text: str, offset: int = 0, source: str | None = None) -> list[Token]:
    source = text if source is None else source
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        prefix = _BARE_PREFIX.match(text, pos)
        if prefix is not None:
            raise QuerySyntaxError(source, offset + prefix.end(), f"a name after the prefix {prefix.group()}")
        match = _LEXER.match(text, pos)
        if match is None or match.end() == pos:
            if text[pos] in "\"'":
                raise QuerySyntaxError(source, offset + pos, f"a closing {text[pos]} for this string",
                                       "end of input")
            raise QuerySyntaxError(source, offset + pos, "a value, an attribute (attr:NAME), "
                                   "a variable (var:NAME) or an operator")
        kind = match.lastgroup or ""
        if kind != "ws":
            tokens.append(Token(kind, match.group(), offset + pos))
        pos = match.end()
    tokens.append(Token("eof", "", offset + len(text)))
    return tokens


# -- AST ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalContext:
    """What an expression can read: one span's attributes, the selection, and variables."""

    attributes: Mapping[str, str] = field(default_factory=dict)
    selected_count: int = 0
    variables: Mapping[str, str] = field(default_factory=dict)
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)


class Term:
    pos: int = 0

    def evaluate(self, ctx: EvalContext) -> Value:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True)
class Literal(Term):
    text: str
    type: str
    pos: int = 0

    def evaluate(self, ctx: EvalContext) -> Value:
        if self.type == "duration":
            return Value.of(str(duration_to_ns(self.text)), "duration")
        return Value.of(self.text, self.type)


@dataclass(frozen=True)
class Ref(Term):
    source: str  # attr, var, env
    name: str
    pos: int = 0

    @property
    def is_meta(self) -> bool:
        return self.source == "attr" and self.name == SELECTED_SPANS_COUNT

    def evaluate(self, ctx: EvalContext) -> Value:
        if self.source == "attr":
            if self.is_meta:
                return Value.of(str(ctx.selected_count))
            return Value.of(ctx.attributes.get(self.name, ""))
        if self.source == "var":
            if self.name in ctx.variables:
                return Value.of(ctx.variables[self.name])
            if self.name in ctx.environ:
                return Value.of(ctx.environ[self.name])
            raise QueryEvaluationError(f'variable "{self.name}" is not set')
        # env: the variable set first (Tracetest's environments), then the process environment
        value = ctx.variables.get(self.name, ctx.environ.get(self.name, ""))
        return Value.of(value)


@dataclass(frozen=True)
class Interpolated(Term):
    """A string literal; `parts` alternate text and `${...}` expressions."""

    parts: tuple[str | Expr, ...]
    pos: int = 0

    def evaluate(self, ctx: EvalContext) -> Value:
        if all(isinstance(p, str) for p in self.parts):
            return Value.of("".join(self.parts), "string")  # type: ignore[arg-type]
        text = "".join(p if isinstance(p, str) else str(p.evaluate(ctx)) for p in self.parts)
        return Value.of(text)


@dataclass(frozen=True)
class ArrayTerm(Term):
    items: tuple[Term, ...]
    pos: int = 0

    def evaluate(self, ctx: EvalContext) -> Value:
        out: list[Typed] = []
        for item in self.items:
            value = item.evaluate(ctx)
            out.extend(value.items if value.is_array else value.items[:1])
        return Value.array(out)


def _fn_uuid(*args: Value) -> Value:
    return Value.of(str(uuid.uuid4()), "string")


def _fn_random_int(*args: Value) -> Value:
    try:
        low, high = (int(float(str(a))) for a in args)
    except (ValueError, OverflowError):
        raise QueryEvaluationError(f"randomInt needs two numbers, got {', '.join(map(str, args))}") from None
    if low > high:
        raise QueryEvaluationError(f"randomInt: {low} is greater than {high}")
    return Value.of(str(random.randint(low, high)))


def _fn_date(*args: Value) -> Value:
    return Value.of(datetime.now(UTC).strftime("%Y-%m-%d"), "string")


def _fn_datetime(*args: Value) -> Value:
    return Value.of(datetime.now(UTC).isoformat(timespec="seconds"), "string")


FUNCTIONS: dict[str, tuple[int, Callable[..., Value]]] = {
    "uuid": (0, _fn_uuid),
    "randomInt": (2, _fn_random_int),
    "date": (0, _fn_date),
    "dateTime": (0, _fn_datetime),
}


@dataclass(frozen=True)
class FunctionCall(Term):
    name: str
    args: tuple[Term, ...]
    pos: int = 0

    def evaluate(self, ctx: EvalContext) -> Value:
        return FUNCTIONS[self.name][1](*(a.evaluate(ctx) for a in self.args))


# -- filters --------------------------------------------------------------------------------
def _json_text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    if value is None:
        return "null"
    return to_text(value)


def _compile_json_path(path: str) -> Any:
    """The compiled JSONPath; raises ValueError with jsonpath-ng's reason when it does not parse."""
    from jsonpath_ng.ext import parse as jp_parse

    if path.startswith((".", "[")):
        path = "$" + path
    try:
        return jp_parse(path)
    except Exception as exc:  # jsonpath-ng raises its own errors and assorted others (e.g. on "$.a[0")
        raise ValueError(str(exc) or type(exc).__name__) from None


def _json_path(value: Value, path: str) -> Value:
    if value.is_array:
        raise QueryEvaluationError("json_path: cannot process an array of JSON documents")
    try:
        compiled = _compile_json_path(path)
    except ValueError as exc:
        raise QueryEvaluationError(f"json_path: invalid path {path!r}: {exc}") from None
    try:
        document = json.loads(str(value))
    except json.JSONDecodeError as exc:
        raise QueryEvaluationError(f"json_path: input is not JSON ({exc.msg}): {str(value)[:80]!r}") from None
    try:
        found = [match.value for match in compiled.find(document)]
    except Exception as exc:  # jsonpath-ng raises assorted types on odd documents
        raise QueryEvaluationError(f"json_path {path!r}: {exc}") from None
    if not found:
        return Value()
    if len(found) == 1:
        return Value.of(_json_text(found[0]))
    return Value.array([Typed(_json_text(v)) for v in found])


def _regex(value: Value, pattern: str, groups: bool) -> Value:
    name = "regex_group" if groups else "regex"
    if value.is_array:
        raise QueryEvaluationError(f"{name}: cannot process an array")
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise QueryEvaluationError(f"{name}: invalid regex {pattern!r}: {exc}") from None
    text = str(value)
    if groups:
        found = [g or "" for m in compiled.finditer(text) for g in m.groups()]
    else:
        found = [m.group(0) for m in compiled.finditer(text)]
    if not found:
        return Value.array([])
    if len(found) == 1:
        return Value.of(found[0])
    return Value.array([Typed(t) for t in found])


def _get_index(value: Value, arg: str) -> Value:
    items = value.items
    if arg == "last":
        index = len(items) - 1
    else:
        try:
            index = int(arg)
        except ValueError:
            raise QueryEvaluationError(f"get_index: index must be an integer or 'last', got {arg!r}") from None
    if index < 0 or index >= len(items):
        raise QueryEvaluationError(f"get_index: index {index} out of bounds (0..{len(items) - 1})")
    return Value((items[index],))


def _length(value: Value) -> Value:
    if value.is_array:
        return Value.of(str(len(value.items)), "number")
    if value.is_nil:
        return Value.of("0", "number")
    item = value.items[0]
    if item.type != "string":
        raise QueryEvaluationError(f"length: expected an array or a string, got a {item.type}")
    return Value.of(str(len(item.text)), "number")


def _count(value: Value) -> Value:
    return Value.of(str(len(value.items)), "number")


def _type(value: Value) -> Value:
    return Value.of(value.type, "string")


# name -> (min args, max args, function)
FILTERS: dict[str, tuple[int, int, Callable[..., Value]]] = {
    "json_path": (1, 1, _json_path),
    "regex": (1, 1, lambda v, p: _regex(v, p, False)),
    "regex_group": (1, 1, lambda v, p: _regex(v, p, True)),
    "get_index": (1, 1, _get_index),
    "length": (0, 0, _length),
    "count": (0, 0, _count),
    "type": (0, 0, _type),
}


@dataclass(frozen=True)
class Filter:
    name: str
    args: tuple[Term, ...]
    pos: int = 0

    def apply(self, value: Value, ctx: EvalContext) -> Value:
        args = [str(a.evaluate(ctx)) for a in self.args]
        return FILTERS[self.name][2](value, *args)


def _arith(op: str, left: Value, right: Value) -> Value:
    numeric = ("number", "duration")
    if left.type not in numeric or right.type not in numeric:
        raise QueryEvaluationError(f"cannot apply {op} to {left.type} {str(left)!r} and {right.type} {str(right)!r}")
    a, b = float(str(left)), float(str(right))
    if op == "/" and b == 0:
        raise QueryEvaluationError("division by zero")
    result = {"+": a + b, "-": a - b, "*": a * b, "/": a / b if b else 0.0}[op]
    kind = "duration" if "duration" in (left.type, right.type) else "number"
    if not math.isfinite(result):
        raise QueryEvaluationError(f"{str(left)} {op} {str(right)} is out of range")
    text = str(int(result)) if result == int(result) else repr(result)
    return Value.of(text, kind)


@dataclass(frozen=True)
class Expr:
    first: Term
    ops: tuple[tuple[str, Term], ...] = ()
    filters: tuple[Filter, ...] = ()
    text: str = ""

    @property
    def refs(self) -> list[Ref]:
        out: list[Ref] = []
        for term in (self.first, *(t for _, t in self.ops), *(a for f in self.filters for a in f.args)):
            out.extend(_refs(term))
        return out

    def evaluate(self, ctx: EvalContext) -> Value:
        value = self.first.evaluate(ctx)
        for op, term in self.ops:
            value = _arith(op, value, term.evaluate(ctx))
        for flt in self.filters:
            value = flt.apply(value, ctx)
        return value


def _refs(term: Term) -> list[Ref]:
    if isinstance(term, Ref):
        return [term]
    if isinstance(term, ArrayTerm | FunctionCall):
        return [r for item in (term.items if isinstance(term, ArrayTerm) else term.args) for r in _refs(item)]
    if isinstance(term, Interpolated):
        return [r for p in term.parts if isinstance(p, Expr) for r in p.refs]
    return []


@dataclass(frozen=True)
class AssertionResult:
    passed: bool
    actual: str
    expected: str
    error: str | None = None


@dataclass(frozen=True)
class Assertion:
    """`left OP right`, e.g. `attr:http.status_code = 200`."""

    left: Expr
    comparator: str
    right: Expr
    text: str

    @property
    def is_meta(self) -> bool:
        """Only reads the selection (`tracetest.selected_spans.count`): checked once, not per span."""
        refs = [r for r in self.left.refs + self.right.refs if r.source == "attr"]
        return bool(refs) and all(r.is_meta for r in refs)

    @property
    def attribute(self) -> str | None:
        first = self.left.first
        return first.name if isinstance(first, Ref) and first.source == "attr" else None

    def evaluate(self, ctx: EvalContext) -> AssertionResult:
        try:
            left = self.left.evaluate(ctx)
        except (QueryEvaluationError, ValueError, TypeError, ArithmeticError) as exc:
            return AssertionResult(False, "", "", f"left side: {exc}")
        try:
            right = self.right.evaluate(ctx)
        except (QueryEvaluationError, ValueError, TypeError, ArithmeticError) as exc:
            return AssertionResult(False, str(left), "", f"right side: {exc}")
        if "duration" in (left.type, right.type) and not left.is_array and not right.is_array:
            left_ns, right_ns = duration_to_ns(str(left)), duration_to_ns(str(right))
            left, right = Value.of(str(round_duration(left_ns))), Value.of(str(round_duration(right_ns)))
            shown = (format_duration(left_ns), format_duration(right_ns))
        else:
            shown = (str(left), str(right))
        try:
            passed = compare_values(self.comparator, left, right, key=self.attribute)
        except QueryEvaluationError as exc:
            return AssertionResult(False, shown[0], shown[1], str(exc))
        return AssertionResult(passed, shown[0], shown[1])

    def __str__(self) -> str:
        return self.text


# -- parser ---------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, source: str | None = None, offset: int = 0):
        self.source = text if source is None else source
        self.tokens = _tokenize(text, offset, self.source)
        self.index = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        tok = self.tokens[self.index]
        self.index += 1
        return tok

    def error(self, expected: str, tok: Token | None = None) -> QuerySyntaxError:
        tok = tok or self.tok
        found = "end of input" if tok.kind == "eof" else repr(tok.text)
        return QuerySyntaxError(self.source, tok.pos, expected, found)

    def expect_eof(self, expected: str) -> None:
        if self.tok.kind != "eof":
            raise self.error(expected)

    def statement(self) -> tuple[Expr, str, Expr]:
        left = self.expr()
        if self.tok.kind != "comparator":
            raise self.error("a comparator (" + ", ".join(COMPARATORS) + ")")
        comparator = self.advance().text
        right = self.expr()
        self.expect_eof("end of the assertion (a filter `| name` or an operator + - * /)")
        return left, comparator, right

    def expr(self) -> Expr:
        start = self.tok.pos
        first = self.term()
        ops: list[tuple[str, Term]] = []
        while self.tok.kind == "operator":
            op = self.advance().text
            ops.append((op, self.term()))
        filters: list[Filter] = []
        while self.tok.text == "|" and self.tok.kind == "punct":
            self.advance()
            filters.append(self.filter())
        end = self.tok.pos
        return Expr(first, tuple(ops), tuple(filters), self.source[start:end].strip())

    def filter(self) -> Filter:
        tok = self.tok
        if tok.kind != "ident" or tok.text not in FILTERS:
            raise self.error("a filter name (" + ", ".join(FILTERS) + ")")
        self.advance()
        args: list[Term] = []
        while self.tok.kind in ("string", "number", "duration", "ref") or (
            self.tok.kind == "ident" and self.tokens[self.index + 1].text == "("
        ) or (self.tok.kind == "punct" and self.tok.text == "["):
            args.append(self.term())
        low, high, _ = FILTERS[tok.text]
        if not low <= len(args) <= high:
            want = f"{low}" if low == high else f"{low} to {high}"
            raise QuerySyntaxError(self.source, tok.pos,
                                   f"{want} argument(s) for filter {tok.text}", f"{len(args)}")
        if tok.text == "json_path" and isinstance(args[0], Interpolated) and \
                all(isinstance(p, str) for p in args[0].parts):
            # A constant path is compiled now, so a broken one fails the check, not the run.
            path = "".join(args[0].parts)  # type: ignore[arg-type]
            try:
                _compile_json_path(path)
            except ValueError as exc:
                raise QuerySyntaxError(self.source, args[0].pos, "a valid JSONPath",
                                       f"{path!r} ({exc})") from None
        return Filter(tok.text, tuple(args), tok.pos)

    def term(self) -> Term:
        tok = self.tok
        if tok.kind == "operator" and tok.text == "-" and self.tokens[self.index + 1].kind in ("number", "duration"):
            self.advance()
            num = self.advance()
            return Literal("-" + num.text, "number", tok.pos)
        if tok.kind in ("number", "duration"):
            self.advance()
            return Literal(tok.text, tok.kind, tok.pos)
        if tok.kind == "ref":
            self.advance()
            source, name = tok.text.split(":", 1)
            return Ref(source, name, tok.pos)
        if tok.kind == "string":
            self.advance()
            return self.string(tok)
        if tok.kind == "punct" and tok.text == "[":
            self.advance()
            items: list[Term] = []
            if not (self.tok.kind == "punct" and self.tok.text == "]"):
                items.append(self.term())
                while self.tok.kind == "punct" and self.tok.text == ",":
                    self.advance()
                    items.append(self.term())
            if not (self.tok.kind == "punct" and self.tok.text == "]"):
                raise self.error("',' or ']' in the array")
            self.advance()
            return ArrayTerm(tuple(items), tok.pos)
        if tok.kind == "ident":
            if tok.text not in FUNCTIONS:
                if tok.text in ("attr", "var", "env"):
                    raise self.error(f"'{tok.text}:NAME' (no space after the prefix)")
                raise self.error("a value: a quoted string, a number, a duration, attr:NAME, "
                                 "var:NAME or a function (" + ", ".join(FUNCTIONS) + ")")
            self.advance()
            if not (self.tok.kind == "punct" and self.tok.text == "("):
                raise self.error(f"'(' after function {tok.text}")
            self.advance()
            args: list[Term] = []
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                args.append(self.term())
                while self.tok.kind == "punct" and self.tok.text == ",":
                    self.advance()
                    args.append(self.term())
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.error("',' or ')' in the function call")
            self.advance()
            if len(args) != FUNCTIONS[tok.text][0]:
                raise QuerySyntaxError(self.source, tok.pos,
                                       f"{FUNCTIONS[tok.text][0]} argument(s) for {tok.text}()", str(len(args)))
            return FunctionCall(tok.text, tuple(args), tok.pos)
        raise self.error("a value: a quoted string, a number, a duration (e.g. 200ms), "
                         "attr:NAME, var:NAME, env:NAME or [array]")

    def string(self, tok: Token) -> Interpolated:
        body = tok.text[1:-1]
        quote = tok.text[0]
        body_start = tok.pos + 1
        parts: list[str | Expr] = []
        pos = 0
        buf: list[str] = []
        while pos < len(body):
            if body.startswith("${", pos):
                end = body.find("}", pos + 2)
                if end < 0:
                    raise QuerySyntaxError(self.source, body_start + pos, "a closing } for ${", "end of string")
                if buf:
                    parts.append("".join(buf))
                    buf = []
                inner = body[pos + 2 : end]
                parser = _Parser(inner, self.source, body_start + pos + 2)
                if parser.tok.kind == "eof":
                    raise QuerySyntaxError(self.source, body_start + pos + 2, "an expression inside ${}")
                expr = parser.expr()
                parser.expect_eof("} to end the ${...} expression")
                parts.append(expr)
                pos = end + 1
                continue
            if body[pos] == "\\" and pos + 1 < len(body) and body[pos + 1] in (quote, "\\"):
                buf.append(body[pos + 1])
                pos += 2
                continue
            buf.append(body[pos])
            pos += 1
        if buf or not parts:
            parts.append("".join(buf))
        return Interpolated(tuple(parts), tok.pos)


def parse_assertion(text: str) -> Assertion:
    """Parse `attr:NAME OP VALUE` (any expression on either side). Raises QuerySyntaxError."""
    if not isinstance(text, str):
        raise QuerySyntaxError(str(text), 0, "an assertion as text")
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise QuerySyntaxError(text, 0, "an assertion such as attr:http.status_code = 200")
    left, comparator, right = parser.statement()
    return Assertion(left, comparator, right, text.strip())


def parse_expression(text: str) -> Expr:
    """Parse one expression (an output's `value`, a `${...}` body)."""
    parser = _Parser(text)
    if parser.tok.kind == "eof":
        raise QuerySyntaxError(text, 0, "an expression such as attr:app.order.id")
    expr = parser.expr()
    parser.expect_eof("end of the expression (a filter `| name` or an operator + - * /)")
    return expr


_TEMPLATE_RE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True)
class Template:
    """Text with `${var:NAME}` / `${env:NAME}` (any expression) inside, e.g. a trigger URL."""

    parts: tuple[str | Expr, ...]
    text: str

    @property
    def refs(self) -> list[Ref]:
        return [r for p in self.parts if isinstance(p, Expr) for r in p.refs]

    def render(self, ctx: EvalContext) -> str:
        return "".join(p if isinstance(p, str) else str(p.evaluate(ctx)) for p in self.parts)


def parse_template(text: str) -> Template:
    parts: list[str | Expr] = []
    last = 0
    for match in _TEMPLATE_RE.finditer(text):
        parts.append(text[last : match.start()])
        parser = _Parser(match.group(1), text, match.start(1))
        if parser.tok.kind == "eof":
            raise QuerySyntaxError(text, match.start(1), "an expression inside ${}, e.g. ${var:NAME}")
        expr = parser.expr()
        parser.expect_eof("} to end the ${...} expression")
        parts.append(expr)
        last = match.end()
    unclosed = text.find("${", last)
    if unclosed >= 0:
        raise QuerySyntaxError(text, unclosed, "a closing } for ${", "end of input")
    parts.append(text[last:])
    return Template(tuple(p for p in parts if p != ""), text)
