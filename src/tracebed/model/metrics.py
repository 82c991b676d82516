"""Metrics as model values (a `Metric` with its `DataPoint`s; `MetricPoint` is one point with
its metric's identity), the store's metric index (series by service, name and attributes) and
`MetricSelection`, which knows how much a counter went up over a test."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, Unpack

from tracebed.model.held import Held
from tracebed.model.span import Attributes

if TYPE_CHECKING:
    from tracebed.model.source import MetricFilters

# `Metric.kind`: the OTLP data field. `temporality`: "cumulative", "delta" or "" (gauge, summary).
KINDS = ("sum", "gauge", "histogram", "exponential_histogram", "summary")
CUMULATIVE, DELTA = "cumulative", "delta"


@dataclass(frozen=True, slots=True)
class Exemplar:
    trace_id: str = ""
    span_id: str = ""
    value: float = 0.0
    time_unix_nano: int = 0
    attributes: Attributes = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DataPoint:
    """One data point. `value` is a number point's value (int or float); histograms and
    summaries carry `count` and `sum` (and their buckets / quantiles) instead."""

    attributes: Attributes = field(default_factory=dict)
    kind: str = "number_data_point"  # | histogram_data_point | exponential_histogram_data_point
    trace_id: str = ""  # of the point's first exemplar, when it has one
    span_id: str = ""
    value: float | None = None
    time_unix_nano: int = 0
    start_time_unix_nano: int = 0
    count: int = 0
    sum: float | None = None
    min: float | None = None
    max: float | None = None
    bucket_counts: tuple[int, ...] = ()
    explicit_bounds: tuple[float, ...] = ()
    # exponential histogram: scale, zero count, (offset, counts) of each side
    scale: int = 0
    zero_count: int = 0
    positive: tuple[int, tuple[int, ...]] = (0, ())
    negative: tuple[int, tuple[int, ...]] = (0, ())
    quantiles: tuple[tuple[float, float], ...] = ()  # summary: (quantile, value)
    exemplars: tuple[Exemplar, ...] = ()
    flags: int = 0

    @property
    def amount(self) -> float:
        """What an increase is measured in: the value, or a histogram's / summary's count."""
        if self.kind == "number_data_point":
            return float(self.value or 0)
        return float(self.count)


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric as exported: name, unit, instrument and its data points."""

    name: str
    unit: str = ""
    instrument: str = ""  # counter | updowncounter | gauge | histogram | summary
    points: tuple[DataPoint, ...] = ()
    resource: Attributes = field(default_factory=dict)
    kind: str = ""  # one of KINDS
    temporality: str = ""  # cumulative | delta | "" (gauges and summaries have none)
    monotonic: bool = False
    description: str = ""
    scope_name: str = ""
    scope_version: str = ""

    @property
    def service(self) -> str:
        return str(self.resource.get("service.name", ""))

    def series(self) -> list[MetricPoint]:
        return [MetricPoint(self, point) for point in self.points]


def _frozen(attributes: Attributes) -> str:
    # Sorted: a series is the same whatever order an SDK writes its attributes in.
    return repr(sorted(attributes.items()))


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One point with the metric it belongs to (service, name, kind, temporality...); in the
    store, `metric` carries the metric's identity only (its `points` are empty)."""

    metric: Metric
    point: DataPoint

    @property
    def service(self) -> str:
        return self.metric.service

    @property
    def name(self) -> str:
        return self.metric.name

    @property
    def unit(self) -> str:
        return self.metric.unit

    @property
    def kind(self) -> str:
        return self.metric.kind

    @property
    def temporality(self) -> str:
        return self.metric.temporality

    @property
    def monotonic(self) -> bool:
        return self.metric.monotonic

    @property
    def attributes(self) -> Attributes:
        return self.point.attributes

    @property
    def value(self) -> float | None:
        return self.point.value

    @property
    def time_unix_nano(self) -> int:
        return self.point.time_unix_nano

    @property
    def start_time_unix_nano(self) -> int:
        return self.point.start_time_unix_nano

    @property
    def exemplars(self) -> tuple[Exemplar, ...]:
        return self.point.exemplars

    def __repr__(self) -> str:
        return f"MetricPoint({self})"

    def series_key(self) -> tuple[object, ...]:
        return (self.service, self.name, _frozen(self.point.attributes))

    def __str__(self) -> str:
        value = self.point.value if self.point.value is not None else f"count={self.point.count}"
        return f"{self.service or '?'} {self.name}{dict(self.attributes)} = {value}"


def attributes_match(have: Attributes, want: Mapping[str, object] | None) -> bool:
    # Text compares with any value's text, so an HTTP query's `attr.k=v` can match an int.
    return want is None or all(
        k in have and (have[k] == v or (isinstance(v, str) and str(have[k]) == v))
        for k, v in want.items()
    )


def _increase(baseline: MetricPoint | None, points: list[MetricPoint]) -> float:
    """How much one series went up over `points` (oldest first), from `baseline` (its last
    point before them, if any). Delta points add up; cumulative ones count from the baseline,
    and a reset (new start time, or a smaller value) counts from zero, as Prometheus does."""
    total = 0.0
    previous = baseline
    for mp in points:
        if mp.temporality == DELTA:
            total += mp.point.amount
        elif previous is None or (
            mp.start_time_unix_nano != previous.start_time_unix_nano
            or mp.point.amount < previous.point.amount
        ):
            # No earlier point: the series began in the window (from zero at its start time).
            total += mp.point.amount
        else:
            total += mp.point.amount - previous.point.amount
        previous = mp
    return total


@dataclass
class MetricSelection:
    """The points of some series stored since a mark, with each series' last point before it."""

    points: list[MetricPoint] = field(default_factory=list)
    baselines: dict[tuple[object, ...], MetricPoint] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.points)

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self.points)

    def series(self) -> dict[tuple[object, ...], list[MetricPoint]]:
        out: dict[tuple[object, ...], list[MetricPoint]] = {}
        for mp in self.points:
            out.setdefault(mp.series_key(), []).append(mp)
        return out

    def increase(self) -> float:
        """A counter's (or histogram's count's) increase since the mark, over every series.
        Raises ValueError for a gauge or an up-down counter, which have no increase."""
        for mp in self.points:
            if mp.kind == "gauge" or (mp.kind == "sum" and not mp.monotonic):
                raise ValueError(
                    f"metric {mp.name} is a {mp.metric.instrument or mp.kind}: "
                    "it has no increase, look at its points' values"
                )
        return sum(
            _increase(self.baselines.get(key), points) for key, points in self.series().items()
        )

    def latest(self) -> list[MetricPoint]:
        """The newest point of each series."""
        return [points[-1] for points in self.series().values()]

    def changes(self) -> list[SeriesChange]:
        """Per series that changed since the mark: its increase (counters, histograms'
        counts) or, for gauges and up-down counters, its last value; sorted by service, name."""
        out = []
        for key, points in self.series().items():
            last, baseline = points[-1], self.baselines.get(key)
            counts = not (last.kind == "gauge" or (last.kind == "sum" and not last.monotonic))
            increase = _increase(baseline, points) if counts else None
            value = last.value if last.point.kind == "number_data_point" else last.point.sum
            if counts and not increase:
                continue
            if not counts and baseline is not None and baseline.value == last.value:
                continue  # re-exported, same value: not a change
            out.append(SeriesChange(last, increase, value, len(points)))
        out.sort(key=lambda c: (c.point.service, c.point.name, _frozen(c.point.attributes)))
        return out


@dataclass(frozen=True, slots=True)
class SeriesChange:
    """How one series (service, metric name, attributes) moved since a mark: `increase` for
    counters and histograms (None for gauges), `last` its newest value (a histogram's sum)."""

    point: MetricPoint  # the newest point
    increase: float | None
    last: float | None
    points: int  # how many points arrived since the mark


MetricPredicate = Callable[[MetricSelection], bool]


# What the index needs of a point, read at ingest without decoding it: (service, metric name,
# the attributes as sent (hashable; equal for equal attributes written in the same order),
# time, start time).
PointHead = tuple[str, str, Hashable, int, int]


class MetricBatch(Protocol):
    """Metric points that arrived together; decoded into `MetricPoint`s only when asked for."""

    def __len__(self) -> int: ...

    def heads(self) -> Sequence[PointHead]: ...

    def attributes(self, index: int) -> Attributes:
        """The point's attributes, decoded (asked once per new series)."""
        ...

    def materialize(self, index: int) -> MetricPoint: ...


class MetricListBatch:
    """A batch of ready-made `MetricPoint`s (tests, files)."""

    def __init__(self, points: Iterable[MetricPoint]):
        self._points = list(points)

    def __len__(self) -> int:
        return len(self._points)

    def heads(self) -> list[PointHead]:
        return [
            (
                mp.service,
                mp.name,
                _frozen(mp.attributes),
                mp.time_unix_nano,
                mp.start_time_unix_nano,
            )
            for mp in self._points
        ]

    def attributes(self, index: int) -> Attributes:
        return self._points[index].attributes

    def materialize(self, index: int) -> MetricPoint:
        return self._points[index]


SeriesKey = tuple[str, str, str]  # service, name, attributes sorted (as `series_key()`)


class _Series:
    __slots__ = ("key", "attributes", "points", "times", "sent_as")

    def __init__(self, key: SeriesKey, attributes: Attributes) -> None:
        self.key, self.attributes = key, attributes
        self.points: deque[int] = deque()  # sequence numbers, oldest first
        self.times: set[tuple[int, int]] = set()
        self.sent_as: list[tuple[str, str, Hashable]] = []  # raw keys naming this series


class MetricIndex:
    """Points by series (service, name, attributes); not locked (the store holds its lock).

    Points stay in their batch (`Held`) with their `PointHead`; one becomes a `MetricPoint`
    when a query returns it. A point's attributes as sent are mapped to its series once, the
    first time they are seen. A duplicate point is one whose series already holds a point with
    the same time and start time (an exporter's retry). Eviction drops the oldest points first."""

    def __init__(self) -> None:
        self._held: Held[PointHead, MetricPoint] = Held()
        self._series: dict[SeriesKey, _Series] = {}
        self._sent_as: dict[tuple[str, str, Hashable], _Series] = {}
        self._by_name: dict[tuple[str, str], list[SeriesKey]] = {}

    def __len__(self) -> int:
        return len(self._held)

    @property
    def next_seq(self) -> int:
        return self._held.next_seq

    def count_fresh(self, batch: MetricBatch) -> int:
        seen = set()
        for index, head in enumerate(batch.heads()):
            series = self._sent_as.get(head[:3])
            if series is None:
                key = (head[0], head[1], _frozen(batch.attributes(index)))
                series = self._series.get(key)
            else:
                key = series.key
            when = (head[3], head[4])
            if series is None or when not in series.times:
                seen.add((key, when))
        return len(seen)

    def _new_series(self, sent_as: tuple[str, str, Hashable], attributes: Attributes) -> _Series:
        key = (sent_as[0], sent_as[1], _frozen(attributes))
        series = self._series.get(key)
        if series is None:
            series = self._series[key] = _Series(key, attributes)
            self._by_name.setdefault(key[:2], []).append(key)
        series.sent_as.append(sent_as)
        self._sent_as[sent_as] = series
        return series

    def add(self, batch: MetricBatch) -> tuple[int, int]:
        """Store the batch's new points; `(stored, duplicates)`. The ingest hot path."""
        sent_as_series = self._sent_as
        held_heads, indexes = self._held.open(batch)
        seq = self._held.next_seq
        duplicates = 0
        for index, head in enumerate(batch.heads()):
            sent_as = head[:3]
            series = sent_as_series.get(sent_as)
            if series is None:
                series = self._new_series(sent_as, batch.attributes(index))
            when = (head[3], head[4])
            if when in series.times:
                duplicates += 1
                continue
            series.times.add(when)
            series.points.append(seq)
            held_heads.append(head)
            indexes.append(index)
            seq += 1
        self._held.close(len(indexes))
        return len(indexes), duplicates

    def evict(self, needed: int) -> int:
        freed = 0
        while freed < needed and len(self._held):
            _, head = self._held.pop_oldest()
            series = self._sent_as[head[:3]]
            key = series.key
            series.points.popleft()
            series.times.discard((head[3], head[4]))
            if not series.points:
                del self._series[key]
                for sent_as in series.sent_as:
                    del self._sent_as[sent_as]
                names = self._by_name[key[:2]]
                names.remove(key)
                if not names:
                    del self._by_name[key[:2]]
            freed += 1
        return freed

    def clear(self) -> None:
        self._held.clear()
        self._series.clear()
        self._sent_as.clear()
        self._by_name.clear()

    def select(
        self,
        *,
        service: str | None = None,
        name: str | None = None,
        **filters: Unpack[MetricFilters],
    ) -> MetricSelection:
        """Points stored after the mark `since` of matching series, oldest first per series,
        and each series' last point before it."""
        attributes, mark = filters.get("attributes"), filters.get("since")
        since = mark.metrics if mark is not None else 0
        keys = [
            key
            for (svc, metric_name), keys in self._by_name.items()
            if (service is None or svc == service) and (name is None or metric_name == name)
            for key in keys
        ]
        selection = MetricSelection()
        found: list[int] = []
        held = self._held
        for key in keys:
            series = self._series[key]
            if not attributes_match(series.attributes, attributes):
                continue
            baseline: int | None = None
            for seq in series.points:
                if seq < since:
                    baseline = seq
                else:
                    found.append(seq)
            if baseline is not None:
                selection.baselines[key] = held.get(baseline)
        found.sort()  # arrival order across series
        selection.points = [held.get(seq) for seq in found]
        return selection

    def names(self, service: str | None = None) -> list[tuple[str, str]]:
        return sorted(k for k in self._by_name if service is None or k[0] == service)
