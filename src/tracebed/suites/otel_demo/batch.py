"""Flag-free flows of the bundled suite, driven concurrently on the one stack.

pytest runs tests one after another, and a flow test spends most of its time waiting for its
trace (at least the stack's export delay, see `waiting.py`). Flows that switch no flag cannot
disturb each other — every request carries a trace id of its own — so at the first test that
needs one, the suite drives every such flow the session's tests need at once, in a bounded
thread pool, waits for all their traces at once, and each test then checks its own outcome.
The batch runs inside that test's call, so it has finished (every wait done) before any later
test, e.g. a fault scenario that switches a flag, starts. A test outside the batch (a fault
scenario: those run side by side by the rule of `scenarios.py`) is untouched.

Taking part, for a test of the suite (or a new suite file):

    def chain_job(ctx: BatchContext, release: str, chain: ChainFixture) -> Job | None:
        # Called with the test's parameters it names. None: the test skips (release, ...).
        return Job(drive=lambda shop: shop.checkout(), wait=lambda run: run.trace(...))

    @pre_driven(chain_job)
    def test_x(release, chain, flow_batch, ...):
        trace = flow_batch.outcome(request)   # `wait`'s value; or raises what drive/wait raised

`drive` runs on a shop client of its own (one client per job: a client serves one thread);
`wait` runs on another thread and returns what the test checks. An exception of either
(a failed `assert`, `pytest.skip`, a trace timeout) is raised again in that test only, so a
failing flow fails its own tests with the messages it always had; the requests it made are
recorded on the test as if its `shop` fixture had made them (report, failure output).

`TRACEBED_SUITE_BATCH=0` turns the batch off: each test then drives and waits in its own
call, one after another, and the fault scenarios send their calls and wait for their traces
one after another too (the old sequential run; `bench/demo_speed.py` compares the two).
`TRACEBED_SUITE_BATCH=N` sets how many flows are driven at once (default 4). Under
pytest-xdist each worker (its own stack) drives the batch of every collected test, not only
of those it is handed: correct, at the price of extra flows.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

ENV = "TRACEBED_SUITE_BATCH"
DRIVERS = 4  # flows driven at once: the stack under test runs on the same few cores
MAX_WAITERS = 64  # waits are cheap (an event-driven store wait each): many at once
_FACTORY_ATTR = "_tracebed_batch_job"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class BatchContext:
    """What a job factory may look at: the started stack, the sink, the pytest config."""

    demo_stack: Any
    span_sink: Any
    config: pytest.Config

    @property
    def timeout(self) -> float:
        from tracebed.plugin.core import trace_timeout

        return trace_timeout(self.config)


@dataclass(frozen=True)
class Job:
    """One test's flow: `drive(shop) -> run` (the requests), `wait(run) -> value` (its traces)."""

    drive: Callable[[Any], Any]
    wait: Callable[[Any], Any]


JobFactory = Callable[..., Job | None]


@dataclass
class Outcome:
    """What a job left for its test: the value of `wait`, or the exception raised on the way."""

    results: list[Any] = field(default_factory=list)  # every request it made (FlowResults)
    value: Any = None
    error: BaseException | None = None

    def replay(self, shop: Any) -> Any:
        """In the test's own call: its requests recorded on its `shop` (None: it has none), as
        if that shop had made them; then the value, or the exception raised again."""
        for result in self.results:
            if shop is not None and shop.on_result is not None:
                shop.on_result(result)
        if self.error is not None:
            raise self.error
        return self.value


def pre_driven(factory: JobFactory) -> Callable[[F], F]:
    """Mark a test as taking part in the batch; `factory(ctx, **params)` makes its job."""

    def mark(test: F) -> F:
        setattr(test, _FACTORY_ATTR, factory)
        return test

    return mark


def drivers_from_env() -> int:
    """Flows driven at once: 0 (no batch: sequential), or `$TRACEBED_SUITE_BATCH` (default 4)."""
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return DRIVERS
    try:
        return max(0, int(raw))
    except ValueError:
        raise pytest.UsageError(
            f"{ENV} must be a number of flows (0: no batch), not {raw!r}"
        ) from None


def _job_for(item: pytest.Item, ctx: BatchContext) -> Job | None:
    factory = getattr(getattr(item, "function", None), _FACTORY_ATTR, None)
    if factory is None:
        return None
    callspec = getattr(item, "callspec", None)
    params = dict(callspec.params) if callspec is not None else {}
    accepted = inspect.signature(factory).parameters
    job: Job | None = factory(ctx, **{k: v for k, v in params.items() if k in accepted})
    return job


class FlowBatch:
    """The session's batch (the `flow_batch` fixture): see the module docstring."""

    def __init__(self, harness: Any, ctx: BatchContext, session: pytest.Session, drivers: int):
        self.harness, self.ctx, self.session, self.drivers = harness, ctx, session, drivers
        self._outcomes: dict[str, Outcome] = {}
        self._ran = False

    @property
    def enabled(self) -> bool:
        return self.drivers > 0

    def outcome(self, request: pytest.FixtureRequest) -> Any:
        """This test's job's value (driving the whole batch first, at the first call)."""
        item = request.node
        if self.enabled and not self._ran:
            self.run()
        outcome = self._outcomes.pop(item.nodeid, None)
        if outcome is None:  # no batch, or a test the batch did not foresee: as before
            job = _job_for(item, self.ctx)
            if job is None:
                raise RuntimeError(f"{item.nodeid}: its batch job factory returned no job")
            shop = request.getfixturevalue("shop")
            run = job.drive(shop)
            return job.wait(run)
        return outcome.replay(request.getfixturevalue("shop"))

    def run(self) -> None:
        """Drive every job of the session's tests at once; return when every wait is done."""
        self._ran = True
        jobs: dict[str, Job] = {}
        for item in self.session.items:
            try:
                job = _job_for(item, self.ctx)
            except BaseException as exc:  # noqa: BLE001 - raised again in its own test
                self._outcomes[item.nodeid] = Outcome(error=exc)
                continue
            if job is not None:
                jobs[item.nodeid] = job
        if not jobs:
            return
        waits: dict[str, Future[Any]] = {}
        lock = threading.Lock()
        with (
            ThreadPoolExecutor(min(MAX_WAITERS, len(jobs)), "tracebed-wait") as waiters,
            ThreadPoolExecutor(min(self.drivers, len(jobs)), "tracebed-drive") as drivers,
        ):

            def drive(nodeid: str, job: Job) -> None:
                outcome = self._outcomes[nodeid]
                shop = self.harness.shop(
                    timeout=self.ctx.timeout, on_result=outcome.results.append
                )
                try:
                    run = job.drive(shop)
                except BaseException as exc:  # noqa: BLE001 - raised again in its own test
                    outcome.error = exc
                    return
                finally:
                    with contextlib.suppress(Exception):  # its requests are made: the
                        shop.close()  # waits read the sink only
                with lock:
                    waits[nodeid] = waiters.submit(job.wait, run)

            for nodeid in jobs:
                self._outcomes[nodeid] = Outcome()
            driven = [drivers.submit(drive, nodeid, job) for nodeid, job in jobs.items()]
            for future in driven:
                future.result()  # drive() keeps every exception of a job in its outcome
            for nodeid, future in waits.items():
                try:
                    self._outcomes[nodeid].value = future.result()
                except BaseException as exc:  # noqa: BLE001 - raised again in its own test
                    self._outcomes[nodeid].error = exc
