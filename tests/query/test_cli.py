"""`tracebed query check|select|chain` on real files."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from tracebed.cli import cli
from tracebed.model import Trace
from tracebed.otlp.otlp_json import write_otlp_json

from ..tracetest.test_definition import DEMO
from .helpers import TRACE_ID
from .test_chains import checkout_spans


@pytest.fixture
def trace_file(tmp_path: Path) -> Path:
    return write_otlp_json(tmp_path / "trace.json", Trace(TRACE_ID, checkout_spans(with_email=False)))


def test_check_the_demo_suite() -> None:
    if not DEMO.is_dir():
        pytest.skip(f"demo reference files not found at {DEMO}")
    result = CliRunner().invoke(cli, ["query", "check", str(DEMO)])
    assert result.exit_code == 0, result.output
    assert "36 Tracetest file(s), 0 with errors" in result.output


def test_check_reports_file_line_column(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text("type: Test\nspec:\n  specs:\n  - selector: span[name=]\n")
    (tmp_path / "other.yaml").write_text("a: 1\n")
    result = CliRunner().invoke(cli, ["query", "check", str(tmp_path)])
    assert result.exit_code == 1
    assert f"{tmp_path / 't.yaml'}:4:25: selector: expected a value" in result.output
    assert "1 Tracetest file(s), 1 with errors" in result.output


def test_select_marks_spans_and_checks_assertions(trace_file: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["query", "select", str(trace_file), "-s", 'span[service.name="currency"]',
                             "-a", "attr:tracetest.selected_spans.count = 2"])
    assert ok.exit_code == 0, ok.output
    assert "matched: 2 span(s)" in ok.output
    assert sum(line.startswith(">>") for line in ok.output.splitlines()) == 2
    bad = runner.invoke(cli, ["query", "select", str(trace_file), "-s", 'span[service.name="currency"]',
                              "-a", 'attr:name = "nope"'])
    assert bad.exit_code == 1 and "FAIL" in bad.output
    syntax = runner.invoke(cli, ["query", "select", str(trace_file), "-s", "span[name"])
    assert syntax.exit_code == 2 and "syntax error at column 10" in syntax.output


def test_chain_pattern_and_fixture(trace_file: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["query", "chain", str(trace_file), "-p", "checkout → {cart, shipping → quote}"])
    assert ok.exit_code == 0 and "follows checkout" in ok.output
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "2.0.2" / "checkout.yaml"
    bad = runner.invoke(cli, ["query", "chain", str(trace_file), "--fixture", str(fixture)])
    assert bad.exit_code == 1
    assert "expected a call from checkout to email" in bad.output and ">>" in bad.output
    usage = runner.invoke(cli, ["query", "chain", str(trace_file)])
    assert usage.exit_code == 2 and "exactly one of --pattern and --fixture" in usage.output


def test_short_f_means_a_compose_file_in_every_command() -> None:
    """`-f` is `--compose` wherever it exists (as in docker compose), never something else."""
    import click

    def walk(cmd: click.Command, path: str) -> list[tuple[str, click.Option]]:
        found = [(path, p) for p in cmd.params if isinstance(p, click.Option) and "-f" in p.opts]
        if isinstance(cmd, click.Group):
            for name, sub in cmd.commands.items():
                found += walk(sub, f"{path} {name}")
        return found

    options = walk(cli, "tracebed")
    assert options, "some command has -f"
    # `tracebed tracetest run -f FILE` is Tracetest's own CLI (`tracetest run test -f FILE`),
    # which its users type as they know it.
    assert {
        path: opt.name
        for path, opt in options
        if opt.name != "compose" and path != "tracebed tracetest run"
    } == {}


def test_check_says_why_a_named_file_was_not_taken(tmp_path: Path) -> None:
    misspelt = tmp_path / "t.yaml"
    misspelt.write_text("typ: Test\nspec:\n  specs: []\n")
    result = CliRunner().invoke(cli, ["query", "check", str(misspelt)])
    assert result.exit_code == 1
    assert f"{misspelt}: not a Tracetest file (no top-level `type: Test`)" in result.stderr
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "other.yaml").write_text("a: 1\n")
    result = CliRunner().invoke(cli, ["query", "check", str(tmp_path / "d")])
    assert result.exit_code == 1
    assert "no Tracetest file in the paths given" in result.stderr


def test_select_and_chain_json_output(trace_file: Path) -> None:
    import json

    runner = CliRunner()
    args = ["query", "select", str(trace_file), "-s", 'span[service.name="currency"]', "--json"]
    ok = runner.invoke(cli, [*args, "-a", "attr:tracetest.selected_spans.count = 2"])
    assert ok.exit_code == 0, ok.output
    [trace] = json.loads(ok.stdout)["traces"]
    assert trace["trace_id"] == TRACE_ID and len(trace["selected"]) == 2 and trace["passed"]
    bad = runner.invoke(cli, [*args, "-a", 'attr:name = "nope"'])
    assert bad.exit_code == 1
    document = json.loads(bad.stdout)
    [outcome] = document["traces"][0]["assertions"]
    assert document["ok"] is False and outcome["passed"] is False
    assert outcome["results"][0]["expected"] == "nope"
    chain = runner.invoke(cli, ["query", "chain", str(trace_file), "-p", "checkout → cart", "--json"])
    assert chain.exit_code == 0, chain.output
    assert json.loads(chain.stdout)["traces"] == [{"trace_id": TRACE_ID, "follows": True}]


def test_check_json_output(tmp_path: Path) -> None:
    import json

    (tmp_path / "t.yaml").write_text("type: Test\nspec:\n  specs:\n  - selector: span[name=]\n")
    result = CliRunner().invoke(cli, ["query", "check", str(tmp_path), "--json"])
    assert result.exit_code == 1
    [entry] = json.loads(result.stdout)["files"]
    assert entry["ok"] is False and f"{tmp_path / 't.yaml'}:4:25: selector" in entry["error"]


def test_check_refuses_what_tracetest_would_not_run(tmp_path: Path) -> None:
    head = ("type: Test\nspec:\n  id: t\n  trigger:\n    type: http\n    httpRequest:\n"
            "      url: http://x/\n      method: GET\n")
    cases = {
        "spex.yaml": (head + "  spex:\n  - selector: span[name=\"a\"]\n    assertions: [attr:x = 1]\n",
                      ":9:3: unknown key `spex` in spec (did you mean `specs`?)"),
        "ne.yaml": (head + "  specs:\n  - selector: span[name!=\"a\"]\n    assertions: [attr:x = 1]\n",
                    ":10:24: selector: expected = or contains"),
        "jp.yaml": (head + "  specs:\n  - selector: span[name=\"a\"]\n"
                           "    assertions: [\"attr:b | json_path '$.ads[0' = 1\"]\n",
                    ":11:38: assertion: expected a valid JSONPath"),
        "lower.yaml": ("type: test\nspec:\n  specs: []\n",
                       ": not a Tracetest file (top-level `type: test` is not Test, TestSuite or Transaction)"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        result = CliRunner().invoke(cli, ["query", "check", str(tmp_path / name)])
        assert result.exit_code == 1, name
        assert f"{tmp_path / name}{message}" in result.stderr, result.stderr
