"""Switching the demo's feature flags through its flag UI, and knowing when the switch took.

The demo's flagd-ui (and the reference stack's) serves `GET /feature/api/read-file` and
`POST /feature/api/write-to-file` with `{"data": <flag document>}`; flagd re-reads the file.
A switch counts as applied once the flag service evaluates the new variant over OFREP.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
from tenacity import RetryError, Retrying, retry_if_result, stop_after_delay, wait_exponential

from tracebed.errors import StackError


class FlagError(StackError, RuntimeError):
    pass


class FlagSwitch:
    """Reads and writes the flag document; `switched(...)` restores it afterwards."""

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
        """flag -> (current default variant, all variants)."""
        return {
            key: (flag.get("defaultVariant", ""), list(flag.get("variants", {})))
            for key, flag in self.read()["flags"].items()
        }

    def set(self, **flags: str) -> dict[str, Any]:
        """Set default variants; returns the document as it was (for `restore`)."""
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
            flag["defaultVariant"] = variant
            flag["state"] = "ENABLED"
        self.write(after)
        self.wait_applied({k: str(v) for k, v in flags.items()})
        return before

    def restore(self, document: Mapping[str, Any]) -> None:
        self.write(document)
        self.wait_applied(
            {key: flag.get("defaultVariant", "") for key, flag in document["flags"].items()}
        )

    @contextmanager
    def switched(self, **flags: str) -> Iterator[dict[str, Any]]:
        before = self.set(**flags)
        try:
            yield before
        finally:
            self.restore(before)

    def evaluate_variant(self, key: str) -> str | None:
        assert self.ofrep_url is not None
        try:
            response = self.session.post(
                f"{self.ofrep_url}/ofrep/v1/evaluate/flags/{key}", json={"context": {}}, timeout=5
            )
        except requests.RequestException:
            return None
        if response.status_code != 200:
            return None
        variant = response.json().get("variant")
        return str(variant) if variant is not None else None

    def wait_applied(self, expected: Mapping[str, str]) -> None:
        """Until the flag service evaluates every expected variant (bounded; then `settle`)."""
        if self.ofrep_url is not None:
            pending = dict(expected)

            def still_pending() -> dict[str, str]:
                for key in list(pending):
                    if self.evaluate_variant(key) == pending[key]:
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
                raise FlagError(
                    f"the flag service still does not evaluate {pending} after "
                    f"{self.apply_timeout}s (OFREP at {self.ofrep_url})"
                ) from None
        if self.settle > 0:
            time.sleep(self.settle)  # documented settle for SDK-side flag caches
