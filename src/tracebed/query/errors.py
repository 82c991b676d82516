"""Errors of the query languages: a syntax error knows its column and what was expected."""

from __future__ import annotations

# QuerySyntaxError is one of the kinds a user catches, so it lives with the error root.
from tracebed.errors import QuerySyntaxError, TracebedError

__all__ = ["QueryEvaluationError", "QuerySyntaxError"]


class QueryEvaluationError(TracebedError):
    """An expression that parsed but cannot be evaluated (bad JSON for json_path, ...)."""
