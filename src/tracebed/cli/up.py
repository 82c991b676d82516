"""`tracebed up`: start a stack tier by tier (with the OTLP sink), then wait or detach."""

from __future__ import annotations

import json
import signal
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import click

from tracebed.cli._params import BadInput
from tracebed.harness import Harness, HarnessOptions, SinkHandle, SinkStartError
from tracebed.paths import DEFAULT_DEMO_VERSION, DEMO_VERSIONS
from tracebed.plugin import validate
from tracebed.stack.errors import StackError, StackStartError
from tracebed.stack.runner import Stack
from tracebed.stack.state import state_dir


@click.command("up")
@click.option(
    "--stack",
    "kind",
    type=click.Choice(["local", "compose", "external"]),
    default="local",
    show_default=True,
    help="Backend that runs the stack.",
)
@click.option(
    "--compose",
    "-f",
    "compose",
    multiple=True,
    type=click.Path(dir_okay=False),
    help="Compose file(s), merged in order. Without: the built-in reference stack.",
)
@click.option("--env-file", type=click.Path(dir_okay=False), help="Interpolation variables.")
@click.option("--profile", "profiles", multiple=True, help="Activate a Compose profile.")
@click.option(
    "--group-by",
    default="depends_on",
    show_default=True,
    help="depends_on (layering), seed (the demo's named groups) or a groups YAML file.",
)
@click.option("--until", default=None, help="Stop after this tier (number, name or service).")
@click.option("--readiness", type=click.Path(dir_okay=False), help="Readiness overrides file.")
@click.option(
    "--workdir",
    type=click.Path(file_okay=False),
    help="Where logs and generated configs go (default: under the state dir).",
)
@click.option(
    "--with-load-generator",
    is_flag=True,
    help="Reference stack: include the Locust load generator.",
)
@click.option(
    "--demo-version",
    type=click.Choice(DEMO_VERSIONS),
    default=None,
    help=f"Reference stack: the demo release it impersonates (default {DEFAULT_DEMO_VERSION}).",
)
@click.option(
    "--project",
    default=None,
    help="Compose project name (compose: instead of a unique one; external: the "
    "running project whose published ports and health to use).",
)
@click.option("--max-spans", type=int, default=None, help="Sink memory bound in spans.")
@click.option(
    "--replace",
    "replacements",
    multiple=True,
    metavar="SERVICE=COMMAND|IMAGE",
    help="Bring your own service, in SERVICE's tier with its environment and readiness probe. "
    "Local stack: COMMAND runs in place of the stand-in's process. Compose stack: IMAGE runs in "
    "place of the service's image (its environment, ports, depends_on, healthcheck and network "
    "kept), or compose:FILE runs the service as the compose FILE of yours defines it. "
    "Repeatable.",
)
@click.option(
    "--detach",
    "-d",
    is_flag=True,
    help="Return once ready; `tracebed down` stops the stack (and its sink).",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object (services, frontend_url, sink) as the last line.",
)
def command(
    kind: str,
    compose: tuple[str, ...],
    env_file: str | None,
    profiles: tuple[str, ...],
    group_by: str,
    until: str | None,
    readiness: str | None,
    workdir: str | None,
    with_load_generator: bool,
    demo_version: str | None,
    project: str | None,
    max_spans: int | None,
    replacements: tuple[str, ...],
    detach: bool,
    as_json: bool,
) -> None:
    """Start a stack tier by tier with live progress, and the OTLP sink it exports to.

    In the foreground it runs until Ctrl-C / SIGTERM and then tears everything down.

    \b
    Example:
      tracebed up --detach --replace payment='node payment/index.js'
      tracebed up --stack compose --replace payment=my-payment:dev --json
    """
    for item in replacements:  # the plugin's own checks of a SERVICE=COMMAND|IMAGE value
        why = validate.CHECKS["replace"](item) or validate.replacement_problem(item, kind)
        if why:
            raise BadInput(f"--replace {why}")
    if kind in ("compose", "external") and not compose:
        raise click.UsageError(f"--stack {kind} needs --compose FILE (the stack's description)")
    work = Path(workdir) if workdir else state_dir() / "work" / uuid.uuid4().hex[:12]
    harness = Harness(
        HarnessOptions(
            kind=kind,  # type: ignore[arg-type]  # click.Choice above
            compose_files=compose,
            env_file=env_file,
            profiles=profiles,
            group_by=group_by,
            readiness=readiness,
            with_load_generator=with_load_generator,
            demo_version=demo_version,
            project=project,
            until=until,
            needs_front_door=False,
            workdir=work.resolve(),
            progress=None,  # live table only on a terminal
            sink_mode="process" if detach else "here",
            sink_max_spans=max_spans,
            replace=validate.replacements(replacements),
        )
    )
    try:
        harness.start()  # on failure it stops what it started, the sink included
    except (StackStartError, StackError, SinkStartError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:  # a sink port taken
        raise click.ClickException(f"cannot start the sink: {exc}") from None
    except KeyboardInterrupt:
        click.echo("interrupted: everything started was stopped", err=True)
        sys.exit(130)
    stack, sink = harness.stack, harness.sink
    assert stack is not None and sink is not None  # up always has a topology and a sink
    work = harness.workdir
    if detach:
        summary = _summary(stack, sink, work)
        harness.detach(**{**summary, "sink": sink.info()})
        _report(stack, sink, summary, as_json)
        click.echo(f"detached (run {stack.record.run_id}); stop it with `tracebed down`", err=True)
        return
    # Foreground: catch Ctrl-C / SIGTERM from here on, so that no signal can arrive
    # between "ready" and "waiting" without the stack being torn down.
    stop = _StopSignal()
    try:
        _report(stack, sink, _summary(stack, sink, work), as_json)
        click.echo("running; Ctrl-C to stop", err=True)
        stop.wait()
    finally:
        stop.restore()
        harness.stop()


def _summary(stack: Stack, sink: SinkHandle, work: Path) -> dict[str, Any]:
    described = stack.describe()
    for name, entry in described["services"].items():
        replaced_by = stack.topology.services[name].replaced_by
        if replaced_by is not None:  # bring your own service: what runs in its place
            entry["replaced_by"] = replaced_by
    return {
        **described,
        "sink": {"http": sink.http_url, "grpc": sink.grpc_endpoint},
        "run_id": stack.record.run_id,
        "workdir": str(work),
    }


def _report(stack: Stack, sink: SinkHandle, summary: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(summary))  # the last line of stdout, as the issue asks
        return
    click.echo(stack.timeline.gantt(), err=True)
    for name, why in sorted(stack.topology.absent.items()):
        click.echo(f"left out: {name} ({why})", err=True)
    click.echo(
        f"frontend: {summary['frontend_url']}  sink: {sink.http_url} "
        f"(OTLP/gRPC {sink.grpc_endpoint})",
        err=True,
    )


class _StopSignal:
    """SIGINT/SIGTERM set an event instead of raising, until `restore()`."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.got: list[int] = []
        self._prev_int = signal.signal(signal.SIGINT, self._on_signal)
        self._prev_term = signal.signal(signal.SIGTERM, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self.got.append(signum)
        self.done.set()

    def wait(self) -> None:
        while not self.done.wait(1.0):
            pass
        click.echo(f"stopping ({signal.Signals(self.got[0]).name})", err=True)

    def restore(self) -> None:
        signal.signal(signal.SIGINT, self._prev_int)
        signal.signal(signal.SIGTERM, self._prev_term)
