"""Ready-made topologies: the built-in reference stack (imported lazily; it is optional)."""

from __future__ import annotations

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
) -> Topology:
    """The reference stack (tracebed.reference.spec.build_spec) as a Topology.

    Its collector exports traces to `sink_otlp_grpc` ("127.0.0.1:PORT").
    """
    # The reference package describes itself as data and never imports the harness; the
    # harness imports it only here, when asked for it.
    from tracebed.reference.spec import build_spec

    spec = build_spec(
        Path(workdir),
        sink_otlp_grpc=sink_otlp_grpc,
        ports=ports,
        with_load_generator=with_load_generator,
    )
    return Topology.from_spec(
        spec, group_by=None if group_by == "depends_on" else group_by, readiness=readiness
    )
