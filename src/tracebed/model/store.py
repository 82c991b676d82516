"""The store: spans, log records and metric points; thread-safe, bounded, and able to wake
waiters the moment anything arrives (one wait for every signal).

Every signal is stored as batches that convert to model values lazily: ingest only reads
what the indexes need (span ids; a log record's ids, times and severity; a metric point's
series and times), so a collector's big batches cost little until a test looks at them.
`tracebed.model.logs` / `.metrics` index logs and metrics, under the same lock, limits policy
and wait as spans.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol, Unpack

from tracebed.errors import SinkError, TraceTimeout, WaitTimeout
from tracebed.model.logs import LogBatch, LogIndex, LogListBatch, LogPredicate, LogRecord
from tracebed.model.metrics import (
    MetricBatch,
    MetricIndex,
    MetricListBatch,
    MetricPoint,
    MetricPredicate,
    MetricSelection,
    SeriesChange,
)
from tracebed.model.source import (
    LogFilters,
    Mark,
    MetricFilters,
    TracePredicate,
    described,
    quiet_of,
    why_not,
)
from tracebed.model.span import Span
from tracebed.model.trace import Trace

FullPolicy = Literal["evict", "reject"]
# The signals a store holds and wakes waiters for.
Signal = Literal["spans", "logs", "metrics"]
# A wait's check: True (done), False (wait for an arrival) or a monotonic time to look again.
Check = Callable[[], "bool | float"]


class SpanBatch(Protocol):
    """Spans that arrived together; converted to `Span` only when someone asks."""

    def __len__(self) -> int: ...

    def trace_ids(self) -> Sequence[bytes]:
        """Trace id per span, raw bytes (16 long)."""
        ...

    def span_ids(self) -> Sequence[bytes]:
        """Span id per span, raw bytes (8 long)."""
        ...

    def link_targets(self) -> Sequence[tuple[int, bytes]]:
        """`(index, linked trace_id)` for every span link in the batch (asked for lazily)."""
        ...

    def materialize(self, index: int) -> Span: ...


class SpanListBatch:
    """A batch of ready-made `Span` objects (tests, files, hand-built traces)."""

    def __init__(self, spans: Iterable[Span]):
        self._spans = list(spans)

    def __len__(self) -> int:
        return len(self._spans)

    def trace_ids(self) -> list[bytes]:
        return [bytes.fromhex(s.trace_id) for s in self._spans]

    def span_ids(self) -> list[bytes]:
        return [bytes.fromhex(s.span_id) for s in self._spans]

    def link_targets(self) -> list[tuple[int, bytes]]:
        return [
            (i, bytes.fromhex(link.trace_id))
            for i, span in enumerate(self._spans)
            for link in span.links
        ]

    def materialize(self, index: int) -> Span:
        return self._spans[index]


_NOUNS = {
    "spans": ("span", "spans"),
    "logs": ("log", "log records"),
    "metrics": ("metric", "points"),
}


class StoreFullError(SinkError):
    """The store is at its limit and its policy is to refuse (the sender should retry later),
    or the batch is larger than the whole store (`permanent`: retrying cannot help)."""

    def __init__(self, needed: int, room: int, limit: int, signal: Signal = "spans"):
        store, items = _NOUNS[signal]
        self.needed, self.room, self.limit, self.signal = needed, room, limit, signal
        self.permanent = needed > limit
        super().__init__(
            f"batch of {needed} new {items} is larger than the whole {store} store "
            f"(limit {limit} {items}); it can never be stored"
            if self.permanent
            else f"{store} store full: {needed} new {items}, room for {room} "
            f"(limit {limit} {items}); retry later"
        )


class LogTimeoutError(WaitTimeout):
    """`wait_for_logs` gave up; `records` holds what matching records did arrive."""

    def __init__(self, what: str, records: list[LogRecord], waited: float, reason: str = ""):
        self.records, self.waited = records, waited
        shown = "\n".join(f"  {r}" for r in records[-10:]) or "  (none)"
        super().__init__(
            f"logs {what} not there after {waited:.1f}s"
            + (f": {reason}" if reason else "")
            + f"\n{len(records)} matching records arrived:\n{shown}"
        )


class MetricTimeoutError(WaitTimeout):
    """`wait_for_metric` gave up; `selection` holds the points that did arrive."""

    def __init__(self, what: str, selection: MetricSelection, waited: float, reason: str = ""):
        self.selection, self.waited = selection, waited
        shown = "\n".join(f"  {p}" for p in selection.latest()[-10:]) or "  (none)"
        super().__init__(
            f"metric {what} not there after {waited:.1f}s"
            + (f": {reason}" if reason else "")
            + f"\n{len(selection)} matching points arrived; latest per series:\n{shown}"
        )


def reason_not(until: object, value: object) -> str:
    """Why a log/metric condition does not hold (its `explain`, else its description)."""
    if until is None:
        return "nothing matching arrived"
    explain = getattr(until, "explain", None)
    detail = explain(value) if callable(explain) else ""
    name = getattr(until, "description", None) or getattr(until, "__name__", "predicate")
    return f"condition {name} never held" + (f": {detail}" if detail else "")


class TraceTimeoutError(TraceTimeout):
    """`wait_for_trace` gave up; the message shows what did arrive."""

    def __init__(self, trace_id: str, trace: Trace, waited: float, reason: str):
        self.trace_id, self.trace, self.waited, self.reason = trace_id, trace, waited, reason
        super().__init__(
            f"trace {trace_id} not complete after {waited:.1f}s: {reason}\n"
            f"what arrived:\n{trace.render()}"
        )


@dataclass
class AddResult:
    stored: int = 0
    duplicates: int = 0
    evicted_spans: int = 0


@dataclass
class SignalCounts:
    """Log records or metric points: what arrived and what became of it."""

    received: int = 0
    stored: int = 0
    duplicate: int = 0
    rejected: int = 0
    evicted: int = 0


@dataclass
class StoreStats:
    spans_received: int = 0
    spans_stored: int = 0
    spans_duplicate: int = 0
    spans_rejected: int = 0
    spans_evicted: int = 0
    traces_evicted: int = 0
    requests_refused_full: int = 0
    requests: dict[str, int] = field(default_factory=dict)
    bytes_received: int = 0
    logs: SignalCounts = field(default_factory=SignalCounts)
    points: SignalCounts = field(default_factory=SignalCounts)

    def signals_dict(self) -> dict[str, int]:
        """`logs_received`, ..., `points_evicted`: the /api/stats names."""
        return {
            f"{prefix}_{key}": value
            for prefix, counts in (("logs", self.logs), ("points", self.points))
            for key, value in counts.__dict__.items()
        }

    def as_dict(self, *, spans_held: int, traces_held: int) -> dict[str, object]:
        return {
            "spans_received": self.spans_received,
            "spans_stored": self.spans_stored,
            "spans_duplicate": self.spans_duplicate,
            "spans_rejected": self.spans_rejected,
            "spans_evicted": self.spans_evicted,
            "traces_evicted": self.traces_evicted,
            "requests_refused_full": self.requests_refused_full,
            "spans_held": spans_held,
            "traces_held": traces_held,
            "requests": dict(self.requests),
            "bytes_received": self.bytes_received,
        }


@dataclass
class TraceSummary:
    trace_id: str
    root_service: str
    root_name: str
    span_count: int
    services: list[str]
    first_arrival: float  # wall-clock seconds
    last_arrival: float

    def as_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


class _Bucket:
    """One trace's spans: span id -> (batch, index), plus a cached snapshot."""

    __slots__ = (
        "entries",
        "first_wall",
        "last_wall",
        "last_mono",
        "version",
        "stamp",
        "_snapshot",
        "_spans",
    )

    def __init__(self, now_wall: float, now_mono: float):
        self.entries: dict[bytes, tuple[SpanBatch, int]] = {}
        self.first_wall = now_wall
        self.last_wall = now_wall
        self.last_mono = now_mono
        self.version = 0
        self.stamp: object = None
        self._snapshot: tuple[int, Trace] | None = None
        self._spans: dict[bytes, Span] = {}

    def spans(self) -> list[Span]:
        # Materialise each span once, however many snapshots are taken while the trace grows.
        out = []
        for span_id, (batch, index) in self.entries.items():
            span = self._spans.get(span_id)
            if span is None:
                span = self._spans[span_id] = batch.materialize(index)
            out.append(span)
        return out

    def trace(self, trace_id: str, store: SpanStore) -> Trace:
        if self._snapshot is None or self._snapshot[0] != self.version:
            self._snapshot = (self.version, Trace(trace_id, self.spans(), store))
        return self._snapshot[1]


class SpanStore:
    """Holds spans by trace, log records and metric points; bounded (`max_spans`, ...); wakes
    waiters (`wait`, `wait_for_trace`, `wait_for_logs`...) the moment something arrives.
    A `TraceSource` and a `TelemetrySource`."""

    def __init__(
        self,
        max_spans: int = 1_000_000,
        when_full: FullPolicy = "evict",
        *,
        max_log_records: int = 1_000_000,
        max_metric_points: int = 1_000_000,
    ):
        if min(max_spans, max_log_records, max_metric_points) <= 0:
            raise ValueError("max_spans, max_log_records and max_metric_points must be positive")
        if when_full not in ("evict", "reject"):
            raise ValueError("when_full must be 'evict' or 'reject'")
        self.max_spans = max_spans
        self.max_log_records, self.max_metric_points = max_log_records, max_metric_points
        self._logs = LogIndex()
        self._metrics = MetricIndex()
        self.when_full: FullPolicy = when_full
        self._buckets: OrderedDict[bytes, _Bucket] = OrderedDict()  # oldest trace first
        self._links: dict[bytes, list[tuple[SpanBatch, int]]] = {}
        self._unindexed_links: list[SpanBatch] = []  # links are indexed on first query
        # Per signal: bumped by every batch that stored something (waiters compare it), and
        # when that was. One condition variable for all signals: arrivals are rare enough.
        self._arrivals: dict[str, int] = {}
        self._last_arrival: dict[str, float] = {}
        self._count = 0
        self._cond = threading.Condition(threading.Lock())
        self.stats = StoreStats()

    # -- ingest ---------------------------------------------------------------------
    def add_batch(self, batch: SpanBatch) -> AddResult:
        """Store a batch. Raises `StoreFullError` (storing nothing) when full and refusing."""
        trace_ids, span_ids = batch.trace_ids(), batch.span_ids()
        now_wall, now_mono = time.time(), time.monotonic()
        result = AddResult()
        with self._cond:
            room = self.max_spans - self._count
            if len(trace_ids) > room:
                # Only near the limit is it worth counting exactly how many spans are new.
                fresh = self._count_fresh(trace_ids, span_ids)
                if fresh > room:
                    if self.when_full == "reject" or fresh > self.max_spans:
                        self.stats.requests_refused_full += 1
                        raise StoreFullError(fresh, room, self.max_spans)
                    result.evicted_spans = self._evict(fresh - room)
            buckets = self._buckets
            touched: list[_Bucket] = []
            stamp = object()  # marks buckets already listed in `touched` by this call
            last_trace: bytes | None = None
            entries: dict[bytes, tuple[SpanBatch, int]] = {}
            duplicates = 0
            for index, (trace_id, span_id) in enumerate(zip(trace_ids, span_ids, strict=True)):
                if trace_id != last_trace:  # spans of one trace tend to come together
                    last_trace = trace_id
                    bucket = buckets.get(trace_id)
                    if bucket is None:
                        bucket = buckets[trace_id] = _Bucket(now_wall, now_mono)
                    if bucket.stamp is not stamp:
                        bucket.stamp = stamp
                        touched.append(bucket)
                    entries = bucket.entries
                if span_id in entries:
                    duplicates += 1
                else:
                    entries[span_id] = (batch, index)
            for bucket in touched:
                bucket.version += 1
                bucket.last_wall, bucket.last_mono = now_wall, now_mono
            stored = len(trace_ids) - duplicates
            if stored:
                self._unindexed_links.append(batch)
            self._count += stored
            result.stored, result.duplicates = stored, duplicates
            self.stats.spans_received += len(trace_ids)
            self.stats.spans_stored += stored
            self.stats.spans_duplicate += duplicates
            if stored:
                self._arrived("spans", now_mono)
        return result

    def _arrived(self, on: Signal, now_mono: float) -> None:
        """Count an arrival of signal `on` and wake every waiter. Caller holds the lock.

        Every signal's ingest ends here, so `wait(..., on=signal)` works the same for each.
        """
        self._arrivals[on] = self._arrivals.get(on, 0) + 1
        self._last_arrival[on] = now_mono
        self._cond.notify_all()

    def _count_fresh(self, trace_ids: Sequence[bytes], span_ids: Sequence[bytes]) -> int:
        seen: set[tuple[bytes, bytes]] = set()
        for key in zip(trace_ids, span_ids, strict=True):
            bucket = self._buckets.get(key[0])
            if not (bucket is not None and key[1] in bucket.entries):
                seen.add(key)
        return len(seen)

    def add_spans(self, spans: Iterable[Span]) -> AddResult:
        return self.add_batch(SpanListBatch(spans))

    def add_logs(self, records: Iterable[LogRecord]) -> AddResult:
        return self.add_log_batch(LogListBatch(records))

    def add_log_batch(self, batch: LogBatch) -> AddResult:
        """Store log records (a duplicate: same service, ids, times, severity, body and
        attributes). Full: evicts the oldest records, or raises `StoreFullError` storing none."""
        return self._add_signal("logs", batch, self._logs, self.max_log_records)

    def add_metric_points(self, points: Iterable[MetricPoint]) -> AddResult:
        return self.add_metric_batch(MetricListBatch(points))

    def add_metric_batch(self, batch: MetricBatch) -> AddResult:
        """Store metric points (a duplicate: its series already has a point with the same time
        and start time). Full: evicts the oldest points, or raises `StoreFullError`."""
        return self._add_signal("metrics", batch, self._metrics, self.max_metric_points)

    def _add_signal(
        self,
        signal: Signal,
        batch: LogBatch | MetricBatch,
        index: LogIndex | MetricIndex,
        limit: int,
    ) -> AddResult:
        counts = self.stats.logs if signal == "logs" else self.stats.points
        result = AddResult()
        now_mono = time.monotonic()
        with self._cond:
            room = limit - len(index)
            if len(batch) > room:
                fresh = index.count_fresh(batch)  # type: ignore[arg-type]
                if fresh > room:
                    if self.when_full == "reject" or fresh > limit:
                        self.stats.requests_refused_full += 1
                        raise StoreFullError(fresh, room, limit, signal)
                    # AddResult's field is named for spans; here it counts records / points.
                    result.evicted_spans = index.evict(fresh - room)
                    counts.evicted += result.evicted_spans
            stored, duplicates = index.add(batch)  # type: ignore[arg-type]
            result.stored, result.duplicates = stored, duplicates
            counts.received += len(batch)
            counts.stored += stored
            counts.duplicate += duplicates
            if stored:
                self._arrived(signal, now_mono)
        return result

    def count_rejected_logs(self, records: int) -> None:
        with self._cond:
            self.stats.logs.rejected += records

    def count_rejected_points(self, points: int) -> None:
        with self._cond:
            self.stats.points.rejected += points

    def _evict(self, needed: int) -> int:
        """Drop whole traces, oldest first, until `needed` spans fit. Caller holds the lock."""
        freed = 0
        while freed < needed and self._buckets:
            trace_id, bucket = self._buckets.popitem(last=False)
            freed += len(bucket.entries)
            self.stats.traces_evicted += 1
        self._count -= freed
        self.stats.spans_evicted += freed
        return freed

    def count_request(self, transport: str, nbytes: int) -> None:
        with self._cond:
            self.stats.requests[transport] = self.stats.requests.get(transport, 0) + 1
            self.stats.bytes_received += nbytes

    def count_rejected(self, spans: int) -> None:
        with self._cond:
            self.stats.spans_rejected += spans

    def clear(self) -> None:
        with self._cond:
            self._buckets.clear()
            self._links.clear()
            self._unindexed_links.clear()
            self._count = 0
            self._logs.clear()
            self._metrics.clear()

    # -- queries --------------------------------------------------------------------
    def __len__(self) -> int:
        return self._count

    def trace_ids(self) -> list[str]:
        with self._cond:
            return [trace_id.hex() for trace_id in self._buckets]

    def get_trace(self, trace_id: str) -> Trace | None:
        key = _trace_key(trace_id)
        with self._cond:
            bucket = self._buckets.get(key)
            return bucket.trace(trace_id.lower(), self) if bucket is not None else None

    def trace(self, trace_id: str) -> Trace:
        """The trace as it stands now (empty when nothing arrived)."""
        return self.get_trace(trace_id) or Trace(trace_id.lower(), (), self)

    def held_spans(self, trace: Trace) -> list[tuple[SpanBatch, int] | None]:
        """Where each span of `trace` (a snapshot of this store's) is held, as (batch, index),
        in the trace's order; None for one no longer held. For writers that read the batches
        themselves (the HTTP API copies the protobuf a span came in)."""
        key = _trace_key(trace.trace_id)
        with self._cond:
            bucket = self._buckets.get(key)
            entries = dict(bucket.entries) if bucket is not None else {}
        return [entries.get(bytes.fromhex(span.span_id)) for span in trace]

    def traces(self) -> list[Trace]:
        with self._cond:
            return [b.trace(k.hex(), self) for k, b in self._buckets.items()]

    def spans_linking_to(self, trace_id: str) -> list[Span]:
        key = _trace_key(trace_id)
        with self._cond:
            for batch in self._unindexed_links:
                for index, linked_trace in batch.link_targets():
                    self._links.setdefault(linked_trace, []).append((batch, index))
            self._unindexed_links.clear()
            held = self._buckets
            return [
                batch.materialize(index)
                for batch, index in self._links.get(key, ())
                if batch.trace_ids()[index] in held  # not evicted since
            ]

    def summaries(self) -> list[TraceSummary]:
        with self._cond:
            snapshot = [
                (b.trace(k.hex(), self), b.first_wall, b.last_wall)
                for k, b in self._buckets.items()
            ]
        out = []
        for trace, first_wall, last_wall in snapshot:
            top = trace.tops[0] if len(trace) else None
            out.append(
                TraceSummary(
                    trace_id=trace.trace_id,
                    root_service=top.service if top else "",
                    root_name=top.name if top else "",
                    span_count=len(trace),
                    services=sorted(trace.services),
                    first_arrival=first_wall,
                    last_arrival=last_wall,
                )
            )
        return out

    def stats_dict(self) -> dict[str, object]:
        with self._cond:
            out = self.stats.as_dict(spans_held=self._count, traces_held=len(self._buckets))
            out.update(self.stats.signals_dict())
            out["logs_held"], out["points_held"] = len(self._logs), len(self._metrics)
            # The names /api/stats used when logs and metrics were only counted.
            out["log_records"], out["metric_points"] = (
                self.stats.logs.received,
                self.stats.points.received,
            )
            out["mark"] = {"logs": self._logs.next_seq, "metrics": self._metrics.next_seq}
            return out

    # -- logs and metrics -------------------------------------------------------------
    def mark(self) -> Mark:
        """Now, in arrivals: pass as `since=` to see only what is stored after it."""
        with self._cond:
            return Mark(self._logs.next_seq, self._metrics.next_seq)

    def logs(self, *, limit: int | None = None, **filters: Unpack[LogFilters]) -> list[LogRecord]:
        """See `TelemetrySource.logs` (`severity`: at least that level)."""
        with self._cond:
            return self._logs.select(limit=limit, **filters)

    def logs_for_trace(self, trace_id: str) -> list[LogRecord]:
        return self.logs(trace_id=trace_id)

    def logs_for_span(self, span: Span) -> list[LogRecord]:
        return self.logs(trace_id=span.trace_id, span_id=span.span_id)

    def log_services(self) -> list[str]:
        with self._cond:
            return self._logs.services()

    def metric_points(
        self,
        service: str | None = None,
        name: str | None = None,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """See `TelemetrySource.metric_points`."""
        with self._cond:
            return self._metrics.select(service=service, name=name, **filters)

    def metric_increase(self, service: str, name: str, **filters: Unpack[MetricFilters]) -> float:
        """See `TelemetrySource.metric_increase`."""
        return self.metric_points(service, name, **filters).increase()

    def metric_changes(self, since: Mark) -> list[SeriesChange]:
        """Every series that changed since `since` (what a test page lists)."""
        return self.metric_points(since=since).changes()

    def metric_names(self, service: str | None = None) -> list[tuple[str, str]]:
        """`(service, metric name)` of every series held."""
        with self._cond:
            return self._metrics.names(service)

    def wait_for_logs(
        self,
        *,
        until: LogPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[LogFilters],
    ) -> list[LogRecord]:
        """See `TelemetrySource.wait_for_logs`: woken by each log arrival through `wait`."""
        last: list[list[LogRecord]] = [[]]

        def check() -> bool:
            records = last[0] = self.logs(**filters)
            return bool(records) if until is None else bool(until(records))

        what = described(filters)
        start = time.monotonic()
        try:
            self.wait(check, on="logs", timeout=timeout, description=f"logs {what}")
        except TimeoutError:
            reason = reason_not(until, last[0])
            raise LogTimeoutError(what, last[0], time.monotonic() - start, reason) from None
        return last[0]

    def wait_for_metric(
        self,
        service: str,
        name: str,
        *,
        until: MetricPredicate | None = None,
        timeout: float = 30.0,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """See `TelemetrySource.wait_for_metric`: woken by each metric arrival through
        `wait`."""
        last = [MetricSelection()]

        def check() -> bool:
            selection = last[0] = self.metric_points(service, name, **filters)
            return bool(len(selection)) if until is None else bool(until(selection))

        attributes = filters.get("attributes")
        what = f"{service}/{name}" + (f" {attributes}" if attributes else "")
        start = time.monotonic()
        try:
            self.wait(check, on="metrics", timeout=timeout, description=f"metric {what}")
        except TimeoutError:
            reason = reason_not(until, last[0])
            raise MetricTimeoutError(what, last[0], time.monotonic() - start, reason) from None
        return last[0]

    # -- waiting --------------------------------------------------------------------
    def last_arrival(self, on: Signal = "spans") -> float:
        """When (monotonic seconds) the last item of a signal was stored; 0.0 when none was."""
        with self._cond:
            return self._last_arrival.get(on, 0.0)

    def _seen(self, on: Signal | None) -> int:
        """Arrivals so far of one signal (None: of all). Caller holds the lock."""
        return sum(self._arrivals.values()) if on is None else self._arrivals.get(on, 0)

    def wait(
        self,
        check: Check,
        *,
        on: Signal | None = "spans",
        timeout: float,
        description: str = "condition",
    ) -> None:
        """The store's one wait: block until `check()` returns True, re-run on every arrival
        of the `on` signal (None: of any signal; never sleep-polling). Raises `TimeoutError`
        naming `description`.

        `check` runs outside the lock (it may query the store, e.g. linked spans of other
        traces, and must never hold up ingest). It returns True when done, False to wait for
        the next arrival, or a monotonic time at which to look again even if nothing arrives
        (a quiet window that ends). Logs and metrics wait through this same method.
        """
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                seen = self._seen(on)
            verdict = check()
            if verdict is True:
                return
            now = time.monotonic()
            if now >= deadline:
                raise WaitTimeout(f"{description} did not hold within {timeout}s")
            wake_at = deadline if verdict is False else min(deadline, float(verdict))
            with self._cond:
                if self._seen(on) == seen:  # nothing arrived while `check` ran
                    self._cond.wait(timeout=max(0.0, wake_at - time.monotonic()))

    def wait_for_trace(
        self,
        trace_id: str,
        until: TracePredicate | None = None,
        quiet: float | None = None,
        timeout: float = 30.0,
    ) -> Trace:
        """Block until the trace is there (see `TraceSource.wait_for_trace`), through `wait`.

        - with `until`: returns as soon as `until(trace)` holds (and, if `quiet` is also
          given, no span of it has arrived for `quiet` seconds);
        - without: returns once at least one span arrived and none for `quiet` (default 0.5 s).
        On timeout raises `TraceTimeoutError`, whose message shows the tree that did arrive.
        """
        quiet = quiet_of(until, quiet)
        key = _trace_key(trace_id)
        trace_id = trace_id.lower()
        start = time.monotonic()
        last: list[Trace] = []

        def check() -> bool | float:
            with self._cond:
                bucket = self._buckets.get(key)
                trace = bucket.trace(trace_id, self) if bucket is not None else None
                last_arrival = bucket.last_mono if bucket is not None else 0.0
            if trace is None:
                return False
            last[:] = [trace]
            if until is not None and not until(trace):
                return False
            if quiet is None or time.monotonic() >= last_arrival + quiet:
                return True
            return last_arrival + quiet

        try:
            self.wait(check, timeout=timeout, description=f"trace {trace_id}")
        except TimeoutError:
            trace = last[0] if last else Trace(trace_id, (), self)
            reason = why_not(until, trace, quiet)
            raise TraceTimeoutError(trace_id, trace, time.monotonic() - start, reason) from None
        return last[0]


def _trace_key(trace_id: str) -> bytes:
    try:
        key = bytes.fromhex(trace_id)
    except ValueError:
        raise ValueError(f"trace id must be 32 hex characters, got {trace_id!r}") from None
    if len(key) != 16:
        raise ValueError(f"trace id must be 32 hex characters, got {trace_id!r}")
    return key
