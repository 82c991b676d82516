"""Log records as model values, and the log index the store keeps (by trace, span, service and
severity; oldest evicted first) over batches that decode a record only when a query wants it."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, Unpack

from tracebed.model.held import Held
from tracebed.model.span import Attributes, AttrValue

if TYPE_CHECKING:
    from tracebed.model.source import LogFilters

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
        return level_of(self.severity_number, self.severity_text)

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

# What the index needs of a record, read at ingest without decoding it: (service, trace id,
# span id, time, observed time, severity level); ids as raw bytes, b"" when unset.
LogHead = tuple[str, bytes, bytes, int, int, int]


def level_of(severity_number: int, severity_text: str) -> int:
    """The severity number, or the one its text names when the sender set only text."""
    if severity_number:
        return severity_number
    try:
        return severity_level(severity_text) if severity_text else 0
    except ValueError:
        return 0


def raw_id(hex_id: str) -> bytes:
    """A hex id as the bytes a `LogHead` holds (b"" for '' or an all-zero id)."""
    raw = bytes.fromhex(hex_id)
    return raw if any(raw) else b""


class LogBatch(Protocol):
    """Log records that arrived together; decoded into `LogRecord`s only when asked for."""

    def __len__(self) -> int: ...

    def heads(self) -> Sequence[LogHead]: ...

    def materialize(self, index: int) -> LogRecord: ...


class LogListBatch:
    """A batch of ready-made `LogRecord`s (tests, files)."""

    def __init__(self, records: Iterable[LogRecord]):
        self._records = list(records)

    def __len__(self) -> int:
        return len(self._records)

    def heads(self) -> list[LogHead]:
        return [
            (
                r.service,
                raw_id(r.trace_id),
                raw_id(r.span_id),
                r.time_unix_nano,
                r.observed_time_unix_nano,
                r.level,
            )
            for r in self._records
        ]

    def materialize(self, index: int) -> LogRecord:
        return self._records[index]


def _band(level: int) -> int:
    """A severity's range: 0 unset, 1 TRACE .. 6 FATAL (each four numbers wide)."""
    return min(6, (level - 1) // 4 + 1) if level > 0 else 0


_BANDS = tuple(_band(level) for level in range(25))  # the ingest hot path looks them up


class LogIndex:
    """Log records in arrival order with indexes; not locked (the store holds its lock).

    Records stay in their batch (`Held`) with their `LogHead`; a record becomes a `LogRecord`
    when a query returns it. Ingest only checks for duplicates: two records are the same (an
    exporter's retry) when their `LogRecord.identity()` is; heads are compared first, and only
    records with equal heads are decoded to compare. The trace, span, service and severity
    indexes take in what arrived when the next query needs them. Eviction is oldest first,
    so an evicted record is the first of every index entry it is in.
    """

    def __init__(self) -> None:
        self._held: Held[LogHead, LogRecord] = Held()
        # Few records per trace or span, and very many ids: lists (a deque is ten times bigger).
        self._by_trace: dict[bytes, list[int]] = {}
        self._by_span: dict[bytes, list[int]] = {}
        self._by_service: dict[str, deque[int]] = {}
        self._by_band: dict[int, deque[int]] = {}
        self._indexed = 0  # records before this sequence number are in the indexes
        self._heads: dict[LogHead, int] = {}  # head -> the first held record with it
        self._alike: dict[LogHead, list[int]] = {}  # other held records with that head (rare)

    def __len__(self) -> int:
        return len(self._held)

    @property
    def next_seq(self) -> int:
        return self._held.next_seq

    def _keys(self, head: LogHead) -> Iterator[tuple[dict[Any, Any], object]]:
        if head[1]:
            yield self._by_trace, head[1]
        if head[2]:
            yield self._by_span, head[2]
        yield self._by_service, head[0]
        yield self._by_band, _band(head[5])

    def _held_alike(self, head: LogHead, record: LogRecord) -> bool:
        """Is a record with `head` (some held record has it) the same as one held?"""
        identity = record.identity()
        seqs = [self._heads[head], *self._alike.get(head, ())]
        return any(self._held.get(seq).identity() == identity for seq in seqs)

    def count_fresh(self, batch: LogBatch) -> int:
        fresh = 0
        counted: dict[LogHead, list[int]] = {}  # batch indexes counted, by head
        for index, head in enumerate(batch.heads()):
            same_head = counted.get(head)
            if same_head is not None or head in self._heads:
                record = batch.materialize(index)
                identity = record.identity()
                if (head in self._heads and self._held_alike(head, record)) or any(
                    batch.materialize(other).identity() == identity for other in same_head or ()
                ):
                    continue
            counted.setdefault(head, []).append(index)
            fresh += 1
        return fresh

    def add(self, batch: LogBatch) -> tuple[int, int]:
        """Store the batch's new records; `(stored, duplicates)`. The ingest hot path."""
        heads_held = self._heads
        held_heads, indexes = self._held.open(batch)
        seq = self._held.next_seq
        duplicates = 0
        for index, head in enumerate(batch.heads()):
            first = heads_held.get(head)
            if first is None:
                heads_held[head] = seq
            elif self._held_alike(head, batch.materialize(index)):
                duplicates += 1
                continue
            else:
                self._alike.setdefault(head, []).append(seq)
            held_heads.append(head)
            indexes.append(index)
            seq += 1
        self._held.close(len(indexes))
        return len(indexes), duplicates

    def _index(self) -> None:
        """Take the records stored since the last query into the indexes."""
        held = self._held
        by_trace, by_span, by_service = self._by_trace, self._by_span, self._by_service
        by_band = self._by_band
        for seq in held.seqs(self._indexed):
            service, trace_id, span_id, _, _, level = held.head(seq)
            if trace_id:
                (by_trace.get(trace_id) or by_trace.setdefault(trace_id, [])).append(seq)
            if span_id:
                (by_span.get(span_id) or by_span.setdefault(span_id, [])).append(seq)
            (by_service.get(service) or by_service.setdefault(service, deque())).append(seq)
            band = _BANDS[level] if 0 <= level < len(_BANDS) else _band(level)
            (by_band.get(band) or by_band.setdefault(band, deque())).append(seq)
        self._indexed = held.next_seq

    def evict(self, needed: int) -> int:
        freed = 0
        while freed < needed and len(self._held):
            seq, head = self._held.pop_oldest()
            alike = self._alike.get(head)
            if self._heads[head] == seq:
                if alike:
                    self._heads[head] = alike.pop(0)
                else:
                    del self._heads[head]
            elif alike is not None:
                alike.remove(seq)
            if alike is not None and not alike:
                del self._alike[head]
            if seq < self._indexed:
                for index, value in self._keys(head):
                    seqs = index[value]  # the oldest is first: eviction runs in arrival order
                    if len(seqs) == 1:
                        del index[value]
                    elif isinstance(seqs, deque):
                        seqs.popleft()
                    else:
                        del seqs[0]
            freed += 1
        return freed

    def clear(self) -> None:
        self._held.clear()
        for part in (
            self._by_trace,
            self._by_span,
            self._by_service,
            self._by_band,
            self._heads,
            self._alike,
        ):
            part.clear()
        self._indexed = self._held.next_seq

    def select(self, *, limit: int | None = None, **filters: Unpack[LogFilters]) -> list[LogRecord]:
        """Records matching every filter given, oldest first; `severity`: at least that level;
        `since`: stored after that mark; `limit`: the newest N."""
        trace_id, span_id = filters.get("trace_id"), filters.get("span_id")
        service, severity = filters.get("service"), filters.get("severity")
        mark = filters.get("since")
        since = mark.logs if mark is not None else 0
        try:
            trace_key = raw_id(trace_id) if trace_id is not None else None
            span_key = raw_id(span_id) if span_id is not None else None
        except ValueError:
            return []  # not hex: no record has it
        if b"" in (trace_key, span_key):
            return []  # '' is "unset": no index holds it (as before, nothing matches)
        level = severity_level(severity) if severity is not None else 0
        self._index()
        candidates: Iterable[int] | None = None
        if span_key is not None:
            candidates = self._by_span.get(span_key, ())
        elif trace_key is not None:
            candidates = self._by_trace.get(trace_key, ())
        elif service is not None:
            candidates = self._by_service.get(service, ())
        elif level > 0:
            # Only a severity: the bands at or above it, merged back into arrival order.
            candidates = sorted(
                seq for band, seqs in self._by_band.items() if band >= _band(level) for seq in seqs
            )
        held = self._held
        found = []
        for seq in held.seqs(since) if candidates is None else candidates:
            if seq < since:
                continue
            head = held.head(seq)
            if (
                (trace_key is None or head[1] == trace_key)
                and (span_key is None or head[2] == span_key)
                and (service is None or head[0] == service)
                and head[5] >= level
            ):
                found.append(seq)
        if limit is not None:
            found = found[max(0, len(found) - limit) :]
        return [held.get(seq) for seq in found]

    def services(self) -> list[str]:
        self._index()
        return sorted(self._by_service)
