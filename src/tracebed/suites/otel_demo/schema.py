"""The demo's telemetry registry per release, and the non-conformances of the demo itself.

Where the registry comes from, first that applies:

1. `--tracebed-registry DIR` (with `--tracebed-registry-dependency DIR`), or the same keys in
   the ini file: whatever the stack is.
2. A compose stack: `telemetry-schema/` beside its compose files (a checkout of demo 3.0.0 or
   later has it at its top). Its manifest depends on the semantic conventions 1.40.0 by URL,
   which tracebed does not download: give their `model/` directory with
   `--tracebed-registry-dependency DIR`.
3. Otherwise the check skips, saying how to give one. Demo 2.0.2 ships no registry (the demo
   added `telemetry-schema/` in 3.0.0): its check skips saying so.

The known non-conformances are data, `fixtures/conformance/<release>/known.yaml`: each entry
names a finding id, the attribute / metric / event key and the services, and says what the
demo does (the stand-in reproduces it; its README lists the same cases).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracebed.errors import ConfigError
from tracebed.plugin.conformance import registry_dirs, registry_for
from tracebed.query.conformance import DEFAULT_LEVELS, Finding
from tracebed.query.registry import Registry, RegistryError, load_registry

#: The releases whose checkout ships a Weaver registry, and its directory in the checkout.
REGISTRY_DIRS: dict[str, str] = {"3.0.0": "telemetry-schema"}
#: Why a release has none.
NO_REGISTRY: dict[str, str] = {
    "2.0.2": "demo 2.0.2 ships no telemetry registry (the demo added telemetry-schema/ in 3.0.0), "
    "so there is nothing to check its telemetry against",
}

_CACHE_KEY = pytest.StashKey[dict[tuple[str, str], Registry | str]]()


def _checkout_registry(demo_stack: Any, release: str) -> Path | None:
    """`telemetry-schema/` beside the compose files of a compose stack, if there is one."""
    topology = getattr(demo_stack, "topology", None)
    name = REGISTRY_DIRS[release]
    for compose_file in getattr(topology, "compose_files", None) or ():
        candidate = Path(compose_file).resolve().parent / name
        if (candidate / "manifest.yaml").is_file() or candidate.is_dir():
            return candidate
    return None


def release_registry(config: pytest.Config, demo_stack: Any, release: str) -> Registry:
    """The registry `release`'s telemetry is checked against; skips when there is none."""
    if release not in REGISTRY_DIRS:
        pytest.skip(NO_REGISTRY.get(release, f"demo {release} ships no telemetry registry"))
    given, dependency = registry_dirs(config)
    if given is not None:
        return registry_for(config)  # fails the test with one line when it does not load
    found = _checkout_registry(demo_stack, release)
    if found is None:
        pytest.skip(
            f"conformance: no registry for demo {release}: pass --tracebed-registry DIR (the "
            f"demo checkout's {REGISTRY_DIRS[release]}/) with --tracebed-registry-dependency "
            "DIR (semantic-conventions v1.40.0 model/); a compose stack finds "
            f"{REGISTRY_DIRS[release]}/ beside its compose files"
        )
    cache = config.stash.setdefault(_CACHE_KEY, {})
    key = (str(found), str(dependency or ""))
    if key not in cache:
        try:
            cache[key] = load_registry(found, dependency)
        except RegistryError as exc:
            cache[key] = f"conformance: registry {found}: {exc}"
    loaded = cache[key]
    if isinstance(loaded, str):
        if dependency is None and "depends on" in loaded:
            pytest.skip(
                f"conformance: {found} depends on the semantic conventions; pass "
                "--tracebed-registry-dependency DIR (semantic-conventions v1.40.0 model/)"
            )
        pytest.fail(loaded, pytrace=False)
    return loaded


# -- known non-conformances -----------------------------------------------------------------------


@dataclass(frozen=True)
class KnownFinding:
    """One kind of expected finding: its ids, the keys it is about (globs), the services (globs)
    and the signal names, e.g. span names (globs); `demo` says what the demo does."""

    ids: tuple[str, ...]
    keys: tuple[str, ...]
    demo: str
    services: tuple[str, ...] = ("*",)
    signals: tuple[str, ...] = ("*",)

    def matches(self, finding: Finding) -> bool:
        return (
            finding.id in self.ids
            and any(fnmatch.fnmatchcase(finding.key, k) for k in self.keys)
            and any(fnmatch.fnmatchcase(finding.service, s) for s in self.services)
            and any(fnmatch.fnmatchcase(finding.signal_name, s) for s in self.signals)
        )


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(f"{where}: must be a string or a list of strings, got {value!r}")


def load_known(path: Path) -> list[KnownFinding]:
    """The entries of a `known.yaml`; a `ConfigError` naming the entry on anything off."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: {exc}") from None
    if not isinstance(data, dict) or set(data) - {"known"}:
        raise ConfigError(f"{path}: expected a mapping with the one key `known`")
    out: list[KnownFinding] = []
    for i, entry in enumerate(data.get("known") or ()):
        where = f"{path}: known[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a mapping")
        unknown = set(entry) - {"id", "key", "service", "signal", "demo"}
        if unknown:
            raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
        if not isinstance(entry.get("demo"), str) or not entry["demo"].strip():
            raise ConfigError(f"{where}: `demo` (what the demo does, a string) is required")
        ids = _strings(entry.get("id"), f"{where}.id")
        for finding_id in ids:
            if finding_id not in DEFAULT_LEVELS:
                raise ConfigError(f"{where}: unknown finding id {finding_id!r}")
        out.append(
            KnownFinding(
                ids=ids,
                keys=_strings(entry.get("key"), f"{where}.key"),
                demo=" ".join(entry["demo"].split()),
                services=_strings(entry.get("service", "*"), f"{where}.service"),
                signals=_strings(entry.get("signal", "*"), f"{where}.signal"),
            )
        )
    return out


def known_for(finding: Finding, known: Sequence[KnownFinding]) -> KnownFinding | None:
    return next((k for k in known if k.matches(finding)), None)


def describe(finding: Finding) -> str:
    """One line with everything needed to find the sample: id, key, service, signal, trace."""
    where = f"{finding.signal_type} {finding.signal_name!r}"
    ids = ""
    if finding.trace_id:
        ids = f" trace {finding.trace_id}" + (f" span {finding.span_id}" if finding.span_id else "")
    return (
        f"{finding.level.label} {finding.id} {finding.key!r} -- "
        f"{finding.service or '?'}: {where}{ids}: {finding.message}"
    )


def unexpected(findings: Iterable[Finding], known: Sequence[KnownFinding]) -> list[Finding]:
    return [f for f in findings if known_for(f, known) is None]
