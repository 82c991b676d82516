"""`tracebed record DIR`: save the normalised trace shape of each bundled flow."""

from __future__ import annotations

import random
from pathlib import Path

import click

from tracebed.regress.record import RecordError, SinkTraces, record_flows, shop_driver

# The load generator's HTTP tasks at 2.0.2, except flood_home: its request count follows a
# flag (0 by default, so it records nothing).
DEFAULT_FLOWS = (
    "index",
    "browse_product",
    "get_recommendations",
    "get_ads",
    "view_cart",
    "add_to_cart",
    "checkout",
    "checkout_multi",
)


@click.command("record")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--url", required=True, help="Front door of a running stack, e.g. http://127.0.0.1:8080."
)
@click.option(
    "--sink",
    "sink_url",
    required=True,
    help="HTTP query API of the sink, e.g. http://127.0.0.1:4318.",
)
@click.option(
    "--flow",
    "flows",
    multiple=True,
    help=f"Flow to record (repeatable; default: {', '.join(DEFAULT_FLOWS)}).",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="Seed for the flows' random choices."
)
@click.option(
    "--quiet",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds without new spans that end a trace.",
)
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for each trace."
)
def command(
    directory: Path,
    url: str,
    sink_url: str,
    flows: tuple[str, ...],
    seed: int,
    quiet: float,
    timeout: float,
) -> None:
    """Drive each flow against a running stack and write DIR/<flow>.shape.json.

    The stack's collector must export to the sink (e.g. a stack from `tracebed up`,
    or the demo with `tracebed collector-overlay`). Compare two recordings with
    `tracebed diff`.
    """
    from tracebed.flows.client import ShopClient

    try:
        source = SinkTraces(sink_url)
        client = ShopClient(url, sink_store=source, rng=random.Random(seed), timeout=timeout)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    try:
        recorded = record_flows(
            flows or DEFAULT_FLOWS, shop_driver(client, quiet=quiet, timeout=timeout), directory
        )
    except RecordError as exc:
        raise click.ClickException(str(exc)) from None
    for item in recorded:
        click.echo(str(item))
