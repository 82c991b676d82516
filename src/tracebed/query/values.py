"""Typed values of the expression language, durations, and the comparators (Tracetest rules).

Everything is text underneath (as in Tracetest); a value's type is read off its text: a plain
number, a duration with a unit (`200ms`), an array (`[...]`), else a string.
"""

from __future__ import annotations

import math
import re
import sys
from dataclasses import dataclass, field

from tracebed.query.attributes import normalize_status
from tracebed.query.errors import QueryEvaluationError

NUMBER_RE = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
DURATION_RE = re.compile(r"^([0-9]+(?:\.[0-9]+)?)(ns|us|ms|s|m|h)$")
UNIT_NS = {"ns": 1, "us": 1_000, "ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000,
           "h": 3_600_000_000_000}
COMPARATORS = ("=", "!=", "<", ">", "<=", ">=", "contains", "not-contains")


def type_of(text: str) -> str:
    if NUMBER_RE.match(text):
        return "number"
    if DURATION_RE.match(text):
        return "duration"
    if len(text) >= 2 and text.startswith("[") and text.endswith("]"):
        return "array"
    return "string"


@dataclass(frozen=True)
class Typed:
    text: str
    type: str = ""

    def __post_init__(self) -> None:
        if not self.type:
            object.__setattr__(self, "type", type_of(self.text))

    def formatted(self) -> str:
        """How an item prints inside an array: strings quoted, numbers bare."""
        return f'"{self.text}"' if self.type == "string" else self.text


@dataclass(frozen=True)
class Value:
    """One typed item, an array of them, or nil (a json_path that matched nothing)."""

    items: tuple[Typed, ...] = field(default_factory=tuple)
    is_array: bool = False

    @staticmethod
    def of(text: str, type_: str = "") -> Value:
        return Value((Typed(text, type_),))

    @staticmethod
    def array(items: list[Typed]) -> Value:
        return Value(tuple(items), True)

    @property
    def is_nil(self) -> bool:
        return not self.is_array and not self.items

    @property
    def type(self) -> str:
        if self.is_array:
            return "array"
        return self.items[0].type if self.items else "nil"

    def __str__(self) -> str:
        if self.is_array:
            return "[" + ", ".join(item.formatted() for item in self.items) + "]"
        return self.items[0].text if self.items else ""


# -- durations ----------------------------------------------------------------------------
def duration_to_ns(text: str) -> int:
    """`1.5s` -> 1500000000; a bare integer is already nanoseconds."""
    match = DURATION_RE.match(text.strip())
    try:
        if match is None:
            return int(float(text))
        return int(float(match.group(1)) * UNIT_NS[match.group(2)])
    except ValueError:
        return 0
    except OverflowError:  # too many digits for a float (it became inf): saturate, don't crash
        return -sys.maxsize if text.strip().startswith("-") else sys.maxsize


def format_duration(ns: int) -> str:
    """Tracetest's display form: whole units below a second, one decimal from seconds up."""
    if ns <= 0:
        return "0ns"
    scale = min(3, int(math.floor(math.log(ns) / math.log(1000))))
    if scale < 3:
        number = ns / (1000**scale)
        return f"{number:.0f}{('ns', 'us', 'ms')[scale]}"
    number, unit = ns / 1e9, "s"
    if number >= 60:
        number, unit = number / 60, "m"
    if number >= 60:
        number, unit = number / 60, "h"
    return f"{number:.0f}{unit}" if number == int(number) else f"{number:.1f}{unit}"


def round_duration(ns: int) -> int:
    """Tracetest compares durations at the precision they are shown (issue kubeshop#1203)."""
    return duration_to_ns(format_duration(ns))


# -- comparison ---------------------------------------------------------------------------
def _number(text: str, side: str, op: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise QueryEvaluationError(f"{op} needs numbers, but the {side} value {text!r} is not one") from None


def _equal(actual: str, expected: str, key: str | None) -> bool:
    if actual == expected:
        return True
    if NUMBER_RE.match(actual) and NUMBER_RE.match(expected):
        return float(actual) == float(expected)
    if key is not None and key.endswith("status_code") and key.startswith("tracetest.span"):
        left, right = normalize_status(actual), normalize_status(expected)
        return left is not None and left == right
    return False


def compare_text(op: str, actual: str, expected: str, key: str | None = None) -> bool:
    """`actual OP expected` on text. Order comparisons need numbers (else QueryEvaluationError)."""
    if op == "=":
        return _equal(actual, expected, key)
    if op == "!=":
        return not _equal(actual, expected, key)
    if op == "contains":
        return expected in actual
    if op == "not-contains":
        return expected not in actual
    left, right = _number(actual, "actual", op), _number(expected, "expected", op)
    if op == "<":
        return left < right
    if op == ">":
        return left > right
    if op == "<=":
        return left <= right
    if op == ">=":
        return left >= right
    raise QueryEvaluationError(f"unknown comparator {op!r}")


def compare_values(op: str, actual: Value, expected: Value, key: str | None = None) -> bool:
    if actual.is_array and op in ("contains", "not-contains"):
        found = any(_equal(item.text, str(expected), key) for item in actual.items)
        return found if op == "contains" else not found
    return compare_text(op, str(actual), str(expected), key)
