"""Every `--tracebed-*` value (and its ini key) checked once, in `pytest_configure`.

A bad value is refused with `pytest.UsageError` before collection and before any stack starts:
one line per option that names the option, the value and what it must be.
"""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracebed.paths import DEMO_VERSIONS
from tracebed.stack.compose import COMPOSE_PREFIX, is_image_reference

STACK_KINDS = ("local", "compose", "external")


def _number(minimum: float, *, integer: bool = False, maximum: float | None = None,
            strict: bool = False) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        try:
            number = int(value) if integer else float(value)
        except (TypeError, ValueError):
            return f"must be {'an integer' if integer else 'a number'}, not {value!r}"
        if number < minimum or (strict and number == minimum):
            bound = f"more than {minimum:g}" if strict else f"at least {minimum:g}"
            return f"must be {bound}, not {value!r}"
        if maximum is not None and number > maximum:
            return f"must be at most {maximum:g}, not {value!r}"
        return None

    return check


def _one_of(choices: Iterable[str]) -> Callable[[Any], str | None]:
    allowed = tuple(choices)

    def check(value: Any) -> str | None:
        return None if value in allowed else f"must be one of {', '.join(allowed)}, not {value!r}"

    return check


def _file(value: Any) -> str | None:
    return None if Path(str(value)).is_file() else f"{value}: no such file"


def _directory(value: Any) -> str | None:
    return None if Path(str(value)).is_dir() else f"{value}: no such directory"


def _url(value: Any) -> str | None:
    parts = urlsplit(str(value))
    if parts.scheme in ("http", "https") and parts.hostname:
        return None
    return f"must be an http(s) URL such as http://127.0.0.1:8080, not {value!r}"


def _assignment(value: Any) -> str | None:
    name, eq, _ = str(value).partition("=")
    return None if eq and name.strip() else f"must be NAME=VALUE, not {value!r}"


def _host_rule(value: Any) -> str | None:
    name, eq, target = str(value).partition("=")
    host, colon, port = target.rpartition(":")
    if eq and name and colon and host and port.isdigit() and 0 < int(port) < 65536:
        return None
    return f"must be NAME=HOST:PORT (e.g. frontend:8080=127.0.0.1:41234), not {value!r}"


def _replacement(value: Any) -> str | None:
    name, eq, command = str(value).partition("=")
    if eq and name.strip() and command.strip():
        return None
    return (
        "must be SERVICE=COMMAND (local stack, e.g. payment='node index.js') or SERVICE=IMAGE / "
        f"SERVICE=compose:FILE (compose stack, e.g. payment=my-payment:dev), not {value!r}"
    )


def replacements(values: Iterable[str]) -> dict[str, str]:
    """`SERVICE=VALUE` items (checked already) as a mapping."""
    out: dict[str, str] = {}
    for value in values:
        name, _, command = value.partition("=")
        out[name.strip()] = command.strip()
    return out


def replacement_problem(value: str, stack: str) -> str | None:
    """Why a `SERVICE=VALUE` item does not fit the stack, else None (its syntax is checked
    already). The stack tells a COMMAND from an IMAGE: the local stack runs a COMMAND in the
    service's place, the compose stack an IMAGE (or the service from a compose file of the
    user's, `compose:FILE`); a value that is clearly the other kind is refused here, in one
    line, before anything starts."""
    name, _, what = (part.strip() for part in str(value).partition("="))
    item = f"{name}={shlex.quote(what)}"
    if stack == "external":
        return f"{item}: an external stack is only probed; nothing of it can be replaced"
    if what.startswith(COMPOSE_PREFIX):
        if stack != "compose":
            return (
                f"{item}: compose:FILE replaces a service of the compose stack "
                "(--tracebed-stack=compose); the local stack runs a COMMAND in its place"
            )
        file = what[len(COMPOSE_PREFIX) :].strip()
        if not file:
            return f"{item}: compose:FILE needs a file (a compose file defining {name})"
        return None if Path(file).is_file() else f"{item}: {file}: no such file"
    if stack == "compose":
        if is_image_reference(what):
            return None
        return (
            f"{item} is neither an IMAGE (e.g. {name}=my-{name}:dev) nor compose:FILE, which "
            "the compose stack runs in a service's place; a COMMAND replaces a service of the "
            "local stack"
        )
    # local: a COMMAND. One word that runs nothing here but reads as an image is refused.
    argv = what.split()
    if (
        len(argv) == 1
        and (":" in what or "@" in what)
        and is_image_reference(what)
        and shutil.which(what) is None
        and not Path(what).exists()
    ):
        return (
            f"{item} names an IMAGE, which replaces a service of the compose stack "
            "(--tracebed-stack=compose); the local stack runs a COMMAND in its place"
        )
    return None


def _project(value: Any) -> str | None:
    if re.fullmatch(r"[a-z0-9][a-z0-9_-]*", str(value)):
        return None
    return f"must be a compose project name (lowercase letters, digits, - and _), not {value!r}"


def _non_empty(value: Any) -> str | None:
    return None if str(value).strip() else "must not be empty"


PORT = _number(0, integer=True, maximum=65535)

# option name (as in plugin.core.OPTIONS) -> check of one value (a list option: of each item)
CHECKS: dict[str, Callable[[Any], str | None]] = {
    "stack": _one_of(STACK_KINDS),
    "compose": _file,
    "env-file": _file,
    "frontend-url": _url,
    "sink-host": _non_empty,
    "sink-grpc-port": PORT,
    "sink-http-port": PORT,
    "sink-max-spans": _number(1, integer=True),
    "trace-timeout": _number(0, strict=True),
    "baseline": _directory,
    "flag-settle": _number(0),
    "var": _assignment,
    "vars-file": _file,
    "host-map": _host_rule,
    "proto-path": _directory,
    "tracetest-quiet": _number(0),
    "tracetest-timeout": _number(0, strict=True),
    "demo-version": _one_of(DEMO_VERSIONS),
    "replace": _replacement,
    "project": _project,
    "export-delay": _number(0),
}


def problems(value_of: Callable[[str], Any], names: Iterable[str]) -> list[str]:
    """One line per bad option value; `value_of(name)` gives the effective value (or raises
    ValueError for an ini value pytest itself cannot read)."""
    found: list[str] = []
    for name in names:
        check = CHECKS.get(name)
        if check is None:
            continue
        try:
            value = value_of(name)
        except ValueError as exc:
            found.append(f"tracebed_{name.replace('-', '_')}: {exc}")
            continue
        if value is None or value == "" or value is False:
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            why = check(item)
            if why is None and name == "replace":
                why = replacement_problem(str(item), str(_value_or(value_of, "stack", "local")))
            if why:
                found.append(f"--tracebed-{name} {why}")
    return found


def _value_or(value_of: Callable[[str], Any], name: str, default: Any) -> Any:
    try:
        return value_of(name) or default
    except ValueError:
        return default
