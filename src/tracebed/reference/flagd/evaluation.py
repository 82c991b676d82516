"""Flag evaluation shared by both wire protocols (OFREP over HTTP, flagd's gRPC).

``FlagStore`` holds the watched flag file and one OpenFeature flagd evaluator
(``openfeature-flagd-core``, the same targeting and ``fractional`` as flagd). Every
evaluation re-checks the file first, so a write is seen by the next request, and a short
poll loop (``watch``) notices writes between requests, so change events reach streaming
clients without a request to trigger them.

Results follow flagd's Go evaluator, which both protocols answer from:
  * a flag resolves to its variant's JSON value; the type is the value's (bool, string,
    number, object), so an integer request of a fractional flag truncates (Go's
    ``int64(float64)``) instead of failing, and a float request of an integer flag succeeds;
  * a disabled flag is the error ``FLAG_DISABLED``; an unknown one ``FLAG_NOT_FOUND``.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openfeature.contrib.tools.flagd.core import FlagdCore
from openfeature.evaluation_context import EvaluationContext
from openfeature.exception import ErrorCode, OpenFeatureError
from openfeature.flag_evaluation import FlagResolutionDetails

from tracebed.reference.flagd.flagfile import WatchedFlagFile

log = logging.getLogger("flagd")

FLAG_NOT_FOUND = ErrorCode.FLAG_NOT_FOUND.value
TYPE_MISMATCH = ErrorCode.TYPE_MISMATCH.value
PARSE_ERROR = ErrorCode.PARSE_ERROR.value
GENERAL = ErrorCode.GENERAL.value
FLAG_DISABLED = "FLAG_DISABLED"  # flagd's own code (not in OpenFeature's ErrorCode)

#: How often ``watch`` looks at the file (one ``stat``); flagd's fsnotify is about as quick.
WATCH_INTERVAL_SECONDS = 0.05


class FlagError(Exception):
    """An evaluation that failed with one of flagd's error codes."""

    def __init__(self, code: str, key: str, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.key = key
        self.details = details


@dataclass(frozen=True)
class Resolution:
    key: str
    value: Any
    variant: str | None
    reason: str
    metadata: dict[str, Any] = field(default_factory=dict)


def flag_type(variants: dict[str, Any]) -> str:
    """The type a typed OpenFeature client reads a flag as, from all its variants."""
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


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


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


def context_from_dict(attrs: dict[str, Any]) -> EvaluationContext:
    """flagd's context map (``targetingKey`` among the attributes) as an OpenFeature one."""
    attrs = dict(attrs)
    targeting_key = attrs.get("targetingKey")
    if isinstance(targeting_key, str):
        del attrs["targetingKey"]
        return EvaluationContext(targeting_key=targeting_key, attributes=attrs)
    return EvaluationContext(attributes=attrs)


class Evaluator:
    """Evaluates one flag document (reloaded by the caller via ``load``)."""

    def __init__(self) -> None:
        self._core = FlagdCore()
        self._types: dict[str, str] = {}
        self._generation = -1

    def load(self, doc: dict[str, Any], generation: int) -> list[str]:
        """Take ``doc`` as the flags; return the keys whose definition changed."""
        if generation == self._generation:
            return []
        changed = self._core.set_flags_and_get_changed_keys(evaluator_document(doc))
        self._types = {k: flag_type(f["variants"]) for k, f in doc["flags"].items()}
        self._generation = generation
        return changed

    @property
    def keys(self) -> list[str]:
        return list(self._types)

    def flag_set_metadata(self) -> dict[str, Any]:
        return dict(self._core.get_flag_set_metadata())

    def resolve(self, key: str, ctx: EvaluationContext) -> Resolution:
        """The flag's value in its own type (see ``flag_type``), or a ``FlagError``."""
        kind = self._types.get(key)
        if kind is None:
            raise FlagError(FLAG_NOT_FOUND, key, f"flag {key!r} was not found")
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
            code = exc.error_code.value if exc.error_code else GENERAL
            raise FlagError(code, key, exc.error_message or str(exc)) from None
        reason = str(getattr(res.reason, "value", res.reason))
        if reason == "DISABLED":
            raise FlagError(FLAG_DISABLED, key, f"flag {key!r} is disabled")
        return Resolution(key, res.value, res.variant, reason, dict(res.flag_metadata or {}))


#: A change notification, flagd's: flag key -> {"type": "write" | "update" | "delete",
#: "source": the flag file}.
Changes = dict[str, dict[str, str]]


class FlagStore:
    """The flag file, its evaluator, and the listeners told about every change."""

    def __init__(self, path: Path, source: str | None = None) -> None:
        self.watched = WatchedFlagFile(path)
        #: named in change notifications, as flagd names the sync source (its ``--uri`` path)
        self.source = source if source is not None else str(path)
        self._evaluator = Evaluator()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[Changes], None]] = []
        self._keys: set[str] = set()
        self._generation: int | None = None
        self.refresh()

    @property
    def last_error(self) -> str | None:
        return self.watched.last_error

    def refresh(self) -> int:
        """Re-read the file if it changed and tell the listeners; return the generation.

        As flagd, every successful re-read is announced, listing only the flags whose
        definition changed (possibly none); a broken file announces nothing.
        """
        doc, generation = self.watched.current()
        with self._lock:
            if self._generation is not None and generation <= self._generation:
                # a concurrent refresh already loaded this or a newer read of the file
                return self._generation
            changed = self._evaluator.load(doc, generation)
            new_keys = set(doc["flags"])
            changes: Changes = {}
            for key in changed:
                if key not in new_keys:
                    kind = "delete"
                elif key not in self._keys:
                    kind = "write"
                else:
                    kind = "update"
                changes[key] = {"type": kind, "source": self.source}
            first = self._generation is None
            self._generation = generation
            self._keys = new_keys
            listeners = list(self._listeners)
        if not first:
            log.info("flag file re-read; changed: %s", ", ".join(sorted(changes)) or "none")
            for listener in listeners:
                listener(changes)
        return generation

    def subscribe(self, listener: Callable[[Changes], None]) -> Callable[[], None]:
        """Call ``listener`` on every change; returns the function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock, contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return unsubscribe

    @property
    def keys(self) -> list[str]:
        self.refresh()
        with self._lock:
            return self._evaluator.keys

    def resolve(self, key: str, ctx: EvaluationContext) -> Resolution:
        self.refresh()
        with self._lock:
            return self._evaluator.resolve(key, ctx)

    def resolve_all(self, ctx: EvaluationContext) -> tuple[int, list[Resolution | FlagError]]:
        """Every flag, in file order, from one generation of the file."""
        generation = self.refresh()
        out: list[Resolution | FlagError] = []
        with self._lock:
            for key in self._evaluator.keys:
                try:
                    out.append(self._evaluator.resolve(key, ctx))
                except FlagError as exc:
                    out.append(exc)
            return generation, out

    def flag_set_metadata(self) -> dict[str, Any]:
        with self._lock:
            return self._evaluator.flag_set_metadata()

    def watch(self, stop: threading.Event, interval: float = WATCH_INTERVAL_SECONDS) -> None:
        """Poll the file until ``stop`` is set (run it in a daemon thread)."""
        while not stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # a watcher that dies would silently stop change events
                log.exception("flag file watch failed")
