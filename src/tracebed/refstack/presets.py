"""The reference stack as a Topology: the one way every caller gets it (harness, CLI)."""

from __future__ import annotations

import tempfile
from pathlib import Path

from tracebed.stack.readiness import Readiness
from tracebed.stack.topology import Grouping, Topology


def reference_topology(
    workdir: str | Path,
    sink_otlp_grpc: str,
    *,
    group_by: str | Path | Grouping | None = None,
    readiness: Readiness | None = None,
    with_load_generator: bool = False,
    ports: dict[str, int] | None = None,
    in_containers: bool = False,
    image: str | None = None,
    demo_version: str | None = None,
) -> Topology:
    """The reference stack (tracebed.reference.spec.build_spec) as a Topology.

    Its collector exports traces to `sink_otlp_grpc` ("127.0.0.1:PORT"). Its configs are
    rendered into `workdir`. With `in_containers` the topology is that of a generated compose
    file whose services run from the reference image (built offline unless `image` is given),
    for the compose backend; otherwise it is the spec itself, for the local backend.
    `demo_version` is the demo release the stand-in impersonates (None: 3.0.0).
    """
    grouping = None if group_by == "depends_on" else group_by
    if in_containers:
        from tracebed.refstack.compose import reference_compose_topology

        return reference_compose_topology(
            Path(workdir),
            sink_otlp_grpc,
            image=image,
            ports=ports,
            with_load_generator=with_load_generator,
            group_by=grouping,
            readiness=readiness,
            demo_version=demo_version,
        )
    # The reference package describes itself as data and never imports the harness; it is
    # imported only here, when asked for (it is optional).
    from tracebed.reference import versions
    from tracebed.reference.spec import build_spec

    spec = build_spec(
        Path(workdir),
        sink_otlp_grpc=sink_otlp_grpc,
        ports=ports,
        with_load_generator=with_load_generator,
        demo_version=demo_version or versions.DEFAULT,
    )
    return Topology.from_spec(spec, group_by=grouping, readiness=readiness)


def reference_shape(
    *,
    group_by: str | Path | Grouping | None = None,
    readiness: Readiness | None = None,
    with_load_generator: bool = False,
    demo_version: str | None = None,
) -> Topology:
    """The reference stack's topology to look at (services, tiers, what it leaves out).

    Nothing is started: ports are allocated and configs rendered into a temporary directory
    that is removed again.
    """
    with tempfile.TemporaryDirectory(prefix="tracebed-reference-") as workdir:
        return reference_topology(
            workdir,
            "127.0.0.1:4317",
            group_by=group_by,
            readiness=readiness,
            with_load_generator=with_load_generator,
            demo_version=demo_version,
        )
