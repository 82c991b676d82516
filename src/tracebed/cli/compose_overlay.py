"""`tracebed compose-overlay DIR`: write tracebed's compose overlay into a demo checkout."""

from __future__ import annotations

from pathlib import Path

import click

from tracebed.harness.core import export_delay_environment
from tracebed.paths import compose_overlay_file
from tracebed.stack.collector_overlay import (
    OverlayError,
    collector_command,
    collector_config_files,
    is_join_overlay,
    project_release,
    project_services,
    render_compose_overlay,
    render_overlay,
)
from tracebed.stack.errors import StackError

# Where docker-compose.test.yml looks for the collector overlay when TRACEBED_COLLECTOR_OVERLAY
# is unset (relative to the compose project directory).
COLLECTOR_OVERLAY = Path("src/otel-collector/otelcol-tracebed.yml")
DEMO_COMPOSE_FILES = ("docker-compose.yml", "compose.yaml", "compose.yml")
# Demo 3.0.0 splits the project into layers; its default (`make start`) is all three, in order.
DEMO_LAYERS = ("compose.yaml", "compose.full.yaml", "compose.observability.yaml")


def default_compose_files(checkout: Path) -> list[Path]:
    """The demo's own compose files: 3.0.0's layers when the checkout has them, else the first
    of docker-compose.yml / compose.yaml / compose.yml (2.0.2 and earlier)."""
    layers = [checkout / name for name in DEMO_LAYERS if (checkout / name).is_file()]
    if len(layers) > 1 and layers[0].name == DEMO_LAYERS[0]:
        return layers
    return [checkout / name for name in DEMO_COMPOSE_FILES if (checkout / name).is_file()][:1]


@click.command("compose-overlay")
@click.argument(
    "checkout", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option(
    "--compose",
    "compose_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The demo's compose files, in order (default: compose.yaml, compose.full.yaml and "
    "compose.observability.yaml when the checkout has them (demo 3.0.0), else its "
    "docker-compose.yml or compose.yaml).",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Env file for compose interpolation (default: the checkout's .env).",
)
@click.option(
    "--export-delay",
    type=click.FloatRange(min=0),
    default=None,
    metavar="SECONDS",
    help="Also set every service's OTel SDK export delays (spans and logs after SECONDS, "
    "metrics every SECONDS, at least 1 s), as --tracebed-export-delay does for the compose "
    "stacks the harness starts (default: the project's own).",
)
def command(
    checkout: Path,
    compose_files: tuple[Path, ...],
    env_file: Path | None,
    export_delay: float | None,
) -> None:
    """Write docker-compose.test.yml and the collector overlay into a demo checkout.

    The collector overlay is generated from the checkout's own collector configs (every traces,
    metrics and logs pipeline keeps its exporters and also exports to tracebed), and
    docker-compose.test.yml restates the collector's command of these compose files with
    tracebed's config added. Needs no tracebed checkout: the overlay ships inside the package.

    \b
    Example:
      tracebed compose-overlay .                      # add --export-delay 0.2 for short delays
      docker compose -f docker-compose.yml -f docker-compose.test.yml config -q      # 2.0.2
      docker compose -f compose.yaml -f compose.full.yaml \\
          -f compose.observability.yaml -f docker-compose.test.yml config -q        # 3.0.0
    """
    # A docker-compose.test.yml given among the files is ours: the demo's are the others.
    files = [f for f in compose_files if not is_join_overlay(f)] or default_compose_files(checkout)
    if not files:
        raise click.ClickException(
            f"{checkout}: no docker-compose.yml or compose.yaml; name the files with --compose"
        )
    try:
        bases = collector_config_files(files, env_file=env_file)
        overlay = render_overlay(bases, release=project_release(files, env_file=env_file))
        compose_overlay = render_compose_overlay(
            compose_overlay_file().read_text(),
            collector_command(files, env_file=env_file),
            export_delay_environment(export_delay) if export_delay is not None else None,
            project_services(files, env_file=env_file),
        )
    except (OverlayError, StackError) as exc:
        raise click.ClickException(str(exc)) from None
    target = checkout / COLLECTOR_OVERLAY
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(overlay)
    compose_target = checkout / "docker-compose.test.yml"
    compose_target.write_text(compose_overlay)
    delays = (
        f"; export delay {export_delay:g} s for every service" if export_delay is not None else ""
    )
    click.echo(
        f"wrote {compose_target} (collector command of {', '.join(f.name for f in files)}{delays})"
    )
    click.echo(f"wrote {target} (from {', '.join(str(b) for b in bases)})")
    names = " ".join(f"-f {f.name if f.parent == checkout else f}" for f in files)
    click.echo(f"next: docker compose {names} -f docker-compose.test.yml config -q")
