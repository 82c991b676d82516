"""`tracebed down`: stop a detached stack (and its sink), and clean up after killed runs."""

from __future__ import annotations

import shutil

import click

from tracebed.cli._params import BadInput
from tracebed.stack.backends.compose import ComposeBackend
from tracebed.stack.state import cleanup_record, list_records


@click.command("down")
@click.option("--run", "run_id", default=None, help="Only this run id (see `tracebed status`).")
@click.option(
    "--grace",
    type=float,
    default=5.0,
    show_default=True,
    help="Seconds between the stop signal and SIGKILL.",
)
def command(run_id: str | None, grace: float) -> None:
    """Stop what `tracebed up --detach` left running, and anything a killed run left behind.

    \b
    Example:
      tracebed down --run RUN_ID
    """
    records = [r for r in list_records() if r.detached or r.is_stale()]
    if run_id is None and shutil.which("docker"):
        # Compose projects of killed runs are found by their owner label, record or not.
        for project in ComposeBackend.cleanup_orphans():
            click.echo(f"removed abandoned compose project {project}", err=True)
    if run_id is not None:
        records = [r for r in list_records() if r.run_id == run_id]
        if not records:
            raise BadInput(f"no run {run_id!r} on record")
    if not records:
        click.echo("nothing to stop: no detached or abandoned run on record", err=True)
        return
    for record in records:
        services = sorted(record.info.get("services") or record.info.get("started") or {})
        cleanup_record(record, grace_s=grace)
        what = "detached" if record.detached else "abandoned"
        click.echo(
            f"stopped {what} run {record.run_id} ({record.backend}): "
            f"{', '.join(services) or 'no services'}",
            err=True,
        )
