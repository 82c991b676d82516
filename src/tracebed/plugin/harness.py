"""What the pytest fixtures hold: the stack under test joined to its sink.

Kept free of pytest so that `tracebed demo` and scripts can use the same bring-up.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tracebed.otlp.sink import Sink
from tracebed.plugin.flags import FlagSwitch
from tracebed.stack.backends import ComposeBackend, ExternalBackend, LocalBackend
from tracebed.stack.backends.base import Backend
from tracebed.stack.runner import Stack
from tracebed.stack.timeline import Timeline
from tracebed.stack.topology import Topology

StackKind = Literal["local", "compose", "external"]


@dataclass
class StackOptions:
    kind: StackKind = "local"
    compose_files: Sequence[str] = ()
    env_file: str | None = None
    frontend_url: str | None = None
    until: str | None = None
    keep: bool = False
    workdir: Path | None = None
    flag_settle: float = 0.0
    progress: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class DemoStack:
    """The running stack: `.timeline`, `.topology`, `.url(service)`, `.frontend_url`, `.flags`."""

    def __init__(self, stack: Stack | None, frontend_url: str, flags: FlagSwitch | None):
        self.stack = stack
        self.frontend_url = frontend_url
        self.flags = flags

    @property
    def timeline(self) -> Timeline:
        return self.stack.timeline if self.stack is not None else Timeline()

    @property
    def topology(self) -> Topology | None:
        return self.stack.topology if self.stack is not None else None

    @property
    def absent(self) -> dict[str, str]:
        """Demo services the stack leaves out, with the reason (reference stack)."""
        return self.topology.absent if self.topology is not None else {}

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


def _backend(kind: StackKind) -> Backend:
    return {"local": LocalBackend, "compose": ComposeBackend, "external": ExternalBackend}[kind]()


def joins_the_sink(compose_files: Sequence[str]) -> bool:
    """Whether the files include tracebed's overlay (docker-compose.test.yml or one like it)."""
    return any("TRACEBED_SINK_OTLP" in Path(f).read_text(errors="replace") for f in compose_files)


def sink_host_for(options: StackOptions, configured: str) -> str:
    """A demo joined through docker-compose.test.yml exports from its containers, which reach
    the host at docker's bridge gateway: the sink must listen there, not only on 127.0.0.1."""
    if (
        options.kind == "compose"
        and configured == "127.0.0.1"
        and options.compose_files
        and joins_the_sink(options.compose_files)
    ):
        from tracebed.stack.collector_overlay import docker_bridge_gateway

        return docker_bridge_gateway()
    return configured


def build_topology(options: StackOptions, sink: Sink, workdir: Path) -> Topology | None:
    if options.compose_files:
        if options.kind == "compose" and joins_the_sink(options.compose_files):
            from tracebed.stack.collector_overlay import join_environment

            # The overlay reads these from compose's environment: the generated collector
            # overlay and the sink as the collector sees it (host-gateway).
            os.environ.update(
                join_environment(
                    options.compose_files, sink.grpc_port, workdir / "collector", options.env_file
                )
            )
        return Topology.from_compose(list(options.compose_files), env_file=options.env_file)
    if options.kind == "local":
        from tracebed.reference.spec import build_spec  # the built-in reference stack

        spec = build_spec(workdir / "reference", sink_otlp_grpc=sink.grpc_endpoint)
        return Topology.from_spec(spec)
    if options.kind == "compose":
        # The reference stack in containers (images built offline, reused when unchanged).
        from tracebed.stack.reference_compose import reference_compose_topology

        topology: Topology = reference_compose_topology(
            workdir / "reference-compose", sink.grpc_endpoint
        )
        return topology
    return None


def start_demo_stack(options: StackOptions, sink: Sink, workdir: Path) -> DemoStack:
    """Bring the stack up tier by tier (or attach to an external one)."""
    topology = build_topology(options, sink, workdir)
    stack: Stack | None = None
    if topology is not None:
        stack = Stack(topology, _backend(options.kind), run_dir=workdir / "run")
        stack.start(until=options.until, progress=options.progress)
    try:
        frontend = options.frontend_url or (stack.frontend_url() if stack else None)
        if not frontend:
            raise ValueError(
                "no front door: give --tracebed-frontend-url, or a stack with a frontend-proxy"
            )
        meta = (topology.extras.get("x-tracebed-stack") or {}) if topology is not None else {}
        ofrep = meta.get("flagd_ofrep_url")
        if ofrep is None and stack is not None and "flagd" in stack.topology.services:
            with contextlib.suppress(LookupError):
                ofrep = stack.endpoints("flagd").get("ofrep")
        flags = FlagSwitch(f"{frontend.rstrip('/')}/feature", ofrep, settle=options.flag_settle)
        return DemoStack(stack, frontend.rstrip("/"), flags)
    except BaseException:
        if stack is not None:
            stack.stop()
        raise
