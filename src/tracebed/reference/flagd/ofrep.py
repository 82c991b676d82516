"""OFREP answers from the shared flagd evaluator (``evaluation.FlagStore``).

OFREP is type-agnostic, but the evaluator resolves per type; the type is taken from the
flag's variants (all bool, all str, all int, numbers, else object) so numeric flags with
fractional variants (``paymentFailure``) always come back as JSON floats and integer flags
as integers, which is what the typed OpenFeature OFREP provider checks.
"""

from __future__ import annotations

from typing import Any

from openfeature.evaluation_context import EvaluationContext

from tracebed.reference.flagd.evaluation import (
    FLAG_DISABLED,
    FLAG_NOT_FOUND,
    FlagError,
    FlagStore,
    Resolution,
)


class OfrepError(Exception):
    def __init__(self, status: int, key: str | None, code: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.body: dict[str, Any] = {"errorCode": code, "errorDetails": details}
        if key is not None:
            self.body = {"key": key, **self.body}


def context_from_body(body: Any) -> EvaluationContext:
    if body is None:
        return EvaluationContext()
    if not isinstance(body, dict):
        raise OfrepError(400, None, "INVALID_CONTEXT", "request body must be a JSON object")
    ctx = body.get("context", {})
    if ctx is None:
        ctx = {}
    if not isinstance(ctx, dict):
        raise OfrepError(400, None, "INVALID_CONTEXT", "'context' must be a JSON object")
    attrs = dict(ctx)
    targeting_key = attrs.pop("targetingKey", None)
    if targeting_key is not None and not isinstance(targeting_key, str):
        raise OfrepError(400, None, "INVALID_CONTEXT", "'targetingKey' must be a string")
    return EvaluationContext(targeting_key=targeting_key, attributes=attrs)


def error_of(exc: FlagError) -> OfrepError:
    if exc.code == FLAG_DISABLED:
        # flagd answers a disabled flag as not found over OFREP
        return OfrepError(404, exc.key, FLAG_NOT_FOUND, exc.details)
    status = 404 if exc.code == FLAG_NOT_FOUND else 400
    return OfrepError(status, exc.key, exc.code, exc.details)


def result_of(res: Resolution) -> dict[str, Any]:
    return {
        "key": res.key,
        "value": res.value,
        "reason": res.reason,
        "variant": res.variant,
        "metadata": res.metadata,
    }


def evaluate(store: FlagStore, key: str, ctx: EvaluationContext) -> dict[str, Any]:
    """One flag's OFREP body; raises ``OfrepError``."""
    try:
        return result_of(store.resolve(key, ctx))
    except FlagError as exc:
        raise error_of(exc) from None


def evaluate_all(store: FlagStore, ctx: EvaluationContext) -> tuple[int, list[dict[str, Any]]]:
    """(generation, every flag's OFREP body or error body), in the file's order."""
    generation, results = store.resolve_all(ctx)
    return generation, [
        error_of(r).body if isinstance(r, FlagError) else result_of(r) for r in results
    ]
