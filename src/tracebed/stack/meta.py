"""What a stack says about itself: the `x-tracebed-stack` section of its topology, typed.

The reference stack writes it (its front door, flag service, the demo services it leaves out);
a compose file may carry one too. It is read here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tracebed.stack.errors import TopologyError

KEY = "x-tracebed-stack"


@dataclass(frozen=True)
class StackMeta:
    """The parsed `x-tracebed-stack` section; `declared` is False when the stack has none."""

    declared: bool = False
    frontend_url: str | None = None
    flagd_ofrep_url: str | None = None
    flagd_ui_url: str | None = None
    flag_file: str | None = None
    sink_otlp_grpc: str | None = None
    #: the demo release the stack is (the reference stack says which it impersonates)
    demo_version: str | None = None
    ports: dict[str, int] = field(default_factory=dict)
    #: demo services this stack leaves out, with why
    absent: dict[str, str] = field(default_factory=dict)
    #: the demo's depends_on edges ("a -> b") dropped because their target is not here
    dropped_depends_on: list[str] = field(default_factory=list)
    #: services defined but not started, with why (e.g. load-generator unless asked for)
    not_started: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_extras(cls, extras: Mapping[str, Any]) -> StackMeta:
        """From a topology's top-level `x-*` keys."""
        return cls.parse(extras.get(KEY))

    @classmethod
    def parse(cls, raw: Any) -> StackMeta:
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping):
            raise TopologyError(f"{KEY} must be a mapping, not {type(raw).__name__}")

        def text(key: str) -> str | None:
            value = raw.get(key)
            return None if value in (None, "") else str(value)

        def mapping(key: str) -> Mapping[str, Any]:
            value = raw.get(key) or {}
            if not isinstance(value, Mapping):
                raise TopologyError(f"{KEY}.{key} must be a mapping, not {type(value).__name__}")
            return value

        try:
            ports = {str(k): int(v) for k, v in mapping("ports").items()}
        except (TypeError, ValueError):
            raise TopologyError(f"{KEY}.ports must map names to port numbers") from None
        dropped = raw.get("dropped_depends_on") or []
        if not isinstance(dropped, list):
            raise TopologyError(f"{KEY}.dropped_depends_on must be a list")
        return cls(
            declared=True,
            frontend_url=text("frontend_url"),
            flagd_ofrep_url=text("flagd_ofrep_url"),
            flagd_ui_url=text("flagd_ui_url"),
            flag_file=text("flag_file"),
            sink_otlp_grpc=text("sink_otlp_grpc"),
            demo_version=text("demo_version"),
            ports=ports,
            absent={str(k): str(v) for k, v in mapping("absent").items()},
            dropped_depends_on=[str(e) for e in dropped],
            not_started={str(k): str(v) for k, v in mapping("not_started").items()},
        )
