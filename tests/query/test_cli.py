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
    assert syntax.exit_code == 1 and "syntax error at column 10" in syntax.output


def test_chain_pattern_and_fixture(trace_file: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(cli, ["query", "chain", str(trace_file), "-p", "checkout → {cart, shipping → quote}"])
    assert ok.exit_code == 0 and "follows checkout" in ok.output
    fixture = Path(__file__).resolve().parents[2] / "fixtures" / "chains" / "2.0.2" / "checkout.yaml"
    bad = runner.invoke(cli, ["query", "chain", str(trace_file), "-f", str(fixture)])
    assert bad.exit_code == 1
    assert "expected a call from checkout to email" in bad.output and ">>" in bad.output
    usage = runner.invoke(cli, ["query", "chain", str(trace_file)])
    assert usage.exit_code == 2 and "exactly one of --pattern and --fixture" in usage.output
