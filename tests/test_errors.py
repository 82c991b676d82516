"""One error root: every tracebed exception is a `TracebedError`, and the CLI shows it as one line."""

from __future__ import annotations

import ast
import builtins
import importlib
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import tracebed
from tracebed.cli import cli
from tracebed.errors import ConfigError, ExpectationFailed, StackError, TracebedError, TraceTimeout

SRC = Path(tracebed.__file__).resolve().parent

# Exceptions that never reach a caller of tracebed: the stand-in services' own signals (turned
# into gRPC/HTTP statuses as the demo does) and a Locust-side marker (see tracebed.errors).
NOT_ROOTED = {
    # click usage exceptions (exit 2): click prints them; they never reach a caller of tracebed
    "tracebed.cli.conformance.ConformanceInputError",
    "tracebed.cli._params.BadInput",
    "tracebed.reference.common.rpc_tracing.RpcError",
    "tracebed.reference.flagd.evaluation.FlagError",
    "tracebed.reference.flagd.ofrep.OfrepError",
    "tracebed.reference.frontend.shapes.BadRequest",
    # 3.0.0 mode: shipping's HTTP failure (the frontend answers 500), a body actix would not
    # deserialize (400), a catalogue query that failed (NOT_FOUND / INTERNAL)
    "tracebed.reference.frontend.gateway.ShippingHttpError",
    "tracebed.reference.services.shipping.BadBody",
    "tracebed.reference.services.product_catalog.DbError",
    "tracebed.reference.services.checkout.MoneyError",
    "tracebed.reference.services.email.NoMethodError",
}


def _exception_classes() -> list[str]:
    """Dotted names of the public module-level classes under src/tracebed that derive from an
    exception (found by name: a base that is a builtin exception or one found before)."""
    found: dict[str, list[str]] = {}
    for path in sorted(SRC.rglob("*.py")):
        module = ".".join(("tracebed", *path.relative_to(SRC).with_suffix("").parts))
        module = module.removesuffix(".__init__")
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                found[f"{module}.{node.name}"] = bases
    builtin = {
        n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)
    }
    known = builtin | {"ClickException"}
    names: list[str] = []
    grew = True
    while grew:
        grew = False
        for dotted, bases in found.items():
            short = dotted.rsplit(".", 1)[-1]
            if dotted not in names and any(b in known for b in bases):
                names.append(dotted)
                known.add(short)
                grew = True
    return sorted(names)


def test_the_scan_finds_the_errors_of_every_layer() -> None:
    names = _exception_classes()
    # A scan that finds nothing would make the next test pass vacuously.
    for expected in (
        "tracebed.stack.collector_overlay.OverlayError",
        "tracebed.model.store.TraceTimeoutError",
        "tracebed.otlp.codec.BadPayload",
        "tracebed.query.chains.ChainMismatch",
        "tracebed.regress.record.RecordError",
    ):
        assert expected in names
    assert len(names) >= 30


def test_every_tracebed_exception_derives_from_the_root() -> None:
    unrooted = []
    for dotted in _exception_classes():
        module, name = dotted.rsplit(".", 1)
        cls = getattr(importlib.import_module(module), name)
        if dotted not in NOT_ROOTED and not issubclass(cls, TracebedError):
            unrooted.append(dotted)
    assert unrooted == []


def test_kinds_keep_the_builtin_base_callers_catch() -> None:
    from tracebed.model.store import TraceTimeoutError
    from tracebed.query.errors import QuerySyntaxError
    from tracebed.stack.collector_overlay import OverlayError
    from tracebed.stack.errors import StackError as LayerStackError
    from tracebed.stack.errors import TopologyError

    assert issubclass(OverlayError, ValueError) and issubclass(OverlayError, ConfigError)
    assert issubclass(TraceTimeoutError, TraceTimeout) and issubclass(
        TraceTimeoutError, AssertionError
    )
    assert issubclass(ExpectationFailed, AssertionError)
    assert issubclass(TopologyError, StackError) and issubclass(TopologyError, ConfigError)
    # One name, one class: the layers re-export the root's kinds rather than define their own.
    assert LayerStackError is StackError
    assert QuerySyntaxError is tracebed.QuerySyntaxError
    with pytest.raises(tracebed.QuerySyntaxError, match="column 3"):
        raise QuerySyntaxError("a b", 2, "end of input")


def test_the_cli_shows_a_tracebed_error_as_one_line() -> None:
    @click.command("raise-stack-error")
    def failing() -> None:
        raise StackError("no docker daemon at /var/run/docker.sock")

    cli.add_command(failing)
    try:
        result = CliRunner().invoke(cli, ["raise-stack-error"])
    finally:
        cli.commands.pop("raise-stack-error")
    assert result.exit_code == 1
    assert result.output == "Error: no docker daemon at /var/run/docker.sock\n"
    assert "Traceback" not in result.output


def test_the_cli_keeps_a_click_error_s_own_exit_code() -> None:
    # `tracebed diff` exits 2 on bad input (as diff(1) does); the handler must not make it 1.
    result = CliRunner().invoke(cli, ["diff", "/nonexistent/a.json", "/nonexistent/b.json"])
    assert result.exit_code == 2, result.output
