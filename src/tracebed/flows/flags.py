"""Switching the demo's feature flags through its flag UI, and knowing when the switch took.

The demo's flagd-ui (and the reference stack's) serves `GET /feature/api/read-file` and
`POST /feature/api/write-to-file` with `{"data": <flag document>}`; flagd re-reads the file.
A switch counts as applied once the flag service evaluates the new variant over OFREP.

A switch writes what flagd-ui's toggle writes (demo-facts-3.0 §8.2, §8.4): for a flag whose
`targeting.if` has exactly three elements (condition, then, else) the then-branch, since a
targeting rule's result overrides `defaultVariant` (3.0.0's productCatalogFailure); for any
other flag `defaultVariant`. A then-branch is only seen by an evaluation that meets the
condition, so for a condition of the form `var == literal` the switch waits with that
context (`{"product_id": "OLJCESPC7Z"}`); for any other condition it cannot build one and
does not wait for that flag.
"""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from tracebed.errors import StackError


class FlagError(StackError, RuntimeError):
    pass


def _then_branch(flag: Mapping[str, Any]) -> bool:
    """True when flagd-ui switches this flag through its `if` rule's then-branch."""
    targeting = flag.get("targeting")
    rule = targeting.get("if") if isinstance(targeting, Mapping) else None
    return isinstance(rule, list) and len(rule) == 3


def switched_variant(flag: Mapping[str, Any]) -> str:
    """The variant the flag is switched to: its then-branch, or its default variant."""
    if _then_branch(flag):
        then = flag["targeting"]["if"][1]
        return then if isinstance(then, str) else ""
    return str(flag.get("defaultVariant", ""))


def set_switched_variant(flag: dict[str, Any], variant: str) -> None:
    """What flagd-ui's toggle does to one flag (storage.ex `update_flag` at 3.0.0)."""
    if _then_branch(flag):
        flag["targeting"]["if"][1] = variant
    else:
        flag["defaultVariant"] = variant


def switch_context(flag: Mapping[str, Any]) -> dict[str, Any] | None:
    """An evaluation context in which the switched variant is what flagd answers.

    `{}` for a flag switched by its default variant; for a then-branch, the context that
    meets a `var == literal` condition (either order); None when the condition is another
    shape (nothing here can tell which context meets it).
    """
    if not _then_branch(flag):
        return {}
    condition = flag["targeting"]["if"][0]
    if not isinstance(condition, Mapping) or set(condition) != {"=="}:
        return None
    operands = condition["=="]
    if not isinstance(operands, list) or len(operands) != 2:
        return None
    for var, literal in (operands, operands[::-1]):
        if (
            isinstance(var, Mapping)
            and set(var) == {"var"}
            and isinstance(var["var"], str)
            and isinstance(literal, str | int | float | bool)
        ):
            return {var["var"]: literal}
    return None


class FlagSwitch:
    """Reads and writes the flag document; `switched(...)` restores what it switched.

    Safe to share between threads: each change is a read-modify-write of the one document,
    done under a lock, and touches only the flags it names, so scenarios switching different
    flags at once keep each other's switches.
    """

    def __init__(
        self,
        ui_url: str,
        ofrep_url: str | None = None,
        *,
        settle: float = 0.0,
        apply_timeout: float = 15.0,
        session: requests.Session | None = None,
    ):
        self.ui_url = ui_url.rstrip("/")
        self.ofrep_url = ofrep_url.rstrip("/") if ofrep_url else None
        self.settle = settle
        self.apply_timeout = apply_timeout
        self.session = session or requests.Session()
        self._lock = threading.RLock()  # one read-modify-write of the document at a time

    def read(self) -> dict[str, Any]:
        response = self.session.get(f"{self.ui_url}/api/read-file", timeout=10)
        if response.status_code != 200:
            raise FlagError(
                f"GET {self.ui_url}/api/read-file answered {response.status_code}: "
                f"{response.text[:200]}"
            )
        document = response.json()
        if not isinstance(document, dict) or not isinstance(document.get("flags"), dict):
            raise FlagError(f"the flag UI's read-file is not a flag document: {document!r:.200}")
        return document

    def write(self, document: Mapping[str, Any]) -> None:
        response = self.session.post(
            f"{self.ui_url}/api/write-to-file", json={"data": document}, timeout=10
        )
        if response.status_code != 200:
            raise FlagError(
                f"POST {self.ui_url}/api/write-to-file answered {response.status_code}: "
                f"{response.text[:200]}"
            )

    def variants(self) -> dict[str, tuple[str, list[str]]]:
        """flag -> (the variant it is switched to, all variants)."""
        return {
            key: (switched_variant(flag), list(flag.get("variants", {})))
            for key, flag in self.read()["flags"].items()
        }

    def set(self, **flags: str) -> dict[str, Any]:
        """Switch flags as flagd-ui does; returns the document as it was (for `restore`)."""
        with self._lock:
            before = self.read()
            after = copy.deepcopy(before)
            for key, variant in flags.items():
                flag = after["flags"].get(key)
                if flag is None:
                    known = ", ".join(sorted(after["flags"]))
                    raise FlagError(f"unknown flag {key!r}; the flag file has: {known}")
                variant = str(variant)
                if variant not in flag.get("variants", {}):
                    raise FlagError(
                        f"flag {key!r} has no variant {variant!r}; "
                        f"its variants are {sorted(flag.get('variants', {}))}"
                    )
                set_switched_variant(flag, variant)
                flag["state"] = "ENABLED"
            self.write(after)
        self.wait_applied({key: after["flags"][key] for key in flags})
        return before

    def restore(self, document: Mapping[str, Any], keys: Iterable[str] | None = None) -> None:
        """Write `document` back: whole, or only the flags `keys` (the others as they are now)."""
        if keys is None:
            with self._lock:
                self.write(document)
            self.wait_applied(document["flags"])
            return
        wanted = [key for key in keys if key in document["flags"]]
        with self._lock:
            now = self.read()
            if all(now["flags"].get(key) == document["flags"][key] for key in wanted):
                return  # already as it was (the test switched it back itself)
            for key in wanted:
                now["flags"][key] = copy.deepcopy(document["flags"][key])
            self.write(now)
        self.wait_applied({key: document["flags"][key] for key in wanted})

    @contextmanager
    def switched(self, **flags: str) -> Iterator[dict[str, Any]]:
        """The flags switched for the block, then each back as it was before it (only those:
        a flag another thread switched meanwhile keeps its switch)."""
        before = self.set(**flags)
        try:
            yield before
        finally:
            self.restore(before, keys=flags)

    def evaluate_variant(self, key: str, context: Mapping[str, Any] | None = None) -> str | None:
        assert self.ofrep_url is not None
        try:
            response = self.session.post(
                f"{self.ofrep_url}/ofrep/v1/evaluate/flags/{key}",
                json={"context": dict(context or {})},
                timeout=5,
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        variant = response.json().get("variant")
        return str(variant) if variant is not None else None

    def wait_applied(self, flags: Mapping[str, Mapping[str, Any]]) -> None:
        """Until the flag service evaluates each flag (key -> definition as written) to its
        switched variant, in the context that shows it (bounded; then `settle`)."""
        if self.ofrep_url is not None:
            pending: dict[str, tuple[str, dict[str, Any]]] = {}
            for key, flag in flags.items():
                context = switch_context(flag)
                if context is not None and flag.get("state", "ENABLED") == "ENABLED":
                    pending[key] = (switched_variant(flag), context)

            def still_pending() -> dict[str, tuple[str, dict[str, Any]]]:
                for key in list(pending):
                    variant, context = pending[key]
                    if self.evaluate_variant(key, context) == variant:
                        del pending[key]
                return pending

            # flagd picks the file change up on its own schedule; ask again with back-off.
            retrying = Retrying(
                retry=retry_if_result(bool),
                wait=wait_exponential(multiplier=0.01, max=0.2),
                stop=stop_after_delay(self.apply_timeout),
            )
            try:
                retrying(still_pending)
            except RetryError:
                waiting = {key: variant for key, (variant, _) in pending.items()}
                raise FlagError(
                    f"the flag service still does not evaluate {waiting} after "
                    f"{self.apply_timeout}s (OFREP at {self.ofrep_url})"
                ) from None
        if self.settle > 0:
            time.sleep(self.settle)  # documented settle for SDK-side flag caches
