"""Tracetest span selectors: `span[attr="v" other contains "x"]:first, span[...] span[...]`.

    selector  := ""                                     (every span)
               | chain ("," chain)*                     (OR, results merged in order)
    chain     := compound (WS compound)*                (each next one among the spans
                                                         under the previous, self included)
    compound  := "span[" filter ((WS | ",") filter)* "]" pseudo?   (AND)
    filter    := NAME OP value      OP: = != < > <= >= contains not-contains
    value     := "string" | 'string' | number | true | false
    pseudo    := ":first" | ":last" | ":nth_child(" N ")"

Semantics follow Tracetest's engine (server/assertions/selectors): spans are visited
depth-first from the root, children in start order; `A B` collects the B matches in the
subtree of every A match (the A span included, as Tracetest does); a pseudo-class picks from
the list its compound produced (for the last compound: within each A's subtree; on an earlier
compound it applies to the final list, as in Tracetest). `:nth_child(n)` counts from 1; an
out-of-range n selects nothing. Tracetest itself only accepts `=` and `contains` in selectors
(its parser: `@("=" | "contains")`); the other operators are a tracebed extension, refused with
`tracetest=True` (as in Tracetest files, which Tracetest must be able to run too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from tracebed.model import Span, Trace
from tracebed.query.attributes import span_view
from tracebed.query.errors import QueryEvaluationError, QuerySyntaxError
from tracebed.query.values import compare_text

_NAME_RE = re.compile(r"[A-Za-z0-9_@/\-]+(?:\.[A-Za-z0-9_@/\-]+)*")
_OPS = ("not-contains", "contains", "!=", "<=", ">=", "=", "<", ">")
_OPS_TEXT = "an operator (=, !=, <, >, <=, >=, contains, not-contains)"
_TRACETEST_OPS = ("=", "contains")
_NUMBER_RE = re.compile(r"-?[0-9]+(?:\.[0-9]+)?")


@dataclass(frozen=True)
class AttrFilter:
    name: str
    op: str
    value: str  # as text, the way Tracetest compares

    def matches(self, view: dict[str, str]) -> bool:
        actual = view.get(self.name)
        if actual is None:
            # A missing attribute is "" in Tracetest: `!=` and not-contains still match it.
            actual = ""
        try:
            return compare_text(self.op, actual, self.value, key=self.name)
        except QueryEvaluationError:
            return False  # `<` on a non-number simply does not match

    def __str__(self) -> str:
        return f'{self.name}{"" if self.op in ("=", "!=", "<", ">", "<=", ">=") else " "}' \
               f'{self.op}{"" if self.op in ("=", "!=", "<", ">", "<=", ">=") else " "}"{self.value}"'


@dataclass(frozen=True)
class Pseudo:
    kind: str  # first, last, nth_child
    n: int = 0

    def pick(self, spans: list[Span]) -> list[Span]:
        if not spans:
            return []
        if self.kind == "first":
            return spans[:1]
        if self.kind == "last":
            return spans[-1:]
        return [spans[self.n - 1]] if 1 <= self.n <= len(spans) else []

    def __str__(self) -> str:
        return f":nth_child({self.n})" if self.kind == "nth_child" else f":{self.kind}"


@dataclass(frozen=True)
class Compound:
    filters: tuple[AttrFilter, ...]
    pseudo: Pseudo | None = None

    def matches(self, view: dict[str, str]) -> bool:
        return all(f.matches(view) for f in self.filters)

    def __str__(self) -> str:
        return "span[" + " ".join(map(str, self.filters)) + "]" + (str(self.pseudo) if self.pseudo else "")


@dataclass(frozen=True)
class Selector:
    """A parsed selector. `select(trace)` returns the matching spans in tree order."""

    chains: tuple[tuple[Compound, ...], ...]
    text: str = ""

    @property
    def is_empty(self) -> bool:
        return not self.chains

    def select(self, trace: Trace | Iterable[Span]) -> list[Span]:
        tree = trace if isinstance(trace, Trace) else Trace(_trace_id(trace), trace)
        views: dict[str, dict[str, str]] = {}

        def view(span: Span) -> dict[str, str]:
            found = views.get(span.span_id)
            if found is None:
                found = views[span.span_id] = span_view(span)
            return found

        if self.is_empty:
            return [span for _, span in tree.walk()]
        out: list[Span] = []
        seen: set[str] = set()
        for chain in self.chains:
            for span in _filter(tree, _preorder(tree, None), chain, view):
                if span.span_id not in seen:
                    seen.add(span.span_id)
                    out.append(span)
        return out

    def __str__(self) -> str:
        return self.text


def _trace_id(spans: Iterable[Span]) -> str:
    for span in spans:
        return span.trace_id
    return "0" * 32


def _preorder(tree: Trace, top: Span | None) -> Iterator[Span]:
    if top is None:
        yield from (span for _, span in tree.walk())
        return
    yield top
    yield from tree.descendants(top)


def _filter(tree: Trace, candidates: Iterable[Span], chain: tuple[Compound, ...], view) -> list[Span]:  # type: ignore[no-untyped-def]
    head, rest = chain[0], chain[1:]
    out: list[Span] = []
    seen: set[str] = set()
    for span in candidates:
        if not head.matches(view(span)):
            continue
        found = _filter(tree, _preorder(tree, span), rest, view) if rest else [span]
        for match in found:
            if match.span_id not in seen:
                seen.add(match.span_id)
                out.append(match)
    return head.pseudo.pick(out) if head.pseudo else out


# -- parser ---------------------------------------------------------------------------------
class _Parser:
    def __init__(self, text: str, tracetest: bool = False):
        self.text = text
        self.pos = 0
        self.tracetest = tracetest

    def error(self, expected: str, pos: int | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(self.text, self.pos if pos is None else pos, expected)

    def skip_ws(self) -> bool:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1
        return self.pos > start

    def at(self, s: str) -> bool:
        return self.text.startswith(s, self.pos)

    def selector(self) -> Selector:
        self.skip_ws()
        if self.pos == len(self.text):
            return Selector((), self.text)
        chains = [self.chain()]
        while True:
            self.skip_ws()
            if self.pos == len(self.text):
                break
            if not self.at(","):
                raise self.error("',' (another selector) or end of the selector")
            self.pos += 1
            self.skip_ws()
            chains.append(self.chain())
        return Selector(tuple(chains), self.text)

    def chain(self) -> tuple[Compound, ...]:
        compounds = [self.compound()]
        while True:
            save = self.pos
            had_ws = self.skip_ws()
            if self.at("span"):
                if not had_ws:
                    raise self.error("a space between two span[...] (descendant) or ',' (or)")
                compounds.append(self.compound())
                continue
            self.pos = save
            return tuple(compounds)

    def compound(self) -> Compound:
        if not self.at("span"):
            raise self.error("span[...]")
        self.pos += 4
        if not self.at("["):
            raise self.error("'[' after span (use the empty selector to select every span)")
        self.pos += 1
        self.skip_ws()
        if self.at("]"):
            raise self.error("an attribute filter such as name=\"x\" (span[] is not allowed; "
                             "the empty selector selects every span)")
        filters = [self.attr_filter()]
        while True:
            had_ws = self.skip_ws()
            if self.at("]"):
                self.pos += 1
                break
            if self.at(","):
                self.pos += 1
                self.skip_ws()
            elif not had_ws:
                if self.pos >= len(self.text):
                    raise self.error("']' to close span[")
                raise self.error("a space, ',' or ']' after the filter value")
            if self.pos >= len(self.text):
                raise self.error("']' to close span[")
            filters.append(self.attr_filter())
        pseudo = self.pseudo() if self.at(":") else None
        return Compound(tuple(filters), pseudo)

    def attr_filter(self) -> AttrFilter:
        match = _NAME_RE.match(self.text, self.pos)
        if match is None:
            raise self.error("an attribute name (e.g. service.name, tracetest.span.type)")
        name = match.group()
        self.pos = match.end()
        self.skip_ws()
        op = next((op for op in _OPS if self.at(op)), None)
        if op is None or (op.endswith("contains") and self.text[self.pos + len(op): self.pos + len(op) + 1].isalnum()):
            raise self.error(_OPS_TEXT)
        if self.tracetest and op not in _TRACETEST_OPS:
            raise QuerySyntaxError(self.text, self.pos, "= or contains (Tracetest selectors allow no other "
                                   "operator)", repr(op))
        self.pos += len(op)
        self.skip_ws()
        return AttrFilter(name, op, self.value())

    def value(self) -> str:
        if self.pos >= len(self.text):
            raise self.error("a value: a quoted string, a number, true or false")
        quote = self.text[self.pos]
        if quote in "\"'":
            start = self.pos
            self.pos += 1
            out: list[str] = []
            while self.pos < len(self.text):
                ch = self.text[self.pos]
                if ch == "\\" and self.pos + 1 < len(self.text):
                    nxt = self.text[self.pos + 1]
                    out.append({"n": "\n", "t": "\t"}.get(nxt, nxt))
                    self.pos += 2
                    continue
                if ch == quote:
                    self.pos += 1
                    return "".join(out)
                out.append(ch)
                self.pos += 1
            raise self.error(f"a closing {quote} for the string opened at column {start + 1}", len(self.text))
        match = _NUMBER_RE.match(self.text, self.pos)
        if match is not None:
            self.pos = match.end()
            return match.group()
        for word in ("true", "false"):
            if self.at(word):
                self.pos += len(word)
                return word
        raise self.error("a value: a quoted string, a number, true or false")

    def pseudo(self) -> Pseudo:
        self.pos += 1
        for kind in ("first", "last"):
            if self.at(kind) and not self.at(kind + "_"):
                self.pos += len(kind)
                return Pseudo(kind)
        if self.at("nth_child"):
            self.pos += len("nth_child")
            if not self.at("("):
                raise self.error("'(' after :nth_child")
            self.pos += 1
            self.skip_ws()
            match = re.compile(r"-?[0-9]+").match(self.text, self.pos)
            if match is None:
                raise self.error("a whole number n (counted from 1) in :nth_child(n)")
            self.pos = match.end()
            self.skip_ws()
            if not self.at(")"):
                raise self.error("')' to close :nth_child(")
            self.pos += 1
            return Pseudo("nth_child", int(match.group()))
        raise self.error("a pseudo-class: first, last or nth_child(n)")


@lru_cache(maxsize=1024)
def parse_selector(text: str, tracetest: bool = False) -> Selector:
    """Parse a selector; raises QuerySyntaxError naming the column and what was expected.
    `tracetest=True` accepts only what Tracetest's own parser does (operators = and contains)."""
    if not isinstance(text, str):
        raise QuerySyntaxError(str(text), 0, "a selector as text")
    return _Parser(text, tracetest).selector()


def select(trace: Trace | Iterable[Span], selector: str | Selector) -> list[Span]:
    """The spans of `trace` that `selector` selects, in tree order."""
    parsed = parse_selector(selector) if isinstance(selector, str) else selector
    return parsed.select(trace)
