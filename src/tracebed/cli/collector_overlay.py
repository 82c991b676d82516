"""`tracebed collector-overlay`: the collector config that adds the tracebed test exporter."""

from __future__ import annotations

from pathlib import Path

import click

from tracebed.cli._params import BadInput, write_output
from tracebed.stack.collector_overlay import (
    DEFAULT_ENDPOINT,
    EXPORTER_NAME,
    EXPORTER_NAME_GRPC,
    OverlayError,
    render_overlay,
)


@click.command("collector-overlay")
@click.option(
    "--base",
    "bases",
    multiple=True,
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The stack's collector config; repeat in the collector's --config order "
    "(e.g. otelcol-config.yml, then otelcol-config-extras.yml).",
)
@click.option(
    "--endpoint",
    default=DEFAULT_ENDPOINT,
    show_default=True,
    help="Where the test exporter sends traces, metrics and logs: HOST:PORT of the tracebed "
    "sink's OTLP/gRPC receiver, or an ${env:VAR} the collector expands.",
)
@click.option(
    "--exporter-name",
    default=None,
    help=f"Name of the added exporter (default: {EXPORTER_NAME_GRPC} when the configs name "
    f"exporters otlp_grpc/otlp_http, as collector 0.144+ and demo 3.0.0 do; else {EXPORTER_NAME}).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the overlay here instead of stdout.",
)
def command(
    bases: tuple[Path, ...], endpoint: str, exporter_name: str | None, output: Path | None
) -> None:
    """Generate a collector overlay that also exports every pipeline to tracebed.

    Pass the result as the collector's last --config. The collector replaces lists when it
    merges configs, so the overlay restates each traces, metrics and logs pipeline's exporters
    with the test exporter added; every original exporter is kept (span-derived metrics leave
    through the metrics pipeline their connector feeds, so they reach tracebed too).

    \b
    Example:
      tracebed collector-overlay --base otelcol-config.yml --base otelcol-config-extras.yml -o otelcol-tracebed.yml
    """
    try:
        text = render_overlay(list(bases), endpoint=endpoint, exporter_name=exporter_name)
    except OverlayError as exc:
        raise BadInput(str(exc)) from None
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        click.echo(f"wrote {output}", err=True)
