"""Variables of Tracetest files: variables files < NAME=VALUE pairs < outputs of earlier steps.

`${var:X}` and `${env:X}` fall back to the process environment (in `query.expression`); a
`*_ADDR` variable nobody set is derived from its service (`PRODUCT_CATALOG_ADDR` ->
product-catalog) through a locate callback, usually `HostMap.locate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import yaml

from tracebed.errors import ConfigError
from tracebed.tracetest.definition import TracetestFileError
from tracebed.tracetest.hosts import Locate


class VariablesError(ConfigError, ValueError):
    """A variables file or NAME=VALUE pair that cannot be used; `what` is "file" or "pair"."""

    def __init__(self, message: str, what: str):
        super().__init__(message)
        self.what = what


class Variables(Mapping[str, str]):
    """Known values first; an unset `X_ADDR` is resolved from service `x` when possible."""

    def __init__(self, known: Mapping[str, str] | None = None, locate: Locate | None = None):
        self.known: dict[str, str] = dict(known or {})
        self.locate = locate

    @classmethod
    def load(
        cls,
        files: Iterable[str | Path] = (),
        pairs: Iterable[str] = (),
        locate: Locate | None = None,
    ) -> Variables:
        """From variables files, then `NAME=VALUE` pairs (later ones win)."""
        known: dict[str, str] = {}
        for path in files:
            try:
                known.update(load_variables(Path(path)))
            except TracetestFileError as exc:
                raise VariablesError(str(exc), "file") from None
        for pair in pairs:
            if "=" not in pair:
                raise VariablesError(f"expected NAME=VALUE, got {pair!r}", "pair")
            name, value = pair.split("=", 1)
            known[name.strip()] = value
        return cls(known, locate)

    def with_values(self, values: Mapping[str, str]) -> Variables:
        """A copy with `values` (e.g. outputs of earlier suite steps) over the known ones."""
        return Variables({**self.known, **values}, self.locate)

    def __getitem__(self, key: str) -> str:
        if key in self.known:
            return self.known[key]
        if key.endswith("_ADDR") and self.locate is not None:
            found = self.locate(key[: -len("_ADDR")].lower().replace("_", "-"))
            if found:
                return str(found)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


def load_variables(path: Path) -> dict[str, str]:
    """A variables file: a Tracetest `VariableSet`/`Environment`, a YAML/JSON mapping, or KEY=VALUE lines."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TracetestFileError(path, 1, 1, f"cannot read variables file: {exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and data.get("type") in ("VariableSet", "Environment"):
        values = (data.get("spec") or {}).get("values") or []
        return {str(v["key"]): "" if v.get("value") is None else str(v["value"]) for v in values if "key" in v}
    if isinstance(data, dict):
        return {str(k): "" if v is None else str(v) for k, v in data.items()}
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if "=" not in stripped:
            raise TracetestFileError(path, number, 1, "expected KEY=VALUE")
        key, value = stripped.removeprefix("export ").split("=", 1)
        out[key.strip()] = value.strip().strip("'\"")
    return out
