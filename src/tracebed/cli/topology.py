"""`tracebed topology`: the services, dependencies, tiers and conflicts of a stack."""

from __future__ import annotations

import os
from pathlib import Path

import click

from tracebed.cli._params import BadInput
from tracebed.paths import DEFAULT_DEMO_VERSION, DEMO_VERSIONS
from tracebed.stack.errors import StackError
from tracebed.stack.readiness import Readiness
from tracebed.stack.topology import Topology

# What `docker compose` looks for when no -f is given, in its order.
DEFAULT_FILES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def load_topology(
    compose: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    group_by: str,
    readiness: str | None,
    use_seed: bool = False,
    use_reference: bool = False,
    demo_version: str | None = None,
) -> Topology:
    """The topology named by the command's options."""
    ready = Readiness.load(readiness)
    grouping = None if group_by == "depends_on" else group_by
    if use_reference:
        from tracebed.refstack import reference_shape

        return reference_shape(group_by=grouping, readiness=ready, demo_version=demo_version)
    if use_seed:
        topo = Topology.seed(group_by=grouping or "seed")
        topo.readiness = ready
        return topo
    files = list(compose)
    if not files and os.environ.get("COMPOSE_FILE"):
        # As Compose: COMPOSE_FILE lists the files, separated by the path separator.
        files = [f for f in os.environ["COMPOSE_FILE"].split(os.pathsep) if f]
    if not files:
        files = [f for f in DEFAULT_FILES if Path(f).is_file()][:1]
    if not files:
        raise click.UsageError(
            "no compose file: give --compose FILE (or --seed for the built-in tier map)"
        )
    return Topology.from_compose(
        files, env_file=env_file, profiles=profiles, group_by=grouping, readiness=ready
    )


@click.command("topology")
@click.option(
    "--compose",
    "-f",
    "compose",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Compose file; repeat to merge several in order, as Compose does.",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False),
    help="Variables for ${...} interpolation (default: .env next to the first file).",
)
@click.option("--profile", "profiles", multiple=True, help="Activate a Compose profile.")
@click.option(
    "--group-by",
    default="depends_on",
    show_default=True,
    help="Tiers from the depends_on layering, the seed's named groups, or a groups YAML file.",
)
@click.option(
    "--seed",
    "use_seed",
    is_flag=True,
    help="Show the built-in tier map of the demo (seed-service-flow).",
)
@click.option(
    "--reference",
    "use_reference",
    is_flag=True,
    help="Show the built-in reference stack (what `tracebed up --stack local` starts), "
    "including the demo services it leaves out and why.",
)
@click.option(
    "--demo-version",
    type=click.Choice(DEMO_VERSIONS),
    default=None,
    help=f"With --reference: the demo release it impersonates (default {DEFAULT_DEMO_VERSION}).",
)
@click.option(
    "--readiness",
    type=click.Path(dir_okay=False),
    help="Readiness overrides (default: fixtures/readiness.yaml when present).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "mermaid"]),
    default="text",
    show_default=True,
)
def command(
    compose: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    group_by: str,
    use_seed: bool,
    use_reference: bool,
    demo_version: str | None,
    readiness: str | None,
    fmt: str,
) -> None:
    """Show a stack's services, dependencies (with Compose conditions), tiers, readiness
    probes, and where the declared grouping disagrees with the dependency graph.

    \b
    Example:
      tracebed topology -f docker-compose.yml --env-file .env --group-by seed
    """
    try:
        topo = load_topology(
            compose, env_file, profiles, group_by, readiness, use_seed, use_reference, demo_version
        )
        click.echo(topo.dumps(fmt))
    except StackError as exc:
        raise BadInput(str(exc)) from None
