"""`tracebed record DIR`: save the normalised trace shape of each bundled flow."""

from __future__ import annotations

import random
from pathlib import Path

import click

from tracebed.flows.registry import RECORDED_FLOWS
from tracebed.regress.record import RecordError, record_flows, shop_driver

DEFAULT_FLOWS = RECORDED_FLOWS


def stack_on_record(run_id: str | None) -> tuple[str, str]:
    """(front door, sink query URL) of the stack `tracebed up --detach` left running."""
    from tracebed.harness import stacks_on_record

    runs = [r for r in stacks_on_record() if r.sink_url]
    if run_id is not None:
        runs = [r for r in runs if r.run_id == run_id]
        if not runs:
            raise click.UsageError(f"no stack with run id {run_id!r} on record (`tracebed status`)")
    if not runs:
        raise click.UsageError(
            "no running stack on record: start one with `tracebed up --detach`, "
            "or give --url and --sink"
        )
    if len(runs) > 1:
        ids = ", ".join(r.run_id for r in runs)
        raise click.UsageError(f"several stacks are up ({ids}): pick one with --run")
    return runs[0].frontend_url, str(runs[0].sink_url)


@click.command("record")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--url", help="Front door of a running stack (default: the `tracebed up` stack's).")
@click.option(
    "--sink",
    "sink_url",
    help="HTTP query API of its sink, e.g. http://127.0.0.1:4318 (default: the `tracebed up` one).",
)
@click.option("--run", "run_id", help="Which `tracebed up --detach` stack, if several are up.")
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
    default=0.5,
    show_default=True,
    help="Seconds without new spans that end a trace (once no span waits for its parent).",
)
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for each trace."
)
def command(
    directory: Path,
    url: str | None,
    sink_url: str | None,
    run_id: str | None,
    flows: tuple[str, ...],
    seed: int,
    quiet: float,
    timeout: float,
) -> None:
    """Drive each flow against a running stack and write DIR/<flow>.shape.json.

    Without --url/--sink it uses the stack `tracebed up --detach` started (and its sink).
    Any other stack works if its collector exports to a tracebed sink (for the demo:
    `tracebed collector-overlay`). Compare two recordings with `tracebed diff`.

    \b
    Example:
      tracebed record baseline/ --url http://127.0.0.1:8080 --sink http://127.0.0.1:4318
    """
    from tracebed.harness import Harness, HarnessOptions

    if (url is None) != (sink_url is None):
        raise click.UsageError("give both --url and --sink, or neither (to use `tracebed up`'s)")
    if url is None or sink_url is None:
        url, sink_url = stack_on_record(run_id)
    # A stack already running, known by its front door, and the sink it exports to.
    harness = Harness(HarnessOptions(kind="external", frontend_url=url, sink_url=sink_url))
    try:
        harness.start()
        client = harness.shop(rng=random.Random(seed), timeout=timeout)
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
