"""tracebed.stack: what a stack is made of, how it starts tier by tier, what was observed.

from tracebed.stack import Topology, Stack
topo = Topology.from_compose(["docker-compose.yml"], env_file=".env")
with Stack(topo, "local") as stack:          # or backends.ComposeBackend(), ExternalBackend()
    stack.timeline.ready_at("cart"); stack.url("frontend")
"""

from tracebed.stack.errors import (
    BackendError,
    StackError,
    StackInterrupted,
    StackStartError,
    TopologyError,
)
from tracebed.stack.meta import StackMeta
from tracebed.stack.model import Dependency, Healthcheck, PortSpec, ProbeSpec, ServiceDef
from tracebed.stack.readiness import Readiness
from tracebed.stack.runner import Stack
from tracebed.stack.timeline import OrderingError, Timeline, TimelineEvent
from tracebed.stack.topology import Topology

__all__ = [
    "BackendError",
    "Dependency",
    "Healthcheck",
    "OrderingError",
    "PortSpec",
    "ProbeSpec",
    "Readiness",
    "ServiceDef",
    "Stack",
    "StackError",
    "StackInterrupted",
    "StackMeta",
    "StackStartError",
    "Timeline",
    "TimelineEvent",
    "Topology",
    "TopologyError",
]
