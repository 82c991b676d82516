from __future__ import annotations

from pathlib import Path

import pytest

from tracebed.stack.errors import InterpolationError, TopologyError
from tracebed.stack.interpolate import interpolate, parse_env_file

ENV = {"A": "alpha", "EMPTY": "", "PORT": "8080"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$A", "alpha"),
        ("${A}", "alpha"),
        ("x${A}y", "xalphay"),
        ("${MISSING}", ""),
        ("${MISSING:-dflt}", "dflt"),
        ("${EMPTY:-dflt}", "dflt"),
        ("${EMPTY-dflt}", ""),
        ("${MISSING-dflt}", "dflt"),
        ("${A:+alt}", "alt"),
        ("${EMPTY:+alt}", ""),
        ("${EMPTY+alt}", "alt"),
        ("${MISSING:-${A}}", "alpha"),
        ("${MISSING:-${ALSO:-deep}}", "deep"),
        ("$$A", "$A"),
        ("$${A}", "${A}"),
        ("http://${HOST:-otel}:${PORT}", "http://otel:8080"),
        ("cost $5", "cost $5"),
    ],
)
def test_interpolate(text: str, expected: str) -> None:
    assert interpolate(text, ENV) == expected


def test_required_variable_error_names_it() -> None:
    with pytest.raises(InterpolationError, match="NEEDED: set NEEDED please"):
        interpolate("${NEEDED:?set NEEDED please}", ENV, "svc.image")
    with pytest.raises(InterpolationError, match="EMPTY"):
        interpolate("${EMPTY:?}", ENV)
    assert interpolate("${EMPTY?}", ENV) == ""


@pytest.mark.parametrize("bad", ["${A", "${}", "${A:-x", "${A#x}"])
def test_malformed(bad: str) -> None:
    with pytest.raises(InterpolationError):
        interpolate(bad, ENV, "where")


def test_env_file(tmp_path: Path) -> None:
    f = tmp_path / ".env"
    f.write_text(
        "# comment\n"
        "HOST=otel\n"
        "export PORT=4317\n"
        "ADDR=${HOST}:${PORT}\n"
        "SINGLE='${HOST} stays'\n"
        'DOUBLE="a ${HOST} b"\n'
        "INLINE=value # comment\n"
        "FROM_ENV=${OUTSIDE}\n"
        "\n"
    )
    env = parse_env_file(f, {"OUTSIDE": "out", "HOST": "shell-wins"})
    assert env["ADDR"] == "shell-wins:4317"  # the process environment wins over the file
    assert env["SINGLE"] == "${HOST} stays"
    assert env["DOUBLE"] == "a shell-wins b"
    assert env["INLINE"] == "value"
    assert env["FROM_ENV"] == "out"


def test_env_file_errors(tmp_path: Path) -> None:
    with pytest.raises(TopologyError, match="env file not found"):
        parse_env_file(tmp_path / "nope.env")
    bad = tmp_path / "bad.env"
    bad.write_text("1BAD=x\n")
    with pytest.raises(TopologyError, match=r"bad.env:1: invalid variable name"):
        parse_env_file(bad)


def test_demo_env_resolves(demo: Path) -> None:
    env = parse_env_file(demo / "demo.env", {})
    assert env["CART_ADDR"] == "cart:7070"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector:4317"
