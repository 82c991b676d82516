"""The flag file in flagd's JSON format: reading, validating, watching and rewriting it.

Both the flag service (reads) and flagd-ui (rewrites ``defaultVariant``) use this, so the
file is the single source of truth, as in the demo where both containers mount it.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tracebed.errors import ConfigError


class FlagFileError(ConfigError, ValueError):
    """The flag file is missing, not JSON, or not in flagd's format."""


#: The project's own flag files (the demo's keys, variants, defaults and targeting).
_FLAG_FILES = {"2.0.2": "flags.json", "3.0.0": "flags-3.0.0.json"}


def bundled_flag_file(demo_version: str = "2.0.2") -> Path:
    """The flag file of ``demo_version`` (2.0.2's 11 flags, or 3.0.0's 15)."""
    name = _FLAG_FILES.get(demo_version)
    if name is None:
        raise FlagFileError(f"no flag file for demo version {demo_version!r}")
    return Path(str(resources.files("tracebed.reference") / "data" / name))


def validate(doc: Any, source: str = "flag file") -> dict[str, Any]:
    """Check the parts of flagd's schema the reference stack relies on; return ``doc``."""
    if not isinstance(doc, dict) or not isinstance(doc.get("flags"), dict):
        raise FlagFileError(f"{source}: expected an object with a 'flags' object")
    for key, flag in doc["flags"].items():
        if not isinstance(flag, dict):
            raise FlagFileError(f"{source}: flag {key!r} is not an object")
        variants = flag.get("variants")
        if not isinstance(variants, dict) or not variants:
            raise FlagFileError(f"{source}: flag {key!r} has no variants")
        if flag.get("state", "ENABLED") not in ("ENABLED", "DISABLED"):
            raise FlagFileError(f"{source}: flag {key!r} has state {flag.get('state')!r}")
        default = flag.get("defaultVariant")
        if default is not None and default not in variants:
            raise FlagFileError(
                f"{source}: flag {key!r} defaultVariant {default!r} is not one of "
                f"{sorted(variants)}"
            )
    return doc


def read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FlagFileError(f"cannot read flag file {path}: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FlagFileError(f"flag file {path} is not valid JSON: {exc}") from None
    return validate(doc, str(path))


def write(path: Path, doc: dict[str, Any]) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a file."""
    validate(doc, "new flag document")
    fd, tmp = tempfile.mkstemp(prefix=".flags-", suffix=".json", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(doc, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_write_lock = threading.Lock()


def set_default_variant(path: Path, key: str, variant: str) -> dict[str, Any]:
    """Switch flag ``key`` to ``variant`` in the file; return the flag's new definition.

    As the demo's flagd-ui toggle does (demo-facts-3.0 §8.4): a flag whose ``targeting.if``
    has exactly three elements gets the variant in the then-branch (a targeting result
    overrides ``defaultVariant``); every other flag gets it as ``defaultVariant``.
    """
    with _write_lock:
        doc = read(path)
        flag = doc["flags"].get(key)
        if flag is None:
            raise KeyError(key)
        if variant not in flag["variants"]:
            raise FlagFileError(
                f"flag {key!r} has no variant {variant!r}; variants: {sorted(flag['variants'])}"
            )
        targeting = flag.get("targeting")
        rule = targeting.get("if") if isinstance(targeting, dict) else None
        if isinstance(rule, list) and len(rule) == 3:
            rule[1] = variant
        else:
            flag["defaultVariant"] = variant
        write(path, doc)
        return dict(flag)


@dataclass(frozen=True)
class _Stamp:
    inode: int
    mtime_ns: int
    size: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _Stamp(st.st_ino, st.st_mtime_ns, st.st_size)


class WatchedFlagFile:
    """The current content of a flag file, re-read whenever the file changes.

    ``current()`` compares the file's inode/mtime/size with the last read (one ``stat``),
    so an evaluation right after a write always sees the new file — no watcher delay.
    A broken file keeps the last good content (flagd does the same) and records the error.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._doc: dict[str, Any] = read(path)
        self._stamp = _stamp(path)
        self.generation = 1
        self.last_error: str | None = None

    def current(self) -> tuple[dict[str, Any], int]:
        """(document, generation); generation increases on every successful reload."""
        stamp = _stamp(self.path)
        with self._lock:
            if stamp is not None and stamp != self._stamp:
                try:
                    self._doc = read(self.path)
                    self.generation += 1
                    self.last_error = None
                except FlagFileError as exc:
                    self.last_error = str(exc)
                self._stamp = stamp
            return self._doc, self.generation
