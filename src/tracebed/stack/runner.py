"""Stack: start a topology tier by tier on a backend, record the timeline, tear down."""

from __future__ import annotations

import atexit
import contextlib
import signal
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from tracebed.stack.backends import Backend, LocalBackend, ServiceStartError, make_backend
from tracebed.stack.backends.compose import ComposeBackend
from tracebed.stack.errors import StackError, StackInterrupted, StackStartError
from tracebed.stack.model import ProbeSpec, ServiceDef
from tracebed.stack.progress import LiveProgress
from tracebed.stack.readiness import check, probe_url
from tracebed.stack.state import RunRecord, cleanup_stale, state_dir
from tracebed.stack.timeline import Timeline
from tracebed.stack.topology import Topology
from tracebed.stack.watchdog import Watchdog, spawn_watchdog

_LIVE_STACKS: weakref.WeakSet[Stack] = weakref.WeakSet()


class _Cancelled(Exception):
    pass


class Stack:
    """A topology running (or to be run) on a backend.

    `start()` starts one tier at a time — the services of a tier in parallel, the next tier
    only when every service of this one is ready — and records everything on `timeline`.
    On failure everything started is stopped and `StackStartError` names the service. Use it
    as a context manager to be sure of teardown.
    """

    def __init__(
        self,
        topology: Topology,
        backend: Backend | str | None = None,
        *,
        run_dir: str | Path | None = None,
        cleanup_stale_runs: bool = True,
    ) -> None:
        self.topology = topology
        self.backend: Backend = (
            LocalBackend()
            if backend is None
            else make_backend(backend)
            if isinstance(backend, str)
            else backend
        )
        self.timeline = Timeline()
        self.timeline.set_plan(
            topology.tiers,
            {
                n: {d: c.condition for d, c in s.depends_on.items()}
                for n, s in topology.services.items()
            },
        )
        self.record = RunRecord.new(self.backend.name)
        self.run_dir = Path(run_dir) if run_dir else state_dir() / self.record.run_id
        self.cleanup_stale_runs = cleanup_stale_runs
        self.started = False
        self.detached = False
        self._started_tiers: list[int] = []
        self._cancel = threading.Event()
        self._signals = _StartSignals()
        self._record_lock = threading.Lock()
        self._probes: dict[str, ProbeSpec] = {}
        self._watchdog: Watchdog | None = None

    # -- start --------------------------------------------------------------------------

    def start(self, until: int | str | None = None, progress: bool | None = None) -> Stack:
        """Start tiers 0..until (all by default). `progress`: None = live table on a tty."""
        if self.started:
            raise StackError("this stack was already started")
        last = self.topology.resolve_until(until)
        if self.cleanup_stale_runs:
            cleanup_stale()
            if isinstance(self.backend, ComposeBackend):
                ComposeBackend.cleanup_orphans()
        self.started = True
        self._cancel.clear()
        try:
            self.backend.prepare(self.topology, self.run_dir, self.record.run_id)
        except BaseException:
            self.started = False  # nothing was started: nothing to stop
            raise
        if self.backend.manages_services:
            # Stops the services if this process dies without stopping them (even by SIGKILL).
            self._watchdog = spawn_watchdog(self.record, self.run_dir / "watchdog.log")
            if self._watchdog is not None:
                self.record.info["watchdog"] = self._watchdog.info()
        self._save_record()
        _LIVE_STACKS.add(self)
        shown = self.topology.tiers[: last + 1]
        names = self.topology.tier_names[: last + 1]
        live = LiveProgress(shown, names, force=bool(progress)) if progress is not False else None
        if live is not None:
            live.attach(self.timeline)
        try:
            with _signals_raise_interrupt(self._signals):
                if self.backend.manages_services:
                    for tier in range(last + 1):
                        self._start_tier(tier)
                else:
                    self._probe_all([s for t in self.topology.tiers[: last + 1] for s in t])
        except BaseException:
            self._cancel.set()
            if live is not None:
                live.close()
                live = None
            self.stop()
            raise
        finally:
            if live is not None:
                live.close()
        # Where things are, for `tracebed status`/`load` and for a later cleanup.
        self.record.info.update(self.describe())
        self._save_record()
        return self

    def _start_tier(self, tier: int) -> None:
        names = self.topology.tiers[tier]
        services = [self.topology.services[n] for n in names]
        self.timeline.record("", "tier_started", tier=tier)
        self._started_tiers.append(tier)
        for name in names:
            self.timeline.record(name, "start_requested", tier=tier)

        def on_up(svc: ServiceDef, info: dict[str, Any]) -> None:
            self.timeline.record(svc.name, "up", **info)
            self._save_record()

        try:
            self.backend.start(services, on_up)
        except ServiceStartError as exc:
            svc = self.topology.services.get(exc.service, services[0])
            raise self._failure(svc, tier, self._probe_for(svc.name), exc.reason) from None
        self._probe_all(names)
        self.timeline.record("", "tier_ready", tier=tier)

    def _probe_all(self, names: list[str]) -> None:
        if not names:
            return
        self._signals.deferring = True  # a signal now only marks; the loop raises (below)
        pool = ThreadPoolExecutor(
            max_workers=min(32, len(names)), thread_name_prefix="tracebed-probe"
        )
        pending: set[Future[None]] = set()
        try:
            futures: dict[Future[None], str] = {
                pool.submit(self._wait_ready, self.topology.services[n]): n for n in names
            }
            pending = set(futures)
            while pending:
                # Short waits keep the main thread responsive to Ctrl-C / SIGTERM.
                done, pending = wait(pending, timeout=0.1, return_when=FIRST_EXCEPTION)
                self._signals.raise_if_got()
                errors = [f.exception() for f in done if f.exception() is not None]
                if errors:
                    self._cancel.set()
                    wait(pending)
                    first = min(
                        (e for e in errors if isinstance(e, StackStartError)),
                        key=lambda e: self.timeline.failed_at(e.service) or 0.0,
                        default=None,
                    )
                    if first is not None:
                        raise first
                    if all(isinstance(e, _Cancelled) for e in errors):
                        raise StackInterrupted("the start was cancelled (the stack was stopped)")
                    raise errors[0]  # type: ignore[misc]
        finally:
            if pending:  # interrupted: make the probe threads return before we go on
                self._cancel.set()
            pool.shutdown(wait=True)
            self._cancel.clear()
            self._signals.deferring = False
        self._signals.raise_if_got()  # one that came after the last look

    def _probe_for(self, name: str) -> ProbeSpec:
        if name not in self._probes:
            probe = self.topology.probe_for(name)
            svc = self.topology.services[name]
            if probe.type == "healthcheck" and not self.backend.supports_healthcheck():
                # The healthcheck cannot be evaluated here (an external stack without its
                # compose project): fall back to the default probe for the service.
                probe = self.topology.readiness.choose(
                    ServiceDef(name=name, ports=svc.ports), self.topology.env
                )
            self._probes[name] = probe
        return self._probes[name]

    def _wait_ready(self, svc: ServiceDef) -> None:
        probe = self._probe_for(svc.name)
        timing = self.topology.readiness.timing(svc.name, probe)
        timeout = timing["timeout_s"]
        hc = svc.healthcheck
        if probe.type == "healthcheck" and hc is not None:
            timeout = max(timeout, hc.start_period_s + hc.interval_s * (hc.retries + 1))
        begin = time.monotonic()
        deadline = begin + timeout
        interval = timing["interval_s"]
        manages = self.backend.manages_services
        attempt = 0
        while True:
            if self._cancel.is_set():
                raise _Cancelled(svc.name)
            if manages and probe.type != "exited":
                code = self.backend.exit_code(svc)
                if code is not None:
                    raise self._failure(
                        svc,
                        svc.tier,
                        probe,
                        f"its process exited with code {code} before it was ready",
                    )
            remaining = deadline - time.monotonic()
            ok, detail = check(
                probe, svc, self.backend, max(0.05, min(timing["attempt_timeout_s"], remaining))
            )
            attempt += 1
            self.timeline.record(svc.name, "probe", attempt=attempt, ok=ok, detail=detail)
            if ok:
                self.timeline.record(
                    svc.name,
                    "ready" if manages else "seen_ready",
                    probe=probe.describe(),
                    attempts=attempt,
                )
                return
            if probe.type == "exited" and detail.startswith("exited"):
                raise self._failure(svc, svc.tier, probe, f"it {detail} (expected 0)")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._failure(
                    svc, svc.tier, probe, f"not ready after {timeout:g}s; last probe: {detail}"
                )
            # Event wait, not a sleep: a failure elsewhere or Ctrl-C wakes it at once.
            self._cancel.wait(min(interval, remaining))
            interval = min(interval * 1.6, timing["max_interval_s"])

    def _failure(
        self, svc: ServiceDef, tier: int, probe: ProbeSpec, reason: str
    ) -> StackStartError:
        self.timeline.record(svc.name, "failed", reason=reason)
        requested = self.timeline.requested_at(svc.name)
        waited = self.timeline.now() - (requested if requested is not None else 0.0)
        try:
            tail = self.backend.log_tail(svc, 40)
        except Exception as exc:  # noqa: BLE001 - a log we cannot read must not hide the cause
            tail = [f"(could not read the log: {exc})"]
        if svc.replaced_by is not None:
            reason = f"{reason} (replaced by: {svc.replaced_by})"
        return StackStartError(svc.name, tier, probe.describe(), waited, tail, reason)

    # -- stop ---------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every started service, in reverse tier order; idempotent."""
        if not self.started or self.detached:
            return
        self._cancel.set()
        with _signals_deferred():
            try:
                for tier in reversed(self._started_tiers):
                    svcs = [self.topology.services[n] for n in self.topology.tiers[tier]]
                    self.backend.stop(svcs)
                    for s in svcs:
                        if self.timeline.requested_at(s.name) is not None:
                            self.timeline.record(s.name, "stopped")
                self.backend.teardown()
            finally:
                self.started = False
                self._started_tiers.clear()
                self.record.remove()
                _LIVE_STACKS.discard(self)
                self._release_watchdog()

    def detach(self, **info: Any) -> RunRecord:
        """Leave the stack running after this process exits; `tracebed down` stops it."""
        self.detached = True
        self.record.detached = True
        self.record.info.update(info)
        self._save_record()
        _LIVE_STACKS.discard(self)
        self._release_watchdog()
        return self.record

    def _release_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.release()
            self._watchdog = None

    def _save_record(self) -> None:
        with self._record_lock:
            self.record.backend_state = self.backend.state()
            self.record.info.setdefault("run_dir", str(self.run_dir))
            self.record.info["started"] = {
                n: {"tier": s.tier, "ready_at": self.timeline.ready_at(n)}
                for n, s in self.topology.services.items()
                if self.timeline.requested_at(n) is not None
                or self.timeline.ready_at(n) is not None
            }
            self.record.save()

    # -- addresses ----------------------------------------------------------------------

    def endpoints(self, service: str) -> dict[str, str]:
        svc = self.topology.service(service)
        if svc.endpoints:
            return dict(svc.endpoints)
        probe = self._probe_for(service)
        if probe.type == "http":
            return {"http": self.url(service)}
        try:
            return {"address": self.endpoint(service)}
        except LookupError:
            return {}

    def url(self, service: str) -> str:
        """The service's base HTTP URL (scheme://host:port)."""
        svc = self.topology.service(service)
        if "http" in svc.endpoints:
            return svc.endpoints["http"]
        probe = self._probe_for(service)
        if probe.type == "http":
            parts = urlsplit(probe_url(probe.params, svc, self.backend))
            return f"{parts.scheme}://{parts.netloc}"
        host, port = self.backend.address(svc, probe.params.get("port"), probe.params.get("host"))
        return f"http://{host}:{port}"

    def endpoint(self, service: str) -> str:
        """The service's `host:port` (gRPC target, Redis address, ...)."""
        svc = self.topology.service(service)
        for key in ("grpc", "address"):
            if key in svc.endpoints:
                return svc.endpoints[key]
        for value in svc.endpoints.values():
            if "://" not in value:
                return value
        probe = self._probe_for(service)
        if probe.type == "kafka" and probe.params.get("bootstrap"):
            return str(probe.params["bootstrap"])
        if probe.type == "http" and not svc.ports and "url" in probe.params:
            return urlsplit(str(probe.params["url"])).netloc
        host, port = self.backend.address(svc, probe.params.get("port"), probe.params.get("host"))
        return f"{host}:{port}"

    def frontend_url(self) -> str | None:
        if self.topology.meta.frontend_url:
            return self.topology.meta.frontend_url
        for name in ("frontend-proxy", "frontend"):
            if name in self.topology.services and self.timeline.ready_at(name) is not None:
                with contextlib.suppress(LookupError):
                    return self.url(name)
        return None

    def describe(self) -> dict[str, Any]:
        """Per service: tier, ready_at, endpoints — for `tracebed up --json` and status."""
        services: dict[str, Any] = {}
        for name, svc in sorted(self.topology.services.items(), key=lambda kv: kv[1].tier):
            ready = self.timeline.ready_at(name)
            if ready is None and self.timeline.requested_at(name) is None:
                continue
            try:
                endpoints = self.endpoints(name)
            except LookupError:
                endpoints = {}
            services[name] = {"tier": svc.tier, "ready_at": ready, "endpoints": endpoints}
        return {"services": services, "frontend_url": self.frontend_url()}

    # -- context manager ----------------------------------------------------------------

    def __enter__(self) -> Stack:
        if not self.started:
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- signals --------------------------------------------------------------------------------


class _StartSignals:
    """SIGINT/SIGTERM during the start: a KeyboardInterrupt, so that teardown runs.

    While the main thread waits for the probes it is inside concurrent.futures' waiting, which
    takes each future's lock in turn; an exception raised there by a signal handler can leave a
    lock taken, and the probe thread finishing that future (and the pool shutdown waiting for
    it) then hangs for good. So there a signal only marks the start as interrupted, and the
    waiting loop raises at its next look (within 0.1 s).
    """

    def __init__(self) -> None:
        self.deferring = False
        self.got: int | None = None

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self.deferring:
            self.got = signum
            return
        raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")

    def raise_if_got(self) -> None:
        if self.got is not None:
            signum, self.got = self.got, None
            raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextlib.contextmanager
def _signals_raise_interrupt(signals: _StartSignals) -> Iterator[None]:
    """During the start, SIGTERM behaves like Ctrl-C (and both as `_StartSignals` says)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signals.got = None
    prev_term = signal.signal(signal.SIGTERM, signals.handler)
    # SIGINT only where it would raise anyway (Python's default): an ignored one stays ignored
    take_int = signal.getsignal(signal.SIGINT) is signal.default_int_handler
    prev_int = signal.signal(signal.SIGINT, signals.handler) if take_int else None
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, prev_term)
        if take_int:
            signal.signal(signal.SIGINT, prev_int)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """During teardown, a second Ctrl-C / SIGTERM must not cut it short; re-raise after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    got: list[int] = []

    def remember(signum: int, frame: FrameType | None) -> None:
        got.append(signum)

    prev_int = signal.signal(signal.SIGINT, remember)
    prev_term = signal.signal(signal.SIGTERM, remember)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, prev_int)
        signal.signal(signal.SIGTERM, prev_term)
    if got:
        raise KeyboardInterrupt(f"signal {signal.Signals(got[0]).name} during teardown")


@atexit.register
def _stop_leftovers() -> None:
    # A program that forgot stop(): do not leave its services behind.
    for stack in list(_LIVE_STACKS):
        with contextlib.suppress(Exception):
            stack.stop()
