"""Log records as model values, and the log index the store keeps (by trace, span, service and
severity; oldest evicted first)."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tracebed.model.span import Attributes, AttrValue

# OTLP SeverityNumber ranges: each name covers four numbers (TRACE=1..4, ..., FATAL=21..24).
SEVERITIES = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
_ALIASES = {"WARNING": "WARN", "CRITICAL": "FATAL", "ERR": "ERROR"}


def severity_level(value: str | int) -> int:
    """A severity as its OTLP number: `17`, `"17"`, `"error"`, `"ERROR2"`, `"warning"`."""
    if isinstance(value, int):
        return value
    text = value.strip().upper().removeprefix("SEVERITY_NUMBER_")
    if text.isdigit():
        return int(text)
    base, offset = text.rstrip("1234"), text[len(text.rstrip("1234")) :]
    base = _ALIASES.get(base, base)
    if base not in SEVERITIES or (offset and not 1 <= int(offset) <= 4):
        raise ValueError(
            f"unknown severity {value!r}; use a number or one of {', '.join(SEVERITIES)}"
        )
    return SEVERITIES[base] + (int(offset) - 1 if offset else 0)


@dataclass(frozen=True, slots=True)
class LogRecord:
    """One OTLP log record with its resource. Ids are lower-case hex ('' when unset)."""

    event_name: str = ""
    attributes: Attributes = field(default_factory=dict)
    resource: Attributes = field(default_factory=dict)
    trace_id: str = ""
    span_id: str = ""
    severity_number: int = 0
    severity_text: str = ""
    body: AttrValue = None
    time_unix_nano: int = 0
    observed_time_unix_nano: int = 0
    scope_name: str = ""
    scope_version: str = ""
    flags: int = 0

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))

    @property
    def level(self) -> int:
        """The severity number, or the one its text names when the sender set only text."""
        if self.severity_number:
            return self.severity_number
        try:
            return severity_level(self.severity_text) if self.severity_text else 0
        except ValueError:
            return 0

    @property
    def time(self) -> int:
        """When it happened (ns): the record's time, else when the SDK observed it."""
        return self.time_unix_nano or self.observed_time_unix_nano

    def identity(self) -> tuple[object, ...]:
        """What makes two records the same one (an exporter's retry resends it unchanged,
        attributes in the same order, so their repr is enough)."""
        return (
            self.resource.get("service.name"),
            self.trace_id,
            self.span_id,
            self.time_unix_nano,
            self.observed_time_unix_nano,
            self.severity_number,
            self.severity_text,
            self.event_name,
            repr(self.body),
            repr(self.attributes),
        )

    def __str__(self) -> str:
        severity = self.severity_text or (
            str(self.severity_number) if self.severity_number else "-"
        )
        return f"[{self.service or '?'}] {severity} {self.body!r}"


LogPredicate = Callable[[list[LogRecord]], bool]


def _band(level: int) -> int:
    """A severity's range: 0 unset, 1 TRACE .. 6 FATAL (each four numbers wide)."""
    return min(6, (level - 1) // 4 + 1) if level > 0 else 0


class LogIndex:
    """Log records in arrival order with indexes; not locked (the store holds its lock).

    Eviction is oldest first, so an evicted record is the head of every index deque it is in.
    """

    def __init__(self) -> None:
        self._records: OrderedDict[int, LogRecord] = OrderedDict()
        self._by_trace: dict[str, deque[int]] = {}
        self._by_span: dict[str, deque[int]] = {}
        self._by_service: dict[str, deque[int]] = {}
        self._by_band: dict[int, deque[int]] = {}
        self._identities: set[tuple[object, ...]] = set()
        self.next_seq = 0

    def __len__(self) -> int:
        return len(self._records)

    def _keys(self, record: LogRecord) -> Iterator[tuple[dict[Any, deque[int]], object]]:
        if record.trace_id:
            yield self._by_trace, record.trace_id
        if record.span_id:
            yield self._by_span, record.span_id
        yield self._by_service, record.service
        yield self._by_band, _band(record.level)

    def count_fresh(self, records: Iterable[LogRecord]) -> int:
        seen: set[tuple[object, ...]] = set()
        for record in records:
            key = record.identity()
            if key not in self._identities:
                seen.add(key)
        return len(seen)

    def add(self, records: Iterable[LogRecord]) -> tuple[int, int]:
        """Store new records; `(stored, duplicates)`."""
        stored = duplicates = 0
        identities, held = self._identities, self._records
        by_trace, by_span, by_service = self._by_trace, self._by_span, self._by_service
        by_band = self._by_band
        for record in records:
            key = record.identity()
            if key in identities:
                duplicates += 1
                continue
            identities.add(key)
            seq = self.next_seq
            self.next_seq += 1
            held[seq] = record
            # Inlined `_keys` (the ingest hot path).
            if record.trace_id:
                (
                    by_trace.get(record.trace_id) or by_trace.setdefault(record.trace_id, deque())
                ).append(seq)
            if record.span_id:
                (by_span.get(record.span_id) or by_span.setdefault(record.span_id, deque())).append(
                    seq
                )
            service = record.service
            (by_service.get(service) or by_service.setdefault(service, deque())).append(seq)
            band = _band(record.level)
            (by_band.get(band) or by_band.setdefault(band, deque())).append(seq)
            stored += 1
        return stored, duplicates

    def evict(self, needed: int) -> int:
        freed = 0
        while freed < needed and self._records:
            seq, record = self._records.popitem(last=False)
            self._identities.discard(record.identity())
            for index, value in self._keys(record):
                held = index[value]
                held.popleft()  # the oldest: eviction runs in arrival order
                if not held:
                    del index[value]
            freed += 1
        return freed

    def clear(self) -> None:
        self._records.clear()
        self._by_trace.clear()
        self._by_span.clear()
        self._by_service.clear()
        self._by_band.clear()
        self._identities.clear()

    def select(
        self,
        *,
        trace_id: str | None = None,
        span_id: str | None = None,
        service: str | None = None,
        severity: str | int | None = None,
        since: int = 0,
        limit: int | None = None,
    ) -> list[LogRecord]:
        """Records matching every filter given, oldest first; `severity`: at least that level;
        `since`: stored at or after that sequence number (a `Mark`); `limit`: the newest N."""
        candidates: Iterable[int] | None = None
        for index, value in (
            (self._by_span, span_id),
            (self._by_trace, trace_id),
            (self._by_service, service),
        ):
            if value is not None:
                candidates = index.get(
                    value.lower() if index is not self._by_service else value, ()
                )
                break
        level = severity_level(severity) if severity is not None else 0
        if candidates is None and level > 0:
            # Only a severity: the bands at or above it, merged back into arrival order.
            candidates = sorted(
                seq for band, seqs in self._by_band.items() if band >= _band(level) for seq in seqs
            )
        seqs = self._records.keys() if candidates is None else candidates
        out = []
        for seq in seqs:
            if seq < since:
                continue
            record = self._records[seq]
            if (
                (trace_id is None or record.trace_id == trace_id.lower())
                and (span_id is None or record.span_id == span_id.lower())
                and (service is None or record.service == service)
                and record.level >= level
            ):
                out.append(record)
        if limit is not None:
            out = out[max(0, len(out) - limit) :]
        return out

    def services(self) -> list[str]:
        return sorted(self._by_service)
