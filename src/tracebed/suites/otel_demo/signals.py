"""The signal matrix of a demo release (fixtures/signals/<release>/matrix.yaml) and the one
check the suite makes of it: a service's required signals arrived after the warm-up.

The matrix says, per service, which of traces, metrics and logs it must emit and where each
comes from (`own`: the service's SDK; `span_metrics`: the collector derives it from the
service's spans), plus the log records a flow must leave carrying its trace. `wait_for_signals`
waits for all of a service's required signals at once, through the store's one wait (woken by
every arrival of any signal), and fails naming the service and each signal that did not come.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tracebed.errors import ConfigError, ExpectationFailed
from tracebed.model import SpanStore
from tracebed.model.store import Mark

SIGNALS: tuple[str, ...] = ("traces", "metrics", "logs")
OWN, SPAN_METRICS = "own", "span_metrics"
SOURCES: dict[str, tuple[str, ...]] = {
    "traces": (OWN,),
    "metrics": (OWN, SPAN_METRICS),
    "logs": (OWN,),
}
SCOPES = ("minimal", "full")
MATRIX_FILE = "matrix.yaml"
#: The SDKs' metric export interval when nothing sets one (ms): the OTel spec's default, which
#: the demo's compose files keep (demo-facts-3.0 §5.1).
SDK_METRIC_INTERVAL_MS = 60_000


class MatrixError(ConfigError, ValueError):
    """A signal-matrix fixture that cannot be read; the message names the file and the row."""


class SignalsMissing(ExpectationFailed):
    """Some of a service's required signals did not arrive; `missing` lists them."""

    def __init__(self, message: str, service: str, missing: Sequence[str]):
        super().__init__(message)
        self.service, self.missing = service, list(missing)


@dataclass(frozen=True)
class ServiceSignals:
    """One row: the signals `service` must emit, each with where it comes from."""

    service: str
    sources: Mapping[str, str]
    scope: str = "minimal"
    #: another service whose own traffic is the only thing that reaches this one ("" = the
    #: flows tracebed drives reach it)
    via: str = ""

    @property
    def required(self) -> tuple[str, ...]:
        return tuple(s for s in SIGNALS if s in self.sources)


@dataclass(frozen=True)
class FlowLog:
    """A record `service` logs when `flow` runs, inside one of its spans of the flow's trace."""

    flow: str
    service: str
    body: str
    #: the attribute holding the order id the flow's checkout answered with ("" = none)
    order_id: str = ""


@dataclass(frozen=True)
class SignalMatrix:
    release: str
    path: Path
    services: dict[str, ServiceSignals] = field(default_factory=dict)
    flow_logs: tuple[FlowLog, ...] = ()


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise MatrixError(f"{where}: expected a non-empty text, got {value!r}")
    return value.strip()


def _row(service: str, raw: Any, where: str) -> ServiceSignals:
    if not isinstance(raw, Mapping):
        raise MatrixError(f"{where}: a row is a mapping of signal: source, got {raw!r}")
    sources: dict[str, str] = {}
    scope, via = "minimal", ""
    for key, value in raw.items():
        if key in SOURCES:
            source = _text(value, f"{where}.{key}")
            if source not in SOURCES[key]:
                raise MatrixError(
                    f"{where}.{key}: unknown source {source!r} (one of {', '.join(SOURCES[key])})"
                )
            sources[key] = source
        elif key == "scope":
            scope = _text(value, f"{where}.scope")
            if scope not in SCOPES:
                raise MatrixError(f"{where}.scope: {scope!r} is not one of {', '.join(SCOPES)}")
        elif key == "via":
            via = _text(value, f"{where}.via")
        else:
            raise MatrixError(
                f"{where}: unknown key {key!r} (signals: {', '.join(SIGNALS)}; also scope, via)"
            )
    if not sources:
        raise MatrixError(f"{where}: the row requires no signal; leave the service out instead")
    return ServiceSignals(service, sources, scope, via)


def _flow_log(raw: Any, where: str) -> FlowLog:
    if not isinstance(raw, Mapping):
        raise MatrixError(f"{where}: expected a mapping with flow, service, body")
    unknown = set(raw) - {"flow", "service", "body", "order_id"}
    if unknown:
        raise MatrixError(f"{where}: unknown keys {sorted(unknown)}")
    return FlowLog(
        flow=_text(raw.get("flow"), f"{where}.flow"),
        service=_text(raw.get("service"), f"{where}.service"),
        body=_text(raw.get("body"), f"{where}.body"),
        order_id=_text(raw["order_id"], f"{where}.order_id") if "order_id" in raw else "",
    )


def load_matrix(path: Path | str) -> SignalMatrix:
    """The matrix in `path` (a `matrix.yaml`, or the release folder holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / MATRIX_FILE
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise MatrixError(f"cannot read signal matrix {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise MatrixError(f"{path} is not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping) or not isinstance(doc.get("matrix"), Mapping):
        raise MatrixError(f"{path}: expected a mapping with `matrix:` (service: signals)")
    release = str(doc.get("release") or path.parent.name)
    services = {
        str(name): _row(str(name), raw, f"{path}: matrix.{name}")
        for name, raw in doc["matrix"].items()
    }
    raw_logs = doc.get("flow_logs") or []
    if not isinstance(raw_logs, list):
        raise MatrixError(f"{path}: flow_logs must be a list")
    flow_logs = tuple(_flow_log(raw, f"{path}: flow_logs[{i}]") for i, raw in enumerate(raw_logs))
    for entry in flow_logs:
        row = services.get(entry.service)
        if row is None or "logs" not in row.sources:
            raise MatrixError(
                f"{path}: flow_logs names {entry.service}, which the matrix does not require to log"
            )
    return SignalMatrix(release, path, services, flow_logs)


# -- what arrived --------------------------------------------------------------------------


def arrived(
    store: SpanStore,
    service: str,
    signals: Iterable[str],
    *,
    since: Mark,
    trace_ids: Sequence[str] | None,
) -> set[str]:
    """Which of `signals` of `service` the store holds: spans in the traces `trace_ids` (or in
    spans of other traces linking to them; None: in any trace held), log records and metric
    points stored since `since`."""
    out = set()
    for signal in signals:
        if signal == "traces":
            ok = _has_spans(store, service, trace_ids)
        elif signal == "logs":
            ok = bool(store.logs(service=service, since=since, limit=1))
        elif signal == "metrics":
            ok = len(store.metric_points(service=service, since=since)) > 0
        else:
            raise ValueError(f"unknown signal {signal!r}")
        if ok:
            out.add(signal)
    return out


def _has_spans(store: SpanStore, service: str, trace_ids: Sequence[str] | None) -> bool:
    if trace_ids is None:
        return any(service in t.services for t in store.traces())
    for trace_id in trace_ids:
        trace = store.get_trace(trace_id)
        if trace is not None and service in trace.services:
            return True
        # Kafka consumers that start their own trace link back to the producer's.
        if any(s.service == service for s in store.spans_linking_to(trace_id)):
            return True
    return False


def _held(store: SpanStore, signal: str, since: Mark, trace_ids: Sequence[str] | None) -> str:
    """Which services the store does hold `signal` of (for the failure message)."""
    if signal == "logs":
        names = sorted({r.service for r in store.logs(since=since)})
    elif signal == "metrics":
        names = sorted({p.service for p in store.metric_points(since=since)})
    else:
        traces = (
            store.traces()
            if trace_ids is None
            else [t for t in (store.get_trace(i) for i in trace_ids) if t is not None]
        )
        names = sorted({s for t in traces for s in t.services})
    # a record whose resource has no service.name is counted, not silently dropped
    return ", ".join(n or "(no service.name)" for n in names) or "none"


def wait_for_signals(
    store: SpanStore,
    service: str,
    required: Sequence[str],
    *,
    since: Mark,
    trace_ids: Sequence[str] | None,
    timeout: float,
    release: str = "",
) -> set[str]:
    """Block until every `required` signal of `service` arrived (see `arrived`); raise
    `SignalsMissing` naming the service and each missing signal otherwise."""
    got: list[set[str]] = [set()]

    def check() -> bool:
        # Only what has not come yet is looked for again (arrivals stay), so a busy stack's
        # every arrival costs one look per missing signal.
        pending = [s for s in required if s not in got[0]]
        got[0] |= arrived(store, service, pending, since=since, trace_ids=trace_ids)
        return len(got[0]) == len(set(required))

    try:
        store.wait(check, on=None, timeout=timeout, description=f"{service}'s signals")
    except TimeoutError:
        missing = [s for s in required if s not in got[0]]
        raise SignalsMissing(
            missing_message(store, service, required, missing, since, trace_ids, timeout, release),
            service,
            missing,
        ) from None
    return got[0]


def missing_message(
    store: SpanStore,
    service: str,
    required: Sequence[str],
    missing: Sequence[str],
    since: Mark,
    trace_ids: Sequence[str] | None,
    timeout: float,
    release: str = "",
) -> str:
    whose = f"demo {release}'s" if release else "the"
    came = [s for s in required if s not in missing]
    where = {
        "traces": "in the warm-up's traces" if trace_ids is not None else "in any trace",
        "metrics": "since the warm-up",
        "logs": "since the warm-up",
    }
    lines = [
        f"{service}: no {' and no '.join(missing)} arrived within {timeout:.1f}s "
        f"({whose} signal matrix requires {', '.join(required)}"
        + (f"; {', '.join(came)} arrived" if came else "")
        + ")"
    ]
    for signal in missing:
        lines.append(
            f"  {signal} {where[signal]} came from: {_held(store, signal, since, trace_ids)}"
        )
    return "\n".join(lines)


def metric_interval_s(environment: Mapping[str, str | None] | None) -> float:
    """The metric export interval a service runs with: its `OTEL_METRIC_EXPORT_INTERVAL` (ms;
    the harness sets it for the stacks it starts), else the SDK default."""
    raw = (environment or {}).get("OTEL_METRIC_EXPORT_INTERVAL")
    try:
        ms = float(raw) if raw not in (None, "") else SDK_METRIC_INTERVAL_MS
    except (TypeError, ValueError):
        ms = SDK_METRIC_INTERVAL_MS
    return max(ms, 0.0) / 1000.0
