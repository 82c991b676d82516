"""The root of every error tracebed raises, and the few kinds a user catches.

    TracebedError
    ├── ConfigError        what you gave tracebed (a file, an option, an expression) is not valid
    │   └── QuerySyntaxError   a selector, expression or chain pattern that does not parse
    ├── StackError         the stack could not be described, started, run or stopped
    ├── SinkError          telemetry could not be received or read (sink, its API, OTLP payloads)
    ├── FlowError          driving the shop failed (a flow, a load run, a Tracetest trigger)
    └── ExpectationFailed  (an AssertionError) the telemetry or the startup broke an expectation
        └── TraceTimeout   a wait ended before what it waited for arrived

Each layer's own classes derive from one of these and keep the builtin they had
(`class OverlayError(ConfigError, ValueError)`), so `except TracebedError` catches any
of them and older `except ValueError` code keeps working. `ExpectationFailed` is an
`AssertionError` so pytest reports it as a test failure, not an error.

This module imports nothing from tracebed: every layer may use it.

Left out on purpose: the reference stack's in-service signals (`RpcError`, `OfrepError`,
`BadRequest`, `MoneyError`, `NoMethodError`), which the stand-in services turn into gRPC or
HTTP statuses as the demo does and which never reach a caller of tracebed, and private
control-flow exceptions.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ExpectationFailed",
    "FlowError",
    "QuerySyntaxError",
    "SinkError",
    "StackError",
    "TraceTimeout",
    "TracebedError",
]


class TracebedError(Exception):
    """Base class of every error tracebed raises; its message is written for a person."""


class ConfigError(TracebedError):
    """Something the user gave is not valid: a file, an option, an expression, a name.

    The message names the thing and the place in it.
    """


class StackError(TracebedError):
    """The stack could not be described, started, run or stopped (see `tracebed.stack.errors`)."""


class SinkError(TracebedError):
    """Telemetry could not be received or read: the sink, its HTTP API, an OTLP payload or file."""


class FlowError(TracebedError):
    """Driving the shop failed: a flow could not run or be recorded, a load run failed."""


class ExpectationFailed(TracebedError, AssertionError):
    """The telemetry or the startup broke an expectation (a call chain, an order, a spec).

    An `AssertionError`, so that pytest shows it as a failed test.
    """


class WaitTimeout(ExpectationFailed, TimeoutError):
    """A wait for telemetry (any signal) ended before its condition held."""


class TraceTimeout(WaitTimeout):
    """A wait for a trace ended before its condition held; the message shows what arrived."""


class QuerySyntaxError(ConfigError, ValueError):
    """A selector, expression or chain pattern that does not parse.

    `position` is the 0-based offset into `text`, `column` the 1-based column a person reads.
    """

    def __init__(self, text: str, position: int, expected: str, found: str | None = None):
        self.text = text
        self.position = max(0, min(position, len(text)))
        self.expected = expected
        if found is None:
            found = _describe_found(text, self.position)
        self.found = found
        super().__init__(self._message())

    @property
    def column(self) -> int:
        return self.position + 1

    @property
    def reason(self) -> str:
        return f"expected {self.expected}, found {self.found}"

    def _message(self) -> str:
        # One line of context: the text (newlines flattened so the caret lines up) and a caret.
        flat = self.text.replace("\n", " ").replace("\t", " ")
        return (
            f"syntax error at column {self.column}: {self.reason}\n"
            f"  {flat}\n"
            f"  {' ' * self.position}^"
        )


def _describe_found(text: str, position: int) -> str:
    if position >= len(text):
        return "end of input"
    rest = text[position:]
    word = rest.split(None, 1)[0] if rest.strip() else rest
    word = word[:20] if not rest[0].isspace() else rest[0]
    return repr(word)
