"""Compose-style variable interpolation and `.env` file parsing.

Supports what the Compose specification defines: `$VAR`, `${VAR}`, `${VAR:-default}`,
`${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, nested
expressions inside defaults, and `$$` as a literal dollar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tracebed.stack.errors import InterpolationError, TopologyError

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


#: Where each variable that was referenced without a default and is not set was used
#: (`$VAR` / `${VAR}`: Compose warns and uses a blank string). Filled if passed in.
Unset = dict[str, list[str]]


def interpolate(
    text: str, env: Mapping[str, str], where: str = "", unset: Unset | None = None
) -> str:
    """Expand variables in one string the way Compose does."""
    out, _ = _expand(text, 0, env, where, stop_at_brace=False, unset=unset)
    return out


def _lookup(name: str, env: Mapping[str, str], where: str, unset: Unset | None) -> str:
    if name not in env and unset is not None:
        unset.setdefault(name, []).append(where)
    return env.get(name, "")


def _expand(
    text: str,
    pos: int,
    env: Mapping[str, str],
    where: str,
    stop_at_brace: bool,
    unset: Unset | None = None,
) -> tuple[str, int]:
    """Expand from `pos`; when `stop_at_brace`, stop at an unmatched `}` (end of a default)."""
    parts: list[str] = []
    i = pos
    n = len(text)
    while i < n:
        c = text[i]
        if stop_at_brace and c == "}":
            return "".join(parts), i
        if c != "$":
            parts.append(c)
            i += 1
            continue
        if i + 1 < n and text[i + 1] == "$":
            parts.append("$")
            i += 2
            continue
        if i + 1 < n and text[i + 1] == "{":
            value, i = _braced(text, i + 2, env, where, unset)
            parts.append(value)
            continue
        m = _NAME.match(text, i + 1)
        if m:
            parts.append(_lookup(m.group(0), env, where, unset))
            i = m.end()
            continue
        parts.append("$")
        i += 1
    if stop_at_brace:
        raise InterpolationError(f"{where}: unterminated '${{' in {text!r}")
    return "".join(parts), i


def _braced(
    text: str, pos: int, env: Mapping[str, str], where: str, unset: Unset | None = None
) -> tuple[str, int]:
    m = _NAME.match(text, pos)
    if not m:
        raise InterpolationError(f"{where}: invalid variable expression in {text!r}")
    name = m.group(0)
    i = m.end()
    if i >= len(text):
        raise InterpolationError(f"{where}: unterminated '${{{name}' in {text!r}")
    if text[i] == "}":
        return _lookup(name, env, where, unset), i + 1
    for op in (":-", ":?", ":+", "-", "?", "+"):
        if text.startswith(op, i):
            arg, end = _expand(text, i + len(op), env, where, stop_at_brace=True, unset=unset)
            value = env.get(name)
            unset_or_empty = value is None or (op.startswith(":") and value == "")
            kind = op[-1]
            if kind == "-":
                result = arg if unset_or_empty else str(value)
            elif kind == "+":
                result = "" if unset_or_empty else arg
            else:  # "?" — required variable
                if unset_or_empty:
                    msg = arg or f"variable {name} is required"
                    raise InterpolationError(f"{where}: {name}: {msg}")
                result = str(value)
            return result, end + 1
    raise InterpolationError(f"{where}: invalid character {text[i]!r} after ${{{name} in {text!r}")


def interpolate_tree(
    node: Any, env: Mapping[str, str], where: str = "", unset: Unset | None = None
) -> Any:
    """Interpolate every string value (not mapping keys) of a loaded YAML tree."""
    if isinstance(node, str):
        return interpolate(node, env, where, unset)
    if isinstance(node, dict):
        return {
            k: interpolate_tree(v, env, f"{where}.{k}" if where else str(k), unset)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [interpolate_tree(v, env, f"{where}[{i}]", unset) for i, v in enumerate(node)]
    return node


def parse_env_file(path: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """Read a dotenv file as Compose does.

    `KEY=VALUE` lines, `#` comments, optional `export `, single quotes literal, double quotes
    with escapes, unquoted values with inline ` #` comments stripped. Values may refer to
    earlier keys and to `env` (the process environment wins over the file, as in Compose).
    """
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise TopologyError(f"env file not found: {path}") from None
    base = dict(env or {})
    result: dict[str, str] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("export "):
            line = line[len("export ") :].lstrip()
        if "=" not in line:
            # A bare name takes its value from the environment, if any.
            if _NAME.fullmatch(line) and line in base:
                result[line] = base[line]
            continue
        key, value = line.split("=", 1)
        key = key.strip()
        if not _NAME.fullmatch(key):
            raise TopologyError(f"{path}:{lineno}: invalid variable name {key!r}")
        value = value.strip()
        lookup = {**result, **base}
        if value.startswith("'") and value.endswith("'") and len(value) >= 2:
            result[key] = value[1:-1]
            continue
        if value.startswith('"') and value.endswith('"') and len(value) >= 2:
            inner = value[1:-1].replace("\\n", "\n").replace('\\"', '"').replace("\\\\", "\\")
            result[key] = interpolate(inner, lookup, f"{path}:{lineno}")
            continue
        if " #" in value:
            value = value.split(" #", 1)[0].rstrip()
        result[key] = interpolate(value, lookup, f"{path}:{lineno}")
    return result
