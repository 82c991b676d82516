"""`Harness`: the stack under test joined to its sink, with its flag switch — one bring-up for
the pytest fixtures, `tracebed up`, `record` and `load` (and so `tracebed demo`).

Kept free of pytest and click: errors are the layers' own (StackError, SinkStartError, ...).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from tracebed.errors import ConfigError
from tracebed.flows.flags import FlagSwitch
from tracebed.harness.sink import SinkHandle, start_sink
from tracebed.model.source import quiet_after_export_delay
from tracebed.otlp.sink import Sink
from tracebed.stack.backends import make_backend
from tracebed.stack.meta import StackMeta
from tracebed.stack.readiness import Readiness
from tracebed.stack.runner import Stack
from tracebed.stack.timeline import Timeline
from tracebed.stack.topology import Topology

if TYPE_CHECKING:
    from tracebed.flows.client import ShopClient
    from tracebed.model.source import TraceSource

StackKind = Literal["local", "compose", "external"]
#: here: a sink in this process; process: `tracebed sink` in its own session (it outlives this
#: one); none: no sink (only an external stack can do without one)
SinkMode = Literal["here", "process", "none"]


@dataclass
class HarnessOptions:
    """What to bring up. Without compose files, `local` and `compose` run the reference stack
    (as processes, or in containers); `external` only probes (or, without files, only knows
    the front door)."""

    kind: StackKind = "local"
    compose_files: Sequence[str] = ()
    env_file: str | None = None
    profiles: Sequence[str] = ()
    #: tiers from the depends_on layering (None, "depends_on"), "seed", or a groups YAML file
    group_by: str | None = None
    #: readiness overrides file (None: the defaults)
    readiness: str | None = None
    #: reference stack: also its Locust load generator
    with_load_generator: bool = False
    #: reference stack: the demo release it impersonates ("2.0.2", "3.0.0"; None: 3.0.0)
    demo_version: str | None = None
    #: compose project name (compose: instead of a unique one; external: the running one)
    project: str | None = None
    frontend_url: str | None = None
    #: without a front door (none given, none in the stack) start() fails; `tracebed up`
    #: runs any stack, so it says False (then `frontend_url` is "" and there are no flags)
    needs_front_door: bool = True
    #: the flag service's OFREP endpoint, when the stack does not say
    ofrep_url: str | None = None
    until: str | None = None
    #: leave the stack running when the harness stops (`tracebed down` stops it)
    keep: bool = False
    #: logs and rendered configs (default: a temporary directory the harness owns)
    workdir: Path | None = None
    flag_settle: float = 0.0
    progress: bool | None = None
    #: a running sink's HTTP API to read traces from, instead of starting a sink
    sink_url: str | None = None
    sink_mode: SinkMode = "here"
    sink_host: str = "127.0.0.1"
    sink_grpc_port: int = 0
    sink_http_port: int = 0
    sink_max_spans: int | None = None
    #: SERVICE -> what runs in that service's place, in its tier with its environment and probe:
    #: a command line (local stack), an image or `compose:FILE` (compose stack)
    replace: Mapping[str, str] = field(default_factory=dict)
    #: seconds every process it starts waits before exporting spans and logs (metrics: at least
    #: 1 s); None keeps the stack's own (the stand-in: 50 ms; the SDKs' default is 5 s). On the
    #: compose path only when given: the demo's own settings are what it tests.
    export_delay: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)


#: the OpenTelemetry SDKs' default batch schedule delay (OTEL_BSP_SCHEDULE_DELAY, 5000 ms)
SDK_EXPORT_DELAY_S = 5.0
_DELAY_VARIABLES = ("OTEL_BSP_SCHEDULE_DELAY", "OTEL_BLRP_SCHEDULE_DELAY")


class DemoStack:
    """The running stack: `.timeline`, `.topology`, `.url(service)`, `.frontend_url`, `.flags`."""

    def __init__(
        self,
        stack: Stack | None,
        frontend_url: str,
        flags: FlagSwitch | None,
        export_delay: float = SDK_EXPORT_DELAY_S,
    ):
        self.stack = stack
        self.frontend_url = frontend_url
        self.flags = flags
        #: seconds a span may wait in its process before export (the batch processors'
        #: schedule delay): waits must not call a trace complete after a shorter quiet
        self.export_delay = export_delay

    @property
    def timeline(self) -> Timeline:
        return self.stack.timeline if self.stack is not None else Timeline()

    @property
    def topology(self) -> Topology | None:
        return self.stack.topology if self.stack is not None else None

    @property
    def meta(self) -> StackMeta:
        """What the stack says about itself (`x-tracebed-stack`; empty when it says nothing)."""
        return self.topology.meta if self.topology is not None else StackMeta()

    @property
    def absent(self) -> dict[str, str]:
        """Demo services the stack leaves out, with the reason (reference stack)."""
        return dict(self.meta.absent)

    def url(self, service: str) -> str:
        if service in ("frontend-proxy", "front-door"):
            return self.frontend_url
        if self.stack is None:
            raise LookupError(f"no topology known for the external stack: cannot locate {service}")
        return self.stack.url(service)

    def endpoint(self, service: str) -> str:
        if self.stack is None:
            raise LookupError(f"no topology known for the external stack: cannot locate {service}")
        return self.stack.endpoint(service)

    def gantt_rows(self) -> list[tuple[str, int, float, float | None, str]]:
        """(service, tier, start_s, ready_s, status) from the stack's start, for the report."""
        if self.stack is None:
            return []
        timeline = self.stack.timeline
        services = self.stack.topology.services
        starts = [t for s in services if (t := timeline.requested_at(s)) is not None]
        if not starts:
            return []
        origin = min(starts)
        rows = []
        for name, svc in sorted(services.items(), key=lambda kv: (kv[1].tier, kv[0])):
            requested = timeline.requested_at(name)
            if requested is None:
                continue
            ready = timeline.ready_at(name)
            status = (
                "ready"
                if ready is not None
                else ("failed" if timeline.failed_at(name) is not None else "not ready")
            )
            rows.append(
                (
                    name,
                    svc.tier,
                    requested - origin,
                    None if ready is None else ready - origin,
                    status,
                )
            )
        return rows

    def stop(self) -> None:
        if self.stack is not None:
            self.stack.stop()


def joins_the_sink(compose_files: Sequence[str]) -> bool:
    """Whether the files include tracebed's overlay (docker-compose.test.yml or one like it)."""
    return any("TRACEBED_SINK_OTLP" in Path(f).read_text(errors="replace") for f in compose_files)


class Harness:
    """Sink, topology, backend, stack and flag switch of one run, brought up in that order.

    with Harness(HarnessOptions(kind="local")) as harness:   # sink, then the stack
        harness.shop().checkout(); harness.demo_stack.timeline.ready_at("cart")

    `open_sink()` and `start()` may also be called one by one (the pytest fixtures do); each
    is done once. `stop()` undoes what was brought up, unless it was detached or kept;
    leaving the `with` block cleanly also removes the work directory the harness made.
    """

    def __init__(
        self,
        options: HarnessOptions | None = None,
        *,
        sink: Sink | SinkHandle | None = None,
        **overrides: Any,
    ) -> None:
        self.options = replace(options or HarnessOptions(), **overrides)
        # A sink handed in stays its owner's: the harness never stops it.
        self.sink: SinkHandle | None = (
            SinkHandle.of(sink, owned=False) if isinstance(sink, Sink) else sink
        )
        self.topology: Topology | None = None
        self.demo_stack: DemoStack | None = None
        self.detached = False
        self.kept = False
        self._workdir: Path | None = None

    # -- parts -------------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        """Logs and rendered configs of this run (created on first use)."""
        if self._workdir is None:
            given = self.options.workdir
            if given is not None:
                self._workdir = Path(given).resolve()
                self._workdir.mkdir(parents=True, exist_ok=True)
            else:
                self._workdir = Path(tempfile.mkdtemp(prefix="tracebed-stack-"))
        return self._workdir

    @property
    def owns_workdir(self) -> bool:
        return self.options.workdir is None

    @property
    def stack(self) -> Stack | None:
        return self.demo_stack.stack if self.demo_stack is not None else None

    @property
    def meta(self) -> StackMeta:
        return self.topology.meta if self.topology is not None else StackMeta()

    @property
    def flags(self) -> FlagSwitch | None:
        return self.demo_stack.flags if self.demo_stack is not None else None

    @property
    def frontend_url(self) -> str:
        return self._started().frontend_url

    @property
    def source(self) -> TraceSource | None:
        """Where traces are read (the sink's store or its HTTP API); None without a sink."""
        return self.sink.source if self.sink is not None else None

    def sink_host(self) -> str:
        """A demo joined through docker-compose.test.yml exports from its containers, which
        reach the host at docker's bridge gateway: the sink must listen there, not only on
        127.0.0.1."""
        o = self.options
        if (
            o.kind == "compose"
            and o.sink_host == "127.0.0.1"
            and o.compose_files
            and joins_the_sink(o.compose_files)
        ):
            from tracebed.stack.collector_overlay import docker_bridge_gateway

            return docker_bridge_gateway()
        return o.sink_host

    # -- bring-up ----------------------------------------------------------------------------

    def open_sink(self) -> SinkHandle:
        """The run's sink, started on first call (or the running one `sink_url` names)."""
        if self.sink is None:
            o = self.options
            if o.sink_url:
                self.sink = SinkHandle.remote(o.sink_url)
            elif o.sink_mode == "none":
                raise ValueError("this harness runs without a sink (sink_mode='none')")
            else:
                self.sink = start_sink(
                    host=self.sink_host(),
                    grpc_port=o.sink_grpc_port,
                    http_port=o.sink_http_port,
                    max_spans=o.sink_max_spans,
                    process=o.sink_mode == "process",
                    workdir=self.workdir if o.sink_mode == "process" else None,
                )
        return self.sink

    def build_topology(self, sink: SinkHandle | None) -> Topology | None:
        """The stack's topology: its compose files, else the reference stack (local or in
        containers), else none (an external stack known only by its front door)."""
        o = self.options
        readiness = Readiness.load(o.readiness)
        group_by = None if o.group_by == "depends_on" else o.group_by
        if o.compose_files:
            if o.kind == "compose" and joins_the_sink(o.compose_files):
                from tracebed.stack.collector_overlay import join_environment

                # The overlay reads these from compose's environment: the generated collector
                # overlay and the sink as the collector sees it (host-gateway).
                os.environ.update(
                    join_environment(
                        o.compose_files,
                        _exported_to(sink).grpc_port,
                        self.workdir / "collector",
                        o.env_file,
                    )
                )
            return Topology.from_compose(
                list(o.compose_files),
                env_file=o.env_file,
                profiles=o.profiles,
                group_by=group_by,
                readiness=readiness,
            )
        if o.kind == "external":
            return None
        from tracebed.refstack import reference_topology

        # The reference stack: as processes, or in containers (images built offline, reused
        # while unchanged).
        containers = o.kind == "compose"
        return reference_topology(
            self.workdir / ("reference-compose" if containers else "reference"),
            str(_exported_to(sink).grpc_endpoint),
            group_by=group_by,
            readiness=readiness,
            with_load_generator=o.with_load_generator,
            in_containers=containers,
            demo_version=o.demo_version,
        )

    def start(self) -> DemoStack:
        """Bring the stack up tier by tier (or attach to an external one); opens the sink
        first unless the harness runs without one. On failure everything this call started
        is stopped again."""
        if self.demo_stack is not None:
            return self.demo_stack
        opened_here = self.sink is None and (
            self.options.sink_url is not None or self.options.sink_mode != "none"
        )
        sink = self.open_sink() if opened_here else self.sink
        try:
            self.topology = self.build_topology(sink)
            self._replace(self.topology)
            self._set_export_delay(self.topology)
            self.topology = self._compose_run_overlay(self.topology)
            self.demo_stack = self._start_stack(self.topology)
            self.demo_stack.export_delay = self.export_delay()
        except BaseException:
            self.topology = None
            if opened_here:
                self.close_sink()
            raise
        return self.demo_stack

    def _replace(self, topology: Topology | None) -> None:
        """Bring your own service: the user's command in place of the stack's process (the
        compose stack's replacements are its run overlay, `_compose_run_overlay`)."""
        if not self.options.replace:
            return
        if topology is None or self.options.kind == "external":
            raise ConfigError(
                "--replace needs a local stack (SERVICE=COMMAND) or a compose one "
                "(SERVICE=IMAGE or SERVICE=compose:FILE); an external stack is only probed"
            )
        if self.options.kind != "local":
            return
        for name, command in self.options.replace.items():
            topology.replace(name, command)

    def _set_export_delay(self, topology: Topology | None) -> None:
        """One knob for the SDK batch delays of every process this harness starts."""
        delay = self.options.export_delay
        if delay is None or topology is None or self.options.kind != "local":
            return  # compose: in its run overlay, and only when asked
        for svc in topology.services.values():
            if svc.command is None:
                continue
            svc.environment.update(export_delay_environment(delay))

    def _compose_run_overlay(self, topology: Topology | None) -> Topology | None:
        """Compose stack: one more compose file after the project's own, with the user's
        images (or compose services) in place of the replaced services and, when asked, the
        export delays of every service; the topology is read again with it, so that what the
        harness probes is what compose runs."""
        o = self.options
        if o.kind != "compose" or topology is None or not (o.replace or o.export_delay is not None):
            return topology
        from tracebed.stack.backends.compose import image_config
        from tracebed.stack.compose import (
            ComposeReplacement,
            load_compose,
            run_overlay,
            write_run_overlay,
        )

        files = [f for f in topology.compose_files if f.name != RUN_OVERLAY]
        project = load_compose(files, env_file=topology.env_file, profiles=topology.profiles)
        replacements = [ComposeReplacement.parse(n, v) for n, v in o.replace.items()]
        doc = run_overlay(
            project,
            replacements,
            image_config,
            export_delay_environment(o.export_delay) if o.export_delay is not None else None,
        )
        path = write_run_overlay(doc, self.workdir / "compose" / RUN_OVERLAY)
        replaced = Topology.from_compose(
            [*files, path],
            env_file=topology.env_file,
            profiles=topology.profiles,
            group_by=None if o.group_by == "depends_on" else o.group_by,
            readiness=topology.readiness,
        )
        for rep in replacements:
            replaced.services[rep.service].replaced_by = rep.value
        return replaced

    def export_delay(self) -> float:
        """The longest export delay of the stack's processes, in seconds: the one given
        (`export_delay`), else what the reference stack sets in its services' environment,
        else (a compose project or external stack that does not say) the SDK default 5 s."""
        if self.options.export_delay is not None:
            return self.options.export_delay
        topology = self.topology
        if topology is None or not topology.meta.declared:
            return SDK_EXPORT_DELAY_S
        found = [
            float(value) / 1000
            for svc in topology.services.values()
            for name in _DELAY_VARIABLES
            if (value := svc.environment.get(name)) not in (None, "")
            and str(value).replace(".", "", 1).isdigit()
        ]
        return max(found) if found else SDK_EXPORT_DELAY_S

    def _start_stack(self, topology: Topology | None) -> DemoStack:
        o = self.options
        stack: Stack | None = None
        if topology is not None:
            stack = Stack(topology, make_backend(o.kind, o.project), run_dir=self.workdir / "run")
            stack.start(until=o.until, progress=o.progress)
        try:
            frontend = o.frontend_url or (stack.frontend_url() if stack else None)
            if not frontend and not o.needs_front_door:
                return DemoStack(stack, "", None)
            if not frontend:
                raise ValueError(
                    "no front door: give --tracebed-frontend-url, or a stack with a frontend-proxy"
                )
            ofrep = o.ofrep_url or (topology.meta.flagd_ofrep_url if topology else None)
            if ofrep is None and stack is not None and "flagd" in stack.topology.services:
                with contextlib.suppress(LookupError):
                    ofrep = stack.endpoints("flagd").get("ofrep")
            flags = FlagSwitch(f"{frontend.rstrip('/')}/feature", ofrep, settle=o.flag_settle)
            return DemoStack(stack, frontend.rstrip("/"), flags)
        except BaseException:
            if stack is not None:
                stack.stop()
            raise

    # -- use ---------------------------------------------------------------------------------

    def shop(self, **options: Any) -> ShopClient:
        """A shop client on the front door, waiting for traces at the sink."""
        from tracebed.flows.client import ShopClient

        demo = self._started()
        options.setdefault("ofrep_url", demo.flags.ofrep_url if demo.flags else None)
        options.setdefault("quiet", quiet_after_export_delay(demo.export_delay))
        return ShopClient(demo.frontend_url, sink_store=self.source, **options)

    def load_runner(self) -> Callable[..., Any]:
        """`run(users, spawn_rate, duration_s, **options) -> LoadSummary`: Locust with the
        demo's task mix against the front door, traces verified through the sink."""
        from tracebed.flows.load import run_load

        demo = self._started()
        return functools.partial(
            run_load,
            demo.frontend_url,
            store=self.source,
            ofrep_url=demo.flags.ofrep_url if demo.flags else None,
            export_delay=demo.export_delay,
        )

    def _started(self) -> DemoStack:
        if self.demo_stack is None:
            raise RuntimeError("the harness is not started: call start() first")
        return self.demo_stack

    # -- teardown ----------------------------------------------------------------------------

    def detach(self, **info: Any) -> None:
        """Leave the stack (and a sink process) running, on record for `tracebed status` and
        `tracebed down`, with `info` (frontend_url, sink, ...) in its record."""
        if self.stack is not None:
            self.stack.detach(**info)
        self.detached = True

    def stop_stack(self) -> None:
        """Stop the stack, or with `keep` leave it running on record (`.kept`)."""
        demo = self.demo_stack
        if demo is None or self.detached:
            return
        if self.options.keep and demo.stack is not None:
            self.detach(frontend_url=demo.frontend_url)
            self.kept = True
            return
        self.demo_stack = None
        demo.stop()

    def close_sink(self) -> None:
        """Stop the sink this harness started; a detached sink process keeps running."""
        sink = self.sink
        if sink is None or (self.detached and sink.pid is not None):
            return
        self.sink = None
        sink.stop()

    def stop(self) -> None:
        """Undo the bring-up (the stack first, then the sink)."""
        try:
            self.stop_stack()
        finally:
            self.close_sink()

    def remove_workdir(self) -> None:
        """Delete the work directory if the harness made it (not one it was given)."""
        if self._workdir is not None and self.owns_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self) -> Harness:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        self.stop()
        # As the plugin does: a clean run leaves nothing behind, a failed one its logs.
        if exc_type is None and not self.detached:
            self.remove_workdir()


#: The compose file of one run's replacements and export delays (in the harness's workdir).
RUN_OVERLAY = "tracebed-run.compose.yml"


def export_delay_environment(delay: float) -> dict[str, str]:
    """The SDK export delays (spans, logs; metrics at least 1 s) for `delay` seconds."""
    ms = str(round(delay * 1000))
    return {
        "OTEL_BSP_SCHEDULE_DELAY": ms,
        "OTEL_BLRP_SCHEDULE_DELAY": ms,
        "OTEL_METRIC_EXPORT_INTERVAL": str(max(1000, round(delay * 1000))),
    }


def _exported_to(sink: SinkHandle | None) -> SinkHandle:
    """The sink a stack's collector is pointed at: one whose OTLP/gRPC address is known."""
    if sink is None or sink.grpc_endpoint is None:
        raise ValueError(
            "this stack's collector must export to a sink the harness starts "
            "(not one known only by its HTTP API)"
        )
    return sink
