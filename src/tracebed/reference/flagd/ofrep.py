"""OFREP evaluation on top of the OpenFeature flagd evaluator (``openfeature-flagd-core``).

OFREP is type-agnostic, but the evaluator resolves per type; the type is taken from the
flag's variants (all bool, all str, all int, numbers, else object) so numeric flags with
fractional variants (``paymentFailure``) always come back as JSON floats and integer flags
as integers, which is what the typed OpenFeature OFREP provider checks.
"""

from __future__ import annotations

import copy
from typing import Any

from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode, OpenFeatureError
from openfeature.flag_evaluation import FlagResolutionDetails


class OfrepError(Exception):
    def __init__(self, status: int, key: str | None, code: str, details: str) -> None:
        super().__init__(details)
        self.status = status
        self.body: dict[str, Any] = {"errorCode": code, "errorDetails": details}
        if key is not None:
            self.body = {"key": key, **self.body}


def flag_type(variants: dict[str, Any]) -> str:
    values = list(variants.values())
    if all(isinstance(v, bool) for v in values):
        return "boolean"
    if all(isinstance(v, str) for v in values):
        return "string"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return "integer"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return "float"
    return "object"


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


#: Flag fields the evaluator's model accepts; flagd itself ignores the rest (e.g. description).
_EVALUATOR_FIELDS = ("state", "variants", "defaultVariant", "targeting", "metadata")


def evaluator_document(doc: dict[str, Any]) -> dict[str, Any]:
    """A deep copy without the fields flagd ignores (the evaluator mutates what it gets)."""
    out = copy.deepcopy({k: v for k, v in doc.items() if k != "flags"})
    out["flags"] = {
        key: copy.deepcopy({f: flag[f] for f in _EVALUATOR_FIELDS if f in flag})
        for key, flag in doc["flags"].items()
    }
    return out


class Evaluator:
    """Evaluates one flag document (reloaded by the caller via ``load``)."""

    def __init__(self) -> None:
        self._core = FlagdCore()
        self._types: dict[str, str] = {}
        self._generation = -1

    def load(self, doc: dict[str, Any], generation: int) -> None:
        if generation == self._generation:
            return
        self._core.set_flags(evaluator_document(doc))
        self._types = {k: flag_type(f["variants"]) for k, f in doc["flags"].items()}
        self._generation = generation

    @property
    def keys(self) -> list[str]:
        return list(self._types)

    def evaluate(self, key: str, ctx: EvaluationContext) -> dict[str, Any]:
        kind = self._types.get(key)
        if kind is None:
            raise OfrepError(404, key, "FLAG_NOT_FOUND", f"flag {key!r} was not found")
        try:
            res: FlagResolutionDetails[Any]
            if kind == "boolean":
                res = self._core.resolve_boolean_value(key, False, ctx)
            elif kind == "string":
                res = self._core.resolve_string_value(key, "", ctx)
            elif kind == "integer":
                res = self._core.resolve_integer_value(key, 0, ctx)
            elif kind == "float":
                res = self._core.resolve_float_value(key, 0.0, ctx)
            else:
                res = self._core.resolve_object_value(key, {}, ctx)
        except OpenFeatureError as exc:
            code = exc.error_code.value if exc.error_code else ErrorCode.GENERAL.value
            status = 404 if code == ErrorCode.FLAG_NOT_FOUND.value else 400
            raise OfrepError(status, key, code, exc.error_message or str(exc)) from None
        reason = str(getattr(res.reason, "value", res.reason))
        if reason == "DISABLED":
            # flagd answers a disabled flag as not found over OFREP
            raise OfrepError(404, key, "FLAG_NOT_FOUND", f"flag {key!r} is disabled")
        return {
            "key": key,
            "value": res.value,
            "reason": reason,
            "variant": res.variant,
            "metadata": dict(res.flag_metadata or {}),
        }
