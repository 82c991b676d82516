"""Load runs: Locust, headless, with the demo's task mix; then every checkout trace verified.

`run_load` starts `python -m tracebed.flows.locust_runner` (Locust needs gevent's monkey
patching, which must not touch the calling process), waits for it to stop at its duration,
then checks each successful checkout's trace for the full chain in a `TraceSource` (a
`SpanStore`, a `Sink`, or a sink's HTTP API) and measures per-edge latency.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from tracebed import extras
from tracebed.errors import FlowError
from tracebed.flows.chain import ChainCheck, EdgeLatency, edge_latencies
from tracebed.flows.tasks import task_mix
from tracebed.model import SpanStore, Trace, TraceTimeoutError
from tracebed.model.source import TraceSource, quiet_after_export_delay

CHECKOUT_ROUTE = "POST /api/checkout"
MAX_SHOWN = 10  # incomplete traces / errors listed in the text summary
SETTLE_QUIET_S, SETTLE_LIMIT_S = 1.0, 8.0  # before measuring edges: quiet window, upper bound
HTTP_EDGE_TRACES = 300  # newest non-checkout traces fetched over a sink's HTTP API for edges


class LoadRunError(FlowError, RuntimeError):
    """The Locust subprocess failed or produced no summary."""


@dataclass(frozen=True, slots=True)
class RouteStats:
    name: str
    method: str
    requests: int
    failures: int
    p50_ms: float
    p95_ms: float


@dataclass(frozen=True, slots=True)
class IncompleteTrace:
    trace_id: str
    missing: tuple[str, ...]
    span_count: int


@dataclass
class LoadSummary:
    url: str
    users: int
    spawn_rate: float
    duration_s: float
    elapsed_s: float
    stopped_by: str  # "duration", "max_requests" or "interrupted"
    requests: int
    failures: int
    routes: list[RouteStats] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    checkouts: int = 0
    checkouts_failed: int = 0  # HTTP errors: not verified, their chain is cut short by design
    traces_verified: int = 0
    traces_incomplete: int = 0
    incomplete: list[IncompleteTrace] = field(default_factory=list)
    verification: str = "done"  # or why it was skipped
    edges: list[EdgeLatency] = field(default_factory=list)
    edge_traces: int = 0  # how many traces the edge latencies were measured over
    trace_ids: list[str] = field(default_factory=list)  # every request's trace id, in order

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Requests were made, none failed, and no checkout trace was incomplete."""
        return self.requests > 0 and self.failures == 0 and self.traces_incomplete == 0

    def edge(self, caller: str, callee: str) -> EdgeLatency | None:
        return next((e for e in self.edges if (e.caller, e.callee) == (caller, callee)), None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "users": self.users,
            "spawn_rate": self.spawn_rate,
            "duration_s": self.duration_s,
            "elapsed_s": round(self.elapsed_s, 3),
            "stopped_by": self.stopped_by,
            "requests": self.requests,
            "failures": self.failures,
            "requests_per_s": round(self.rps, 3),
            "routes": [_slots(r) for r in self.routes],
            "errors": dict(self.errors),
            "checkouts": self.checkouts,
            "checkouts_failed": self.checkouts_failed,
            "traces_verified": self.traces_verified,
            "traces_incomplete": self.traces_incomplete,
            "incomplete": [_slots(i) for i in self.incomplete],
            "verification": self.verification,
            "edges": [e.as_dict() for e in self.edges],
            "edge_traces": self.edge_traces,
            "ok": self.ok,
        }

    def render(self) -> str:
        lines = [
            f"load run against {self.url}: {self.users} users (spawn {self.spawn_rate:g}/s), "
            f"{self.duration_s:g}s asked, ran {self.elapsed_s:.1f}s (stopped by {self.stopped_by})",
            f"requests: {self.requests} ({self.rps:.1f}/s), failures: {self.failures}"
            + (f" ({100 * self.failures / self.requests:.1f}%)" if self.requests else ""),
        ]
        if self.routes:
            lines.append(f"  {'route':<46} {'reqs':>6} {'fails':>6} {'p50 ms':>8} {'p95 ms':>8}")
            for r in self.routes:
                lines.append(
                    f"  {r.name:<46} {r.requests:>6} {r.failures:>6} {r.p50_ms:>8.0f} {r.p95_ms:>8.0f}"
                )
        for text, count in list(self.errors.items())[:MAX_SHOWN]:
            lines.append(f"  error x{count}: {text}")
        if self.verification == "done":
            lines.append(
                f"checkout traces: {self.checkouts} checkouts ({self.checkouts_failed} failed over "
                f"HTTP, not verified); verified {self.traces_verified}, "
                f"incomplete {self.traces_incomplete}"
            )
        else:
            lines.append(
                f"checkout traces: {self.checkouts} checkouts; not verified: {self.verification}"
            )
        for item in self.incomplete[:MAX_SHOWN]:
            lines.append(
                f"  incomplete {item.trace_id} ({item.span_count} spans): missing {', '.join(item.missing)}"
            )
        if len(self.incomplete) > MAX_SHOWN:
            lines.append(f"  … and {len(self.incomplete) - MAX_SHOWN} more")
        if self.edges:
            lines.append(
                f"edges over {self.edge_traces} traces (latency = the callee's span duration):"
            )
            lines.append(f"  {'caller -> callee':<46} {'count':>6} {'p50 ms':>8} {'p95 ms':>8}")
            for e in self.edges:
                label = f"{e.caller} -> {e.callee}"
                lines.append(f"  {label:<46} {e.count:>6} {e.p50_ms:>8.1f} {e.p95_ms:>8.1f}")
        lines.append("result: " + ("OK" if self.ok else "FAILED"))
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


def _slots(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__slots__}


def _src_path() -> str:
    # The package's parent directory, so the subprocess imports this very tracebed.
    return str(Path(__file__).resolve().parents[2])


def _wait_child(proc: subprocess.Popen[bytes], timeout: float, grace: float) -> int:
    """Wait for the Locust child; Ctrl-C asks it to stop early (it still writes its summary)."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)  # the terminal may not have sent it to the child
        try:
            returncode = proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            returncode = -1
        if returncode != 0:  # interrupted before Locust ran, or it did not stop: give up
            raise KeyboardInterrupt from None
        return returncode


def run_locust(
    config: Mapping[str, Any],
    *,
    timeout: float,
    grace: float = 30.0,
    python: str = sys.executable,
) -> dict[str, Any]:
    """Run the Locust subprocess with `config`; returns its JSON summary.

    Stops it after `timeout` seconds (an error). On Ctrl-C the child is given `grace` seconds
    to finish its tasks in flight and report, so an interrupted run still has a summary.
    """
    if python == sys.executable:
        extras.require("load")  # one line naming the extra, before a child fails to import
    with tempfile.TemporaryDirectory(prefix="tracebed-load-") as tmp:
        config_path, output_path, log_path = (
            Path(tmp) / n for n in ("config.json", "out.json", "log")
        )
        config_path.write_text(json.dumps(dict(config)), encoding="utf-8")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_src_path(), env.get("PYTHONPATH")]))
        command = [
            python,
            "-m",
            "tracebed.flows.locust_runner",
            "--config",
            str(config_path),
            "--output",
            str(output_path),
        ]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
            try:
                returncode = _wait_child(proc, timeout, grace)
            except subprocess.TimeoutExpired:
                raise LoadRunError(
                    f"locust run did not stop within {timeout:.0f}s; log:\n{_tail(log_path)}"
                ) from None
            finally:
                if proc.poll() is None:  # never leave the child behind, whatever happened
                    proc.kill()
                    proc.wait()
        if returncode != 0 or not output_path.is_file():
            raise LoadRunError(f"locust run failed (exit {returncode}); log:\n{_tail(log_path)}")
        result: dict[str, Any] = json.loads(output_path.read_text(encoding="utf-8"))
        return result


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _settle(source: Any, newest_trace: str | None, export_delay: float | None = None) -> None:
    """Return once no span has arrived for `SETTLE_QUIET_S` (at most `SETTLE_LIMIT_S`), or
    for longer than the stack's export delay when that is longer."""
    window = SETTLE_QUIET_S
    if export_delay is not None:
        window = quiet_after_export_delay(export_delay, SETTLE_QUIET_S)
    limit = max(SETTLE_LIMIT_S, window + SETTLE_LIMIT_S - SETTLE_QUIET_S)
    store = source if isinstance(source, SpanStore) else getattr(source, "store", None)
    if isinstance(store, SpanStore):

        def quiet() -> bool | float:
            quiet_at = store.last_arrival() + window
            return True if time.monotonic() >= quiet_at else quiet_at

        with contextlib.suppress(TimeoutError):  # spans never stopped: settle no longer
            store.wait(quiet, timeout=limit, description="a quiet store")
    elif newest_trace is not None:  # the HTTP API: the newest trace's quiet window stands in
        with contextlib.suppress(TraceTimeoutError):
            source.wait_for_trace(newest_trace, quiet=window, timeout=limit)


def _local_store(source: Any) -> bool:
    return isinstance(source, SpanStore) or isinstance(getattr(source, "store", None), SpanStore)


def run_load(
    base_url: str,
    users: int,
    spawn_rate: float,
    duration_s: float,
    *,
    store: TraceSource | None = None,
    verify: bool = True,
    wait_time: tuple[float, float] = (1.0, 10.0),
    tasks: str | Mapping[str, int] | None = None,
    max_requests: int = 100_000,
    timeout: float = 30.0,
    stop_timeout: float = 5.0,
    verify_timeout: float = 30.0,
    chain: ChainCheck | None = None,
    ofrep_url: str | None = None,
    max_latency_traces: int = 5_000,
    export_delay: float | None = None,
) -> LoadSummary:
    """Run Locust headless for `duration_s` seconds and verify every checkout's trace.

    - `store`: where the stack's spans arrive (SpanStore, Sink, or `SinkClient`); without
      it, or with `verify=False`, traces are not checked.
    - `wait_time`: seconds between a user's tasks (the demo's load generator: 1–10).
    - `tasks`: the task mix (default: the demo's 2.0.2 weights; "2.2.0", or "name=w,...").
    - `max_requests`: the run also stops once this many requests were made.
    - `stop_timeout`: at the end, tasks in flight get this long to finish.
    - `export_delay`: the stack's export delay (the harness passes it): the store must be
      quiet for longer than it before the per-edge latencies are measured.
    """
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"url must be an http(s) URL like http://127.0.0.1:8080, got {base_url!r}")
    if not isinstance(users, int) or users < 1:
        raise ValueError(f"users must be a positive int, got {users!r}")
    if spawn_rate <= 0 or duration_s <= 0:
        raise ValueError("spawn_rate and duration_s must be positive")
    if not 0 <= wait_time[0] <= wait_time[1]:
        raise ValueError(f"wait_time must be (min, max) with 0 <= min <= max, got {wait_time}")
    if max_requests < 1:
        raise ValueError("max_requests must be at least 1")
    mix = task_mix(tasks)
    config = {
        "url": base_url,
        "users": users,
        "spawn_rate": spawn_rate,
        "duration_s": duration_s,
        "wait_min": wait_time[0],
        "wait_max": wait_time[1],
        "tasks": mix,
        "max_requests": max_requests,
        "timeout": timeout,
        "stop_timeout": stop_timeout,
        "ofrep_url": ofrep_url,
    }
    # Startup, the run, a graceful stop, and slack for a slow machine.
    raw = run_locust(
        config, timeout=duration_s + stop_timeout + timeout + 60, grace=stop_timeout + 15
    )
    records: list[dict[str, Any]] = raw["results"]
    summary = LoadSummary(
        url=base_url,
        users=users,
        spawn_rate=spawn_rate,
        duration_s=duration_s,
        elapsed_s=raw["elapsed_s"],
        stopped_by=raw["stopped_by"],
        requests=raw["requests"],
        failures=raw["failures"],
        routes=[RouteStats(**r) for r in raw["per_name"]],
        errors=raw["errors"],
        trace_ids=[r["trace_id"] for r in records],
    )
    checkouts = [r for r in records if r["name"] == CHECKOUT_ROUTE]
    summary.checkouts = len(checkouts)
    good = [r for r in checkouts if 200 <= r["status"] < 400]
    summary.checkouts_failed = len(checkouts) - len(good)
    if not verify:
        summary.verification = "skipped (verify=False)"
        return summary
    if store is None:
        summary.verification = "skipped (no sink to read traces from)"
        return summary
    _verify(
        summary,
        store,
        good,
        records,
        chain or ChainCheck(),
        verify_timeout,
        max_latency_traces,
        export_delay,
    )
    return summary


def _verify(
    summary: LoadSummary,
    store: TraceSource,
    good_checkouts: list[dict[str, Any]],
    records: list[dict[str, Any]],
    chain: ChainCheck,
    verify_timeout: float,
    max_latency_traces: int,
    export_delay: float | None = None,
) -> None:
    deadline = time.monotonic() + verify_timeout
    traces: dict[str, Trace] = {}
    for record in good_checkouts:
        trace_id = record["trace_id"]
        try:
            trace = store.wait_for_trace(
                trace_id, until=chain, timeout=max(0.05, deadline - time.monotonic())
            )
            summary.traces_verified += 1
        except TraceTimeoutError as exc:
            trace = exc.trace
            summary.traces_incomplete += 1
            summary.incomplete.append(
                IncompleteTrace(trace_id, tuple(chain.missing(trace)), len(trace))
            )
        traces[trace_id] = trace
    # Per-edge latency over every request's trace as it stands once the stack's exporters have
    # flushed (some, like Envoy's, export seconds after the services).
    _settle(store, records[-1]["trace_id"] if records else None, export_delay)
    # Over HTTP each trace costs a request, so only the newest ones are fetched (in parallel).
    limit = max_latency_traces if _local_store(store) else min(max_latency_traces, HTTP_EDGE_TRACES)
    wanted = [r["trace_id"] for r in records[-limit:]]
    with ThreadPoolExecutor(max_workers=1 if _local_store(store) else 8) as pool:
        for trace_id, snapshot in zip(
            wanted, pool.map(store.get_trace, wanted), strict=True
        ):
            if snapshot is not None:
                traces[trace_id] = snapshot
    summary.edge_traces = len(traces)
    client_spans = {r["trace_id"]: r["span_id"] for r in records}
    summary.edges = edge_latencies(traces.values(), client_spans)
