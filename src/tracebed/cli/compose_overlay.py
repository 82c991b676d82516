"""`tracebed compose-overlay DIR`: write tracebed's compose overlay into a demo checkout."""

from __future__ import annotations

import shutil
from pathlib import Path

import click

from tracebed.paths import compose_overlay_file
from tracebed.stack.collector_overlay import OverlayError, collector_config_files, render_overlay

# Where docker-compose.test.yml looks for the collector overlay when TRACEBED_COLLECTOR_OVERLAY
# is unset (relative to the compose project directory).
COLLECTOR_OVERLAY = Path("src/otel-collector/otelcol-tracebed.yml")
DEMO_COMPOSE_FILES = ("docker-compose.yml", "compose.yaml", "compose.yml")


@click.command("compose-overlay")
@click.argument(
    "checkout", type=click.Path(exists=True, file_okay=False, path_type=Path), default="."
)
@click.option(
    "--compose",
    "compose_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The demo's compose files, in order (default: the checkout's docker-compose.yml "
    "or compose.yaml).",
)
@click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Env file for compose interpolation (default: the checkout's .env).",
)
def command(checkout: Path, compose_files: tuple[Path, ...], env_file: Path | None) -> None:
    """Write docker-compose.test.yml and the collector overlay into a demo checkout.

    The collector overlay is generated from the checkout's own collector configs (every traces
    pipeline keeps its exporters and also exports to tracebed). Needs no tracebed checkout:
    the overlay ships inside the package.

    \b
    Example, from the demo's checkout:
      tracebed compose-overlay .
      docker compose -f docker-compose.yml -f docker-compose.test.yml config -q
    """
    files = list(compose_files) or [
        checkout / name for name in DEMO_COMPOSE_FILES if (checkout / name).is_file()
    ][:1]
    if not files:
        raise click.ClickException(
            f"{checkout}: no docker-compose.yml or compose.yaml; name the files with --compose"
        )
    try:
        bases = collector_config_files(files, env_file=env_file)
        overlay = render_overlay(bases)
    except OverlayError as exc:
        raise click.ClickException(str(exc)) from None
    target = checkout / COLLECTOR_OVERLAY
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(overlay)
    compose_target = checkout / "docker-compose.test.yml"
    shutil.copyfile(compose_overlay_file(), compose_target)
    click.echo(f"wrote {compose_target}")
    click.echo(f"wrote {target} (from {', '.join(str(b) for b in bases)})")
    names = " ".join(f"-f {f.name if f.parent == checkout else f}" for f in files)
    click.echo(f"next: docker compose {names} -f docker-compose.test.yml config -q")
