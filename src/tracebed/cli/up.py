"""`tracebed up`: start a stack tier by tier (with the OTLP sink), then wait or detach."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import click

from tracebed.cli.topology import load_topology
from tracebed.stack.backends import ComposeBackend, ExternalBackend, LocalBackend
from tracebed.stack.backends.base import Backend
from tracebed.stack.errors import StackError, StackStartError
from tracebed.stack.presets import reference_topology
from tracebed.stack.readiness import Readiness
from tracebed.stack.runner import Stack
from tracebed.stack.state import proc_start_time, state_dir, terminate_groups


class SinkHandle:
    """The sink for this run: in-process (foreground) or a detached `tracebed sink` process."""

    def __init__(
        self, grpc_endpoint: str, http_url: str, stop: Any, pid: int | None = None
    ) -> None:
        self.grpc_endpoint = grpc_endpoint
        self.http_url = http_url
        self._stop = stop
        self.pid = pid

    def stop(self) -> None:
        self._stop()

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {"grpc": self.grpc_endpoint, "http": self.http_url}
        if self.pid is not None:
            out.update(pid=self.pid, start_time=proc_start_time(self.pid))
        return out


def start_sink(detach: bool, workdir: Path, max_spans: int | None) -> SinkHandle:
    if not detach:
        from tracebed.otlp.sink import Sink

        sink = (
            Sink(host="127.0.0.1", grpc_port=0, http_port=0, max_spans=max_spans)
            if max_spans
            else Sink(host="127.0.0.1", grpc_port=0, http_port=0)
        ).start()
        return SinkHandle(sink.grpc_endpoint, sink.http_url, sink.stop)
    return spawn_sink_process(workdir, max_spans)


def spawn_sink_process(workdir: Path, max_spans: int | None) -> SinkHandle:
    """`tracebed sink` as its own session, so it outlives `tracebed up --detach`."""
    workdir.mkdir(parents=True, exist_ok=True)
    ready = workdir / "sink-ready.json"
    ready.unlink(missing_ok=True)
    argv = [
        sys.executable,
        "-c",
        "from tracebed.cli import main; main()",
        "sink",
        "--grpc-port",
        "0",
        "--http-port",
        "0",
        "--ready-file",
        str(ready),
    ]
    if max_spans:
        argv += ["--max-spans", str(max_spans)]
    with open(workdir / "sink.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    delay = 0.02
    while not ready.is_file():
        if proc.poll() is not None:
            tail = (workdir / "sink.log").read_text(errors="replace")[-2000:]
            raise click.ClickException(f"the sink exited with code {proc.returncode}:\n{tail}")
        if time.monotonic() > deadline:
            proc.kill()
            raise click.ClickException("the sink did not report its ports within 60 s")
        time.sleep(delay)  # bounded back-off on a file another process writes atomically
        delay = min(delay * 2, 0.25)
    ports = json.loads(ready.read_text())
    pid = proc.pid

    def stop() -> None:
        terminate_groups([(pid, proc_start_time(pid), int(signal.SIGTERM))], 5.0)
        proc.poll()

    return SinkHandle(
        f"127.0.0.1:{ports['grpc_port']}", f"http://127.0.0.1:{ports['http_port']}", stop, pid=pid
    )


def make_backend(kind: str, project: str | None) -> Backend:
    if kind == "local":
        return LocalBackend()
    if kind == "compose":
        return ComposeBackend(project_name=project)
    return ExternalBackend(compose_project=project)


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
    "--project",
    default=None,
    help="Compose project name (compose: instead of a unique one; external: the "
    "running project whose published ports and health to use).",
)
@click.option("--max-spans", type=int, default=None, help="Sink memory bound in spans.")
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
    project: str | None,
    max_spans: int | None,
    detach: bool,
    as_json: bool,
) -> None:
    """Start a stack tier by tier with live progress, and the OTLP sink it exports to.

    In the foreground it runs until Ctrl-C / SIGTERM and then tears everything down.
    """
    if kind in ("compose", "external") and not compose:
        raise click.UsageError(f"--stack {kind} needs --compose FILE (the stack's description)")
    work = Path(workdir) if workdir else state_dir() / "work" / uuid.uuid4().hex[:12]
    work = work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    sink = start_sink(detach, work, max_spans)
    stack: Stack | None = None
    try:
        if compose:
            topo = load_topology(compose, env_file, profiles, group_by, readiness)
        else:
            topo = reference_topology(
                work / "reference",
                sink.grpc_endpoint,
                group_by=group_by,
                readiness=Readiness.load(readiness),
                with_load_generator=with_load_generator,
            )
        stack = Stack(topo, make_backend(kind, project), run_dir=work / "run")
        stack.start(until=until, progress=None)  # live table only on a terminal
    except StackStartError as exc:
        sink.stop()
        raise click.ClickException(str(exc)) from None
    except StackError as exc:
        sink.stop()
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        sink.stop()
        click.echo("interrupted: everything started was stopped", err=True)
        sys.exit(130)
    except BaseException:
        sink.stop()
        raise
    if detach:
        summary = _summary(stack, sink, work)
        stack.detach(**{**summary, "sink": sink.info()})
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
        try:
            stack.stop()
        finally:
            sink.stop()


def _summary(stack: Stack, sink: SinkHandle, work: Path) -> dict[str, Any]:
    return {
        **stack.describe(),
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
