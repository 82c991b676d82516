"""The composition root's place: what the harness, refstack and stack may import."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tracebed

PACKAGE = Path(tracebed.__file__).resolve().parent

# package: tracebed packages it must never import (not even lazily, inside a function)
FORBIDDEN = {
    "stack": ("harness", "refstack", "reference", "plugin", "cli"),
    "refstack": ("harness", "plugin", "cli"),
    "harness": ("plugin", "cli"),
    "reference": ("harness", "refstack", "plugin", "cli"),
}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_no_upward_import(package: str) -> None:
    bad = []
    for path in sorted((PACKAGE / package).rglob("*.py")):
        for name in imported(path):
            parts = name.split(".")
            if parts[0] == "tracebed" and len(parts) > 1 and parts[1] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(PACKAGE)} imports {name}")
    assert not bad, "\n".join(bad)
