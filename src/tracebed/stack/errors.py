"""Errors raised by the stack layer; each names what went wrong and where."""

from __future__ import annotations

# The stack layer's root is the user-facing kind `tracebed.errors.StackError` itself.
from tracebed.errors import ConfigError, StackError

__all__ = [
    "BackendError",
    "InterpolationError",
    "StackError",
    "StackInterrupted",
    "StackStartError",
    "TopologyError",
]


def yaml_error(path: object, exc: Exception) -> str:
    """One line for a YAML error: `FILE:LINE:COL: invalid YAML: problem` (PyYAML's own text
    spans several lines and names the stream `<unicode string>`, not the file)."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
    problem = getattr(exc, "problem", None) or getattr(exc, "context", None) or str(exc)
    return f"{where}: invalid YAML: {' '.join(str(problem).split())}"


class TopologyError(StackError, ConfigError):
    """A compose file, spec or topology is invalid (bad file, undefined service, cycle, ...)."""


class InterpolationError(TopologyError):
    """A `${VAR:?message}` was unset, or a `${...}` expression is malformed."""


class BackendError(StackError):
    """A backend could not do what was asked (no docker, no command for a service, ...)."""


class StackStartError(StackError):
    """A service did not become ready; everything started was stopped.

    Attributes name the service, its tier, the probe that was waiting, how long it
    waited and the last lines of the service's log.
    """

    def __init__(
        self,
        service: str,
        tier: int,
        probe: str,
        waited_s: float,
        log_tail: list[str],
        reason: str,
    ) -> None:
        self.service = service
        self.tier = tier
        self.probe = probe
        self.waited_s = waited_s
        self.log_tail = log_tail
        self.reason = reason
        tail = "\n".join(f"    | {line}" for line in log_tail) or "    | (log is empty)"
        super().__init__(
            f"service {service!r} (tier {tier}) did not become ready: {reason}\n"
            f"  probe: {probe}\n"
            f"  waited: {waited_s:.2f}s\n"
            f"  last {len(log_tail)} log lines:\n{tail}"
        )


class StackInterrupted(StackError):
    """The start was interrupted (Ctrl-C / SIGTERM); everything started was stopped."""
