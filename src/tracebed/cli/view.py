"""`tracebed view`: OTLP/JSON trace files as one self-contained HTML page (waterfall, map)."""

from __future__ import annotations

from pathlib import Path

import click

from tracebed.cli._params import BadInput, write_output
from tracebed.otlp.otlp_json import OtlpJsonError, read_otlp_json, traces_from_spans
from tracebed.report.html import render_trace_page


@click.command("view")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="HTML file to write (default: the first file's name with .html).",
)
@click.option(
    "--trace-id", "trace_ids", multiple=True, help="Only these traces (repeatable; default: all)."
)
@click.option("--title", default="", help="Page title (default: the file names).")
def command(
    files: tuple[Path, ...], output: Path | None, trace_ids: tuple[str, ...], title: str
) -> None:
    """Render OTLP/JSON files (one export, or JSON Lines of them, as the collector's file
    exporter and `tracebed --tracebed-report` write) as an HTML page that opens from disk.

    \b
    Example:
      tracebed view traces.json -o trace.html
    """
    spans = []
    for path in files:
        try:
            spans.extend(read_otlp_json(path))
        except OtlpJsonError as exc:
            raise BadInput(str(exc)) from None
    traces = traces_from_spans(spans)
    if trace_ids:
        wanted = [t.lower() for t in trace_ids]
        by_id = {t.trace_id: t for t in traces}
        unknown = [t for t in wanted if t not in by_id]
        if unknown:
            raise BadInput(
                f"trace id(s) {', '.join(unknown)} not in the files; they hold: "
                + (", ".join(by_id) or "no spans")
            )
        traces = [by_id[t] for t in wanted]
    if not traces:
        raise BadInput("the files hold no spans")
    output = output or files[0].with_suffix(".html")
    page = render_trace_page(traces, title=title or ", ".join(p.name for p in files))
    write_output(output, page)
    spans_total = sum(len(t) for t in traces)
    click.echo(f"{output}: {len(traces)} trace(s), {spans_total} spans")
