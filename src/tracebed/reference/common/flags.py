"""Feature flags through OpenFeature with the OFREP provider (flagd's port 8016).

Flags are located by the demo's ``FLAGD_HOST`` and ``FLAGD_OFREP_PORT``. If the flag
service is down or unset, every evaluation returns the caller's default, as the demo's
providers do. Results are cached briefly so a hot RPC path does not hit flagd each time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.contrib.provider.ofrep import OFREPProvider
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import TypeMismatchError
from openfeature.flag_evaluation import FlagEvaluationDetails, FlagResolutionDetails
from opentelemetry import trace

from tracebed.reference import versions

#: Seconds an evaluation result is reused (env TRACEBED_FLAG_CACHE_SECONDS overrides).
DEFAULT_CACHE_SECONDS = 0.5


class _NumberTolerantOFREP(OFREPProvider):
    """OFREP provider that accepts whole numbers for float flags.

    The demo's ``paymentFailure`` variants include ``1`` and ``0``, which JSON decodes
    as ints; the stock provider rejects those as a type mismatch.
    """

    def resolve_float_details(
        self,
        flag_key: str,
        default_value: float,
        evaluation_context: EvaluationContext | None = None,
    ) -> FlagResolutionDetails[float]:
        try:
            return super().resolve_float_details(flag_key, default_value, evaluation_context)
        except TypeMismatchError:
            whole = super().resolve_integer_details(
                flag_key, int(default_value), evaluation_context
            )
            return FlagResolutionDetails(
                value=float(whole.value),
                reason=whole.reason,
                variant=whole.variant,
                flag_metadata=whole.flag_metadata,
            )


class Flags:
    """Typed flag lookups with a short cache and an optional ``feature_flag`` span event."""

    def __init__(
        self,
        ofrep_base_url: str | None,
        *,
        cache_seconds: float = DEFAULT_CACHE_SECONDS,
        timeout: float = 0.5,
        domain: str = "tracebed-reference",
    ) -> None:
        self.base_url = ofrep_base_url
        self.cache_seconds = cache_seconds
        self._cache: dict[
            tuple[str, str, tuple[tuple[str, Any], ...]], tuple[float, Any, str, str]
        ] = {}
        self._lock = threading.Lock()
        self._client: OpenFeatureClient | None = None
        if ofrep_base_url:
            api.set_provider(_NumberTolerantOFREP(ofrep_base_url, timeout=timeout), domain)
            self._client = api.get_client(domain)

    @classmethod
    def from_env(cls) -> Flags:
        host = os.environ.get("FLAGD_HOST", "")
        port = os.environ.get("FLAGD_OFREP_PORT", "8016")
        url = f"http://{host}:{port}" if host else None
        cache = float(os.environ.get("TRACEBED_FLAG_CACHE_SECONDS", DEFAULT_CACHE_SECONDS))
        return cls(url, cache_seconds=cache)

    def boolean(
        self,
        key: str,
        default: bool = False,
        *,
        context: Mapping[str, Any] | None = None,
        event: bool = False,
    ) -> bool:
        return bool(self._evaluate("bool", key, default, context, event))

    def integer(
        self,
        key: str,
        default: int = 0,
        *,
        context: Mapping[str, Any] | None = None,
        event: bool = False,
    ) -> int:
        return int(self._evaluate("int", key, default, context, event))

    def number(
        self,
        key: str,
        default: float = 0.0,
        *,
        context: Mapping[str, Any] | None = None,
        event: bool = False,
    ) -> float:
        return float(self._evaluate("float", key, default, context, event))

    def _evaluate(
        self,
        kind: str,
        key: str,
        default: Any,
        context: Mapping[str, Any] | None,
        event: bool,
    ) -> Any:
        ctx_key = tuple(sorted((context or {}).items()))
        cache_key = (kind, key, ctx_key)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(cache_key)
        if hit is not None and now - hit[0] < self.cache_seconds:
            value, variant, reason = hit[1], hit[2], hit[3]
        else:
            value, variant, reason = self._resolve(kind, key, default, context)
            with self._lock:
                self._cache[cache_key] = (now, value, variant, reason)
        if event:
            # What the demo's OpenFeature OTel hook records on the current span.
            if versions.is_v3():
                # the Go hook v0.3.7 at 3.0.0 (demo-facts-3.0 §5.3.3)
                trace.get_current_span().add_event(
                    "feature_flag.evaluation",
                    {
                        "feature_flag.key": key,
                        "feature_flag.provider.name": "flagd",
                        "feature_flag.result.value": value,
                        "feature_flag.result.variant": variant,
                        "feature_flag.result.reason": reason,
                    },
                )
            else:
                trace.get_current_span().add_event(
                    "feature_flag",
                    {
                        "feature_flag.key": key,
                        "feature_flag.provider_name": "flagd",
                        "feature_flag.variant": variant,
                    },
                )
        return value

    def _resolve(
        self, kind: str, key: str, default: Any, context: Mapping[str, Any] | None
    ) -> tuple[Any, str, str]:
        if self._client is None:
            return default, "", "DEFAULT"
        ctx = None
        if context:
            attrs = dict(context)
            targeting = attrs.pop("targetingKey", None)
            ctx = EvaluationContext(targeting_key=targeting, attributes=attrs)
        details: FlagEvaluationDetails[Any]
        if kind == "bool":
            details = self._client.get_boolean_details(key, default, ctx)
        elif kind == "int":
            details = self._client.get_integer_details(key, default, ctx)
        else:
            details = self._client.get_float_details(key, float(default), ctx)
        reason = getattr(details.reason, "value", details.reason)  # an enum or a plain str
        return details.value, details.variant or "", str(reason or "")
