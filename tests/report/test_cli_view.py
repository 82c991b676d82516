"""`tracebed view`: OTLP/JSON files to an HTML page."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from tests.report.factory import checkout_trace
from tracebed.cli import cli
from tracebed.otlp.otlp_json import trace_to_otlp_json, write_otlp_json


def test_view_renders_every_trace_of_the_files(tmp_path: Path) -> None:
    first, second = checkout_trace(), checkout_trace(trace_id="e" * 32, payment_error=True)
    write_otlp_json(tmp_path / "a.json", first)
    lines = tmp_path / "b.jsonl"
    lines.write_text(json.dumps(trace_to_otlp_json(second)) + "\n", encoding="utf-8")

    result = CliRunner().invoke(cli, ["view", str(tmp_path / "a.json"), str(lines)])
    assert result.exit_code == 0, result.output
    assert (
        result.output.strip()
        == f"{tmp_path / 'a.html'}: 2 trace(s), {len(first) + len(second)} spans"
    )
    page = (tmp_path / "a.html").read_text(encoding="utf-8")
    assert f'data-trace-id="{first.trace_id}"' in page and f'data-trace-id="{"e" * 32}"' in page

    out = tmp_path / "one.html"
    result = CliRunner().invoke(
        cli, ["view", str(tmp_path / "a.json"), str(lines), "--trace-id", "E" * 32, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    page = out.read_text(encoding="utf-8")
    assert f'data-trace-id="{"e" * 32}"' in page and first.trace_id not in page


def test_view_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "xyz"}]}]}]}')
    result = CliRunner().invoke(cli, ["view", str(bad)])
    assert result.exit_code == 2  # bad input (1 is kept for a failed check)
    assert "bad.json: resourceSpans[0].scopeSpans[0].spans[0].traceId" in result.output

    good = write_otlp_json(tmp_path / "good.json", checkout_trace())
    result = CliRunner().invoke(cli, ["view", str(good), "--trace-id", "0" * 31 + "1"])
    assert result.exit_code == 2 and "not in the files; they hold: " in result.output

    empty = tmp_path / "empty.json"
    empty.write_text('{"resourceSpans": []}')
    result = CliRunner().invoke(cli, ["view", str(empty)])
    assert result.exit_code == 2 and "hold no spans" in result.output
