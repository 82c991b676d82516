"""Fault scenarios side by side: those whose flags cannot touch each other's flows overlap.

A fault scenario switches a global flag, so it cannot share the stack with a scenario whose
flows that flag would change; but most pairs touch nothing of each other (adFailure and
imageSlowLoad, the load generator and recommendations), and every scenario spends most of its
time waiting for traces (at least the stack's export delay each) after its last request. So at
the first scenario the suite runs them all, each in a thread of its own, under one rule:

- a scenario *switches* flags (its `@pytest.mark.flags`, and those it names) and *drives*
  flows (`FLOW_FLAGS`: each flow with the flags whose effect it would show);
- two scenarios conflict when one switches a flag the other switches or is sensitive to;
- whenever a scenario may start, the first waiting one (`slow` ones first, then the file's
  order) that conflicts with no scenario still *holding* (driving) starts; at most
  `TRACEBED_SUITE_BATCH` (default 4) hold at once. (A scenario is not kept waiting behind an earlier one it does not conflict
  with: intlShippingSlowdown runs beside Kafka's long off phase although failedReadinessProbe,
  before it in the file, has to wait for both.)
- a scenario holds until it calls `release()` (every request answered, its flags back as they
  were: from then on it only reads the sink) or ends; its marker's flags are switched back
  then, before the next conflicting one starts.

Each test then reports its own outcome: its value, or the exception its body raised (a failed
`assert`, a skip), with the requests it made recorded on its own `shop` fixture, so a failing
scenario fails its own test with the message and trace tree it always had.

    @side_by_side(drives=("checkout",))
    @pytest.mark.flags(paymentFailure="100%")
    def test_x(shop, demo_stack, request):   # `request` is required: it reaches the batch
        ...                                   # drive under the flag, switch it off
        release()                             # nothing more is sent; only waits follow
        ...

A scenario's body runs with the fixtures `shop`, `request` (its `config` and
`getfixturevalue` of the session's stack fixtures), `demo_stack`, `span_sink`,
`tracebed_harness` and its parameters; a test taking any other fixture runs in its own turn
instead. `TRACEBED_SUITE_BATCH=0` runs every scenario in its turn, as before. Under
pytest-xdist each worker (its own stack) runs every collected scenario, as the flow batch
drives every collected flow: correct, at the price of repeated scenarios.

A scenario that reads what is not its own (every trace of the load generator since a mark,
every log of a service) must say so in what it drives, or filter by its own trace ids: the
email scenario reads its confirmation log by its order's trace, not every log since a mark.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest

from tracebed.plugin.core import FLAGS_SWITCHED_BY_TEST, marker_flags, trace_timeout
from tracebed.suites.otel_demo.batch import Outcome, drivers_from_env

F = TypeVar("F", bound=Callable[..., Any])
_ATTR = "_tracebed_side_by_side"

#: What a flow passes through, as the flags whose effect would show in it.
_CART = frozenset({"cartFailure", "failedReadinessProbe"})
_CHARGE = frozenset({"paymentFailure", "paymentUnreachable"})
FLOW_FLAGS: dict[str, frozenset[str]] = {
    # shop.checkout(): a random product (productCatalogFailure breaks one of them), a random
    # person (intlShippingSlowdown slows the non-US ones); at 2.0.2 the consumers' spans are
    # in the checkout's own trace (kafkaQueueProblems multiplies them)
    "checkout": _CART
    | _CHARGE
    | {"productCatalogFailure", "intlShippingSlowdown", "kafkaQueueProblems"},
    # `order()` of test_faults: a product productCatalogFailure spares, the person given
    "order": _CART | _CHARGE,
    "cart": _CART,
    "payment": frozenset({"paymentFailure"}),  # payment's Charge called directly
    "ads": frozenset({"adFailure", "adHighCpu", "adManualGc"}),
    # the frontend looks each recommended product up (productCatalogFailure's one may be it)
    "recommendations": frozenset({"recommendationCacheFailure", "productCatalogFailure"}),
    "browse": frozenset({"productCatalogFailure"}),
    "image": frozenset({"imageSlowLoad"}),
    "home": frozenset(),  # GET /: the frontend's page, no flag of either release shows there
    "cart-health": frozenset({"failedReadinessProbe"}),
    # its own traces only (each run counts the generator's spans since it started)
    "load-generator": frozenset({"loadGeneratorTraffic", "loadGeneratorVUs"}),
}
FIXTURES = frozenset({"shop", "request", "demo_stack", "span_sink", "tracebed_harness"})


@dataclass(frozen=True)
class Needs:
    """The flows a scenario drives and the flags it switches."""

    drives: frozenset[str]
    switches: frozenset[str]
    slow: bool = False  # long by design: offered a start before the others

    def sensitive(self) -> frozenset[str]:
        return frozenset().union(*(FLOW_FLAGS[flow] for flow in self.drives))

    def switching(self, flags: Iterable[str]) -> Needs:
        """These needs, also switching `flags` (a marker's)."""
        return Needs(self.drives, self.switches | set(flags), self.slow)

    def conflicts(self, other: Needs) -> bool:
        """One switches a flag the other switches or whose effect the other's flows show."""
        mine, theirs = self.switches, other.switches
        return bool(mine & (theirs | other.sensitive()) or theirs & self.sensitive())


def side_by_side(
    *, drives: Iterable[str], switches: Iterable[str] = (), slow: bool = False
) -> Callable[[F], F]:
    """Let a fault scenario run beside others (module docstring); `switches` names the flags
    its body switches itself, besides its `flags` marker's; `slow` ones (long by design, e.g.
    bounded load-generator runs) are offered a start first, so that they do not end last."""
    needs = Needs(frozenset(drives), frozenset(switches), slow)
    unknown = sorted(needs.drives - set(FLOW_FLAGS))
    if unknown:
        raise ValueError(f"side_by_side: unknown flows {unknown}; known: {sorted(FLOW_FLAGS)}")

    def mark(test: F) -> F:
        if "request" not in inspect.signature(test).parameters:
            raise TypeError(f"{test.__name__}: a side_by_side test takes `request`")

        @functools.wraps(test)
        def run(*args: Any, **kwargs: Any) -> Any:
            request: pytest.FixtureRequest = kwargs["request"]
            batch: ScenarioBatch = request.getfixturevalue("scenario_batch")
            return batch.outcome(request, test, kwargs)

        setattr(run, _ATTR, needs)
        return run  # type: ignore[return-value]

    return mark


def needs_of_function(function: Any) -> Needs | None:
    """What `@side_by_side` declared on a test function (None: it runs in its turn)."""
    return getattr(function, _ATTR, None)


def needs_of(item: pytest.Item) -> Needs | None:
    return needs_of_function(getattr(item, "function", None))


def enabled() -> bool:
    return drivers_from_env() > 0


def mark_items(items: list[pytest.Item]) -> None:
    """At collection: the side-by-side scenarios switch their markers' flags themselves."""
    if not enabled():
        return
    for item in items:
        if needs_of(item) is not None:
            item.stash[FLAGS_SWITCHED_BY_TEST] = True


_local = threading.local()


def release() -> None:
    """The calling scenario sends nothing more: its marker's flags go back as they were and
    scenarios it conflicts with may start. A no-op outside the batch (or when run alone)."""
    scenario: Scenario | None = getattr(_local, "scenario", None)
    if scenario is not None:
        scenario.batch.release(scenario)


@dataclass
class _Request:
    """What a scenario's body sees as `request`: the config and the session's fixtures."""

    config: pytest.Config
    node: pytest.Item
    fixtures: dict[str, Any]

    def getfixturevalue(self, name: str) -> Any:
        if name not in self.fixtures:
            raise LookupError(f"{self.node.nodeid}: fixture {name!r} is not given to scenarios")
        return self.fixtures[name]


@dataclass(eq=False)
class Scenario:
    batch: ScenarioBatch
    item: pytest.Item
    needs: Needs
    flags: dict[str, str]
    outcome: Outcome = field(default_factory=Outcome)
    before: dict[str, Any] | None = None  # the flag document before its marker's switch
    released: bool = False
    times: dict[str, float] = field(default_factory=dict)  # started/released/ended, batch time

    def timeline(self) -> str:
        """When it ran, in seconds since the batch began (shown with the test's report)."""
        return ", ".join(
            f"{what} {self.times[what]:.1f}s"
            for what in ("started", "released", "ended")
            if what in self.times
        )

    def conflicts(self, other: Scenario) -> bool:
        return self.needs.conflicts(other.needs)


class ScenarioBatch:
    """The session's side-by-side scenarios (the `scenario_batch` fixture)."""

    def __init__(self, fixtures: dict[str, Any], session: pytest.Session, width: int):
        self.fixtures, self.session, self.width = fixtures, session, width
        self._ran = False
        self._changed = threading.Condition()
        self._holding: list[Scenario] = []
        self._scenarios_by_id: dict[str, Scenario] = {}
        self._began = 0.0

    @property
    def enabled(self) -> bool:
        return self.width > 0

    def outcome(
        self, request: pytest.FixtureRequest, test: Callable[..., Any], kwargs: dict[str, Any]
    ) -> Any:
        """This test's outcome (running every scenario first, at the first call)."""
        item = request.node
        if self.enabled and not self._ran:
            self.run()
        scenario = self._scenarios_by_id.pop(item.nodeid, None)
        if scenario is None:  # in its own turn: no batch, or fixtures a scenario is not given
            flags = marker_flags(item) if item.stash.get(FLAGS_SWITCHED_BY_TEST, False) else {}
            if not flags:
                return test(**kwargs)
            with self.fixtures["demo_stack"].flags.switched(**flags):
                return test(**kwargs)
        item.add_report_section(
            "call", "side by side", f"{scenario.timeline()} after the scenarios began"
        )
        return scenario.outcome.replay(kwargs.get("shop"))

    def _scenarios(self) -> list[Scenario]:
        found = []
        for item in self.session.items:
            needs = needs_of(item)
            function = getattr(item, "function", None)
            if needs is None or function is None:
                continue
            params = getattr(getattr(item, "callspec", None), "params", {})
            names = set(inspect.signature(function).parameters) - set(params)
            if names <= FIXTURES:
                flags = marker_flags(item)
                found.append(Scenario(self, item, needs.switching(flags), flags))
        return found

    def run(self) -> None:
        """Run every scenario by the rule of the module docstring; return when all ended."""
        self._ran = True
        self._began = time.monotonic()
        # slow ones first (stable: the file's order otherwise)
        pending = sorted(self._scenarios(), key=lambda scenario: not scenario.needs.slow)
        self._scenarios_by_id = {scenario.item.nodeid: scenario for scenario in pending}
        if not pending:
            return
        with ThreadPoolExecutor(len(pending), "tracebed-scenario") as pool:
            while pending:
                with self._changed:
                    chosen = self._startable(pending)
                    if chosen is None:
                        self._changed.wait(timeout=1.0)  # a release or an end wakes it
                        continue
                    pending.remove(chosen)
                    self._holding.append(chosen)
                pool.submit(self._run_one, chosen)

    def _startable(self, pending: list[Scenario]) -> Scenario | None:
        if len(self._holding) >= self.width:
            return None
        for scenario in pending:
            if not any(scenario.conflicts(other) for other in self._holding):
                return scenario
        return None

    def _run_one(self, scenario: Scenario) -> None:
        outcome = scenario.outcome
        shop = self.fixtures["tracebed_harness"].shop(
            timeout=trace_timeout(self.session.config), on_result=outcome.results.append
        )
        _local.scenario = scenario
        scenario.times["started"] = time.monotonic() - self._began
        try:
            if scenario.flags:
                scenario.before = self.fixtures["demo_stack"].flags.set(**scenario.flags)
            outcome.value = scenario.item.function.__wrapped__(  # type: ignore[attr-defined]
                **self._arguments(scenario, shop)
            )
        except BaseException as exc:  # noqa: BLE001 - raised again in its own test
            outcome.error = exc
        finally:
            _local.scenario = None
            scenario.times["ended"] = time.monotonic() - self._began
            self.release(scenario)
            with contextlib.suppress(Exception):
                shop.close()

    def _arguments(self, scenario: Scenario, shop: Any) -> dict[str, Any]:
        item = scenario.item
        given = {
            **self.fixtures,
            "shop": shop,
            "request": _Request(item.config, item, self.fixtures),
            **getattr(getattr(item, "callspec", None), "params", {}),
        }
        wanted = inspect.signature(item.function).parameters  # type: ignore[attr-defined]
        return {name: given[name] for name in wanted}

    def release(self, scenario: Scenario) -> None:
        if scenario.released:
            return
        scenario.released = True
        scenario.times["released"] = time.monotonic() - self._began
        try:
            if scenario.before is not None:
                self.fixtures["demo_stack"].flags.restore(scenario.before, keys=scenario.flags)
        except Exception as exc:  # noqa: BLE001 - the test fails on it, if on nothing else
            if scenario.outcome.error is None:
                scenario.outcome.error = exc
        finally:
            with self._changed:
                self._holding.remove(scenario)
                self._changed.notify_all()
