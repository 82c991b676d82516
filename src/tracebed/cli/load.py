"""`tracebed load`: a headless Locust run with the demo's task mix, checkout traces verified."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tracebed.cli._params import PORT, POSITIVE, BadInput, write_output
from tracebed.flows.chain import CHECKOUT_SERVICES, ChainCheck
from tracebed.flows.load import LoadRunError, LoadSummary
from tracebed.flows.tasks import task_mix
from tracebed.harness import Harness, HarnessOptions
from tracebed.otlp.client import SinkApiError


def _stack_on_record(url: str | None) -> tuple[str, str | None, str | None]:
    """`(frontend URL, sink HTTP URL, flagd OFREP URL)` from `tracebed up`'s run records."""
    from tracebed.harness import stacks_on_record

    stacks = stacks_on_record()
    if url is None:
        if not stacks:
            raise click.UsageError(
                "no --url, and no stack on record: pass --url, or start one with `tracebed up --detach`"
            )
        if len(stacks) > 1:
            listed = ", ".join(f"{r.run_id} ({r.frontend_url})" for r in stacks)
            raise click.UsageError(f"several stacks on record ({listed}): pass --url")
        found = stacks[0]
    else:
        same = [r for r in stacks if r.frontend_url.rstrip("/") == url.rstrip("/")]
        if not same:
            return url, None, None
        found = same[-1]
    return found.frontend_url, found.sink_url, found.ofrep_url


@click.command("load")
@click.option(
    "--url",
    default=None,
    help="The shop's front door, e.g. http://127.0.0.1:8080. Default: the frontend of "
    "the one stack on record (`tracebed up --detach`).",
)
@click.option("--users", type=POSITIVE, default=5, show_default=True)
@click.option(
    "--spawn-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Users started per second.",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds; the run stops by itself after this.",
)
@click.option(
    "--sink",
    "sink_url",
    default=None,
    metavar="URL",
    help="HTTP API of the sink the stack's collector exports to (e.g. the one "
    "`tracebed up` or `tracebed sink` started): traces are verified through it.",
)
@click.option(
    "--sink-grpc-port",
    type=PORT,
    default=None,
    help="Without --sink: start a sink whose OTLP/gRPC receiver listens here "
    "(point the collector's exporter at it). Default: any free port.",
)
@click.option(
    "--sink-http-port",
    type=PORT,
    default=0,
    show_default=True,
    help="Without --sink: the started sink's OTLP/HTTP + API port.",
)
@click.option("--no-verify", is_flag=True, help="Only generate load; do not check traces.")
@click.option(
    "--wait",
    "wait_time",
    type=(float, float),
    default=(1.0, 10.0),
    show_default=True,
    metavar="MIN MAX",
    help="Seconds a user waits between tasks (the demo: 1 10).",
)
@click.option(
    "--tasks",
    default=None,
    metavar="MIX",
    help="Task mix: a demo version (2.0.2, 2.1.3, 2.2.0) or name=weight,... "
    "(default: the 2.0.2 load generator's weights).",
)
@click.option(
    "--max-requests",
    type=POSITIVE,
    default=100_000,
    show_default=True,
    help="Also stop after this many requests.",
)
@click.option(
    "--ofrep-url",
    default=None,
    metavar="URL",
    help="flagd's OFREP endpoint, for the loadGeneratorFloodHomepage flag (else 0).",
)
@click.option(
    "--verify-timeout",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds to wait, after the run, for checkout traces to complete.",
)
@click.option(
    "--chain",
    "chain_services",
    default=",".join(CHECKOUT_SERVICES),
    show_default=True,
    metavar="SERVICES",
    help="Services every checkout trace must reach (comma-separated; for forks that rename).",
)
@click.option(
    "--no-kafka", is_flag=True, help="Do not require the Kafka publish in checkout traces."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the summary as JSON here.",
)
def command(
    url: str | None,
    users: int,
    spawn_rate: float,
    duration: float,
    sink_url: str | None,
    sink_grpc_port: int | None,
    sink_http_port: int,
    no_verify: bool,
    wait_time: tuple[float, float],
    tasks: str | None,
    max_requests: int,
    ofrep_url: str | None,
    verify_timeout: float,
    chain_services: str,
    no_kafka: bool,
    json_path: Path | None,
) -> None:
    """Run the demo's load-generator task mix headless against the shop; verify the traces.

    Every checkout's trace must reach checkout, cart, product-catalog, currency, shipping,
    quote, payment and email, and contain the Kafka publish. Against a stack started with
    `tracebed up --detach`, no option is needed: its frontend and its sink's HTTP API are taken
    from the run record. Otherwise pass --url, and --sink with the HTTP API of the sink the
    stack's collector exports to; without --sink a sink is started here, and only spans the
    stack's collector exports to it can be verified. Exit status 0 only when no request failed
    and every checkout trace was complete.

    \b
    Example:
      tracebed load --url http://127.0.0.1:8080 --users 5 --duration 60
    """
    url, recorded_sink, recorded_ofrep = _stack_on_record(url)
    ofrep_url = ofrep_url or recorded_ofrep
    if sink_url is None and recorded_sink and sink_grpc_port is None:
        sink_url = recorded_sink
        click.echo(f"verifying through the sink of the stack on record: {sink_url}", err=True)
    try:
        mix = task_mix(tasks)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--tasks") from exc
    services = [s.strip() for s in chain_services.split(",") if s.strip()]
    try:
        chain = ChainCheck(services, kafka_publish=not no_kafka)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--chain") from exc
    # The stack runs already (known by its front door); the harness only brings the sink: the
    # one given, or its own one here.
    harness = Harness(
        HarnessOptions(
            kind="external",
            frontend_url=url,
            ofrep_url=ofrep_url,
            sink_url=None if no_verify else sink_url,
            sink_mode="none" if no_verify else "here",
            sink_grpc_port=sink_grpc_port or 0,
            sink_http_port=sink_http_port,
        )
    )
    own_sink = None
    if not no_verify:
        try:
            sink = harness.open_sink()
            sink.check()
        except SinkApiError as exc:
            raise BadInput(str(exc)) from exc
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--sink") from exc
        except OSError as exc:
            raise BadInput(f"cannot start a sink: {exc}") from exc
        own_sink = sink.sink
        if own_sink is not None:
            click.echo(
                f"collecting spans at OTLP/gRPC {own_sink.grpc_endpoint} "
                f"(HTTP {own_sink.http_url}); the stack's collector must export there",
                err=True,
            )
    try:
        harness.start()
        click.echo(
            f"load: {users} users at {spawn_rate:g}/s for {duration:g}s against {url}", err=True
        )
        summary: LoadSummary = harness.load_runner()(
            users,
            spawn_rate,
            duration,
            verify=not no_verify,
            wait_time=wait_time,
            tasks=mix,
            max_requests=max_requests,
            verify_timeout=verify_timeout,
            chain=chain,
        )
        if own_sink is not None and summary.checkouts and not len(own_sink.store):
            summary.verification = (
                f"no span arrived at {own_sink.grpc_endpoint}: "
                "export the collector there or use --sink"
            )
    except ValueError as exc:  # e.g. a URL that is not http(s)
        raise BadInput(str(exc)) from exc
    except (LoadRunError, SinkApiError) as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        harness.stop()
    click.echo(summary.render())
    if json_path is not None:
        write_output(json_path, json.dumps(summary.as_dict(), indent=2))
    if not summary.ok:
        raise SystemExit(1)
