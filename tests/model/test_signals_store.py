"""Log records and metric points in the store: indexes, duplicates, bounds, increases, and
the one event-driven wait (woken by the arrival itself, never by a timer)."""

from __future__ import annotations

import threading

import pytest

from tracebed.errors import WaitTimeout
from tracebed.flows.result import FlowRequest, FlowResult, FlowRun, NoSinkError
from tracebed.model.logs import LogRecord, severity_level
from tracebed.model.metrics import DataPoint, Metric, MetricPoint
from tracebed.model.span import Span
from tracebed.model.store import LogTimeoutError, MetricTimeoutError, SpanStore, StoreFullError
from tracebed.model.trace import Trace
from tracebed.query.conditions import log_records, metric_increased, metric_points

TID = "ab" * 16
OTHER = "cd" * 16


def rec(
    i: int, *, service: str = "cart", trace_id: str = TID, span_id: str = "", sev: int = 9
) -> LogRecord:
    return LogRecord(
        attributes={"i": i},
        resource={"service.name": service},
        trace_id=trace_id,
        span_id=span_id,
        severity_number=sev,
        body=f"record {i}",
        time_unix_nano=1_000 + i,
    )


def counter(
    value: float,
    t: int,
    *,
    start: int = 1,
    temporality: str = "cumulative",
    attrs: dict[str, object] | None = None,
    name: str = "app.requests",
    kind: str = "sum",
    monotonic: bool = True,
) -> MetricPoint:
    point = DataPoint(attributes=attrs or {"route": "a"}, value=value, time_unix_nano=t,
                      start_time_unix_nano=start)  # fmt: skip
    metric = Metric(name, "1", "counter", (point,), {"service.name": "cart"}, kind=kind,
                    temporality=temporality, monotonic=monotonic)  # fmt: skip
    return MetricPoint(metric, point)


def test_logs_indexed_by_trace_span_service_and_severity() -> None:
    store = SpanStore()
    store.add_logs([rec(0), rec(1, span_id="11" * 8, sev=17), rec(2, service="ad", trace_id=OTHER)])
    assert [r.body for r in store.logs(trace_id=TID)] == ["record 0", "record 1"]
    assert [r.body for r in store.logs(span_id="11" * 8)] == ["record 1"]
    assert [r.body for r in store.logs(service="ad")] == ["record 2"]
    assert [r.body for r in store.logs(severity="ERROR")] == ["record 1"]
    assert [r.body for r in store.logs(trace_id=TID, severity="info")] == ["record 0", "record 1"]
    assert [r.body for r in store.logs(limit=1)] == ["record 2"]
    assert store.log_services() == ["ad", "cart"]


def test_severity_names() -> None:
    assert severity_level("WARN") == 13 and severity_level("warning") == 13
    assert severity_level("ERROR2") == 18 and severity_level("21") == 21
    with pytest.raises(ValueError, match="unknown severity"):
        severity_level("LOUD")
    # A record with only severity text still filters by its level.
    assert LogRecord(severity_text="ERROR").level == 17


def test_log_duplicates_are_counted_not_stored() -> None:
    store = SpanStore()
    first = store.add_logs([rec(0), rec(1)])
    again = store.add_logs([rec(1), rec(2)])  # an exporter's retry resends record 1
    assert (first.stored, again.stored, again.duplicates) == (2, 1, 1)
    stats = store.stats_dict()
    assert (stats["logs_received"], stats["logs_stored"], stats["logs_duplicate"]) == (4, 3, 1)
    assert stats["logs_held"] == 3


def test_logs_evicted_oldest_first_and_indexes_follow() -> None:
    store = SpanStore(max_log_records=3)
    store.add_logs([rec(0), rec(1), rec(2, service="ad")])
    store.add_logs([rec(3), rec(4)])
    assert [r.body for r in store.logs()] == ["record 2", "record 3", "record 4"]
    assert [r.body for r in store.logs(service="cart")] == ["record 3", "record 4"]
    assert store.stats_dict()["logs_evicted"] == 2
    assert [r.body for r in store.logs(severity="INFO")] == ["record 2", "record 3", "record 4"]
    # The evicted record can come again: it is new once more.
    assert store.add_logs([rec(0)]).stored == 1


def test_logs_refused_whole_when_full_and_rejecting() -> None:
    store = SpanStore(when_full="reject", max_log_records=2)
    store.add_logs([rec(0)])
    with pytest.raises(StoreFullError, match="log store full: 2 new log records, room for 1"):
        store.add_logs([rec(1), rec(2)])
    assert [r.body for r in store.logs()] == ["record 0"]  # nothing of the refused batch
    assert store.add_logs([rec(0), rec(1)]).stored == 1  # a duplicate needs no room


def test_metric_series_by_service_name_attributes() -> None:
    store = SpanStore()
    store.add_metric_points(
        [counter(1, 10), counter(5, 10, attrs={"route": "b"}), counter(2, 10, name="other")]
    )
    assert len(store.metric_points("cart", "app.requests")) == 2
    assert len(store.metric_points("cart", "app.requests", attributes={"route": "b"})) == 1
    assert store.metric_names("cart") == [("cart", "app.requests"), ("cart", "other")]
    assert store.metric_points("ad", "app.requests").points == []


def test_cumulative_increase_counts_from_the_point_before_the_mark() -> None:
    store = SpanStore()
    store.add_metric_points([counter(10, 10)])
    mark = store.mark()
    store.add_metric_points([counter(12, 20)])
    store.add_metric_points([counter(15, 30), counter(4, 30, attrs={"route": "new"})])
    # route a: 15 - 10; route "new" began after the mark: all of its 4.
    assert store.metric_increase("cart", "app.requests", since=mark) == 9
    assert store.metric_increase("cart", "app.requests", since=mark, attributes={"route": "a"}) == 5
    assert store.metric_increase("cart", "app.requests") == 15 + 4


def test_cumulative_reset_counts_from_zero() -> None:
    store = SpanStore()
    store.add_metric_points([counter(10, 10)])
    mark = store.mark()
    store.add_metric_points([counter(3, 20, start=15), counter(5, 30, start=15)])
    assert store.metric_increase("cart", "app.requests", since=mark) == 5


def test_delta_increase_adds_the_points() -> None:
    store = SpanStore()
    store.add_metric_points([counter(7, 10, temporality="delta", start=0)])
    mark = store.mark()
    store.add_metric_points([counter(2, 20, start=10, temporality="delta"),
                             counter(3, 30, start=20, temporality="delta")])  # fmt: skip
    assert store.metric_increase("cart", "app.requests", since=mark) == 5


def test_gauge_has_no_increase() -> None:
    store = SpanStore()
    store.add_metric_points([counter(1, 10, kind="gauge", temporality="", monotonic=False)])
    with pytest.raises(ValueError, match="has no increase"):
        store.metric_increase("cart", "app.requests")


def test_metric_duplicates_and_bounds() -> None:
    store = SpanStore(max_metric_points=2)
    assert store.add_metric_points([counter(1, 10), counter(1, 10)]).duplicates == 1
    store.add_metric_points([counter(2, 20), counter(3, 30)])
    assert [p.value for p in store.metric_points("cart", "app.requests")] == [2, 3]
    stats = store.stats_dict()
    assert (stats["points_stored"], stats["points_duplicate"], stats["points_evicted"]) == (3, 1, 1)
    rejecting = SpanStore(when_full="reject", max_metric_points=2)
    rejecting.add_metric_points([counter(1, 10)])
    with pytest.raises(StoreFullError, match="metric store full: 2 new points, room for 1"):
        rejecting.add_metric_points([counter(2, 20), counter(3, 30)])
    assert len(rejecting.metric_points()) == 1
    # Larger than the whole store: permanent, whatever the policy (retrying cannot help).
    with pytest.raises(StoreFullError, match="larger than the whole metric store") as caught:
        store.add_metric_points([counter(4, 40), counter(5, 50), counter(6, 60)])
    assert caught.value.permanent
    rejecting.clear()
    assert len(rejecting.metric_points()) == 0


def test_wait_for_logs_wakes_on_the_arrival() -> None:
    store = SpanStore()
    store.add_logs([rec(0, trace_id=OTHER)])  # not ours: must not end the wait
    calls = [0]
    first = threading.Event()

    def until(records: list[LogRecord]) -> bool:
        calls[0] += 1
        first.set()
        return len(records) >= 2

    def adder() -> None:
        assert first.wait(10)
        store.add_logs([rec(1), rec(2)])

    thread = threading.Thread(target=adder)
    thread.start()
    records = store.wait_for_logs(trace_id=TID, until=until, timeout=30)
    thread.join(10)
    assert [r.body for r in records] == ["record 1", "record 2"]
    # Checked once before blocking and once when the batch arrived: no timer, no polling.
    assert calls[0] == 2


def test_wait_for_metric_wakes_on_the_arrival_with_an_increase() -> None:
    store = SpanStore()
    store.add_metric_points([counter(10, 10)])
    mark = store.mark()
    condition = metric_increased(by=3)
    calls = [0]
    first = threading.Event()

    def until(selection: object) -> bool:
        calls[0] += 1
        first.set()
        return condition(selection)  # type: ignore[arg-type]

    def adder() -> None:
        assert first.wait(10)
        store.add_metric_points([counter(13, 20)])

    thread = threading.Thread(target=adder)
    thread.start()
    selection = store.wait_for_metric("cart", "app.requests", until=until, since=mark, timeout=30)
    thread.join(10)
    assert selection.increase() == 3 and calls[0] == 2


def test_log_wait_timeout_says_what_arrived() -> None:
    store = SpanStore()
    store.add_logs([rec(0)])
    with pytest.raises(LogTimeoutError, match="1 of 2 arrived") as caught:
        store.wait_for_logs(trace_id=TID, until=log_records(2), timeout=0.05)
    assert isinstance(caught.value, WaitTimeout)
    assert "record 0" in str(caught.value)


def test_metric_wait_timeout_says_what_arrived() -> None:
    store = SpanStore()
    store.add_metric_points([counter(1, 10)])
    with pytest.raises(MetricTimeoutError, match="2 metric points never held"):
        store.wait_for_metric("cart", "app.requests", until=metric_points(2), timeout=0.05)


def test_a_traces_spans_give_their_logs() -> None:
    store = SpanStore()
    root = Span(TID, "11" * 8, "root", resource={"service.name": "cart"})
    store.add_spans([root, Span(TID, "22" * 8, "child", parent_span_id=root.span_id)])
    store.add_logs([rec(0, span_id="11" * 8), rec(1, span_id="22" * 8), rec(2, trace_id=OTHER)])
    trace = store.trace(TID)
    assert [r.body for r in trace.logs()] == ["record 0", "record 1"]
    assert [r.body for r in trace.logs(root)] == ["record 0"]
    assert [r.body for r in store.logs_for_span(trace.get("22" * 8))] == ["record 1"]  # type: ignore[arg-type]
    assert Trace(TID, [root]).logs() == []  # no source: no logs, no error


def test_flow_result_logs_wait_for_its_trace() -> None:
    store = SpanStore()
    result = FlowResult("t", "GET /", FlowRequest("GET", "http://x/"), TID, "33" * 8, 200, "",
                        0.1, source=store)  # fmt: skip
    store.add_logs([rec(0), rec(1, trace_id=OTHER)])
    assert [r.body for r in result.logs()] == ["record 0"]
    assert [r.body for r in FlowRun("t", [result]).logs(timeout=1)] == ["record 0"]
    with pytest.raises(LogTimeoutError):
        result.logs(log_records(2), timeout=0.05)
    orphan = FlowResult("t", "GET /", FlowRequest("GET", "http://x/"), TID, "", 200, "", 0.1)
    with pytest.raises(NoSinkError, match="no sink that keeps logs"):
        orphan.logs()


def test_wait_on_any_signal_wakes_on_each_kind() -> None:
    store = SpanStore()
    calls = [0]
    first = threading.Event()

    def check() -> bool:
        calls[0] += 1
        first.set()
        return len(store.metric_points()) > 0

    def adder() -> None:
        assert first.wait(10)
        store.add_metric_points([counter(1, 10)])

    thread = threading.Thread(target=adder)
    thread.start()
    store.wait(check, on=None, timeout=30, description="any arrival")
    thread.join(10)
    assert calls[0] == 2
