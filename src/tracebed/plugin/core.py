"""pytest plugin (core): `--tracebed-*` options, the `tracebed_harness`, `span_sink`,
`demo_stack` and `shop` fixtures, and the `flags` and `flow` markers.

The fixtures are thin over one `tracebed.harness.Harness` per session: the options become
`HarnessOptions`, `span_sink` is its sink, `demo_stack` its started stack.

With pytest-xdist every worker gets its own sink and its own stack on free ports (session
fixtures are per worker): workers never see each other's spans or flag switches, at the price
of one stack start per worker.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tracebed.extras import MissingExtraError
from tracebed.harness import DemoStack, Harness, HarnessOptions
from tracebed.otlp.sink import DEFAULT_MAX_SPANS, Sink
from tracebed.paths import DEFAULT_DEMO_VERSION, DEMO_VERSIONS
from tracebed.plugin import validate
from tracebed.plugin.report import attach_trace, attach_trace_id, set_timeline, set_trace_source

# name: (help, default, type) — each is `--tracebed-NAME` on the command line and
# `tracebed_NAME` in pytest.ini / pyproject.toml; the command line wins.
OPTIONS: dict[str, tuple[str, Any, str]] = {
    "stack": (
        "stack backend: local (reference stack, no Docker), compose, external",
        "local",
        "string",
    ),
    "compose": (
        "compose file(s) for the compose/external backends, merged in order",
        None,
        "linelist",
    ),
    "env-file": ("env file for compose interpolation", None, "string"),
    "demo-version": (
        "demo release the reference stack impersonates: " + " or ".join(DEMO_VERSIONS)
        + f" (default {DEFAULT_DEMO_VERSION})",
        None,
        "string",
    ),
    "frontend-url": ("front door of an external stack, e.g. http://127.0.0.1:8080", None, "string"),
    "until": ("start tiers only up to this one (number, name or service)", None, "string"),
    "sink-host": (
        "address the sink listens on (0.0.0.0 / docker bridge for compose)",
        "127.0.0.1",
        "string",
    ),
    "sink-grpc-port": ("OTLP/gRPC port of the sink (0: any free port)", 0, "int"),
    "sink-http-port": ("OTLP/HTTP + query API port of the sink (0: any free port)", 0, "int"),
    "sink-max-spans": ("sink memory bound in spans", DEFAULT_MAX_SPANS, "int"),
    "keep-stack": (
        "leave the stack running after the session (stop it with `tracebed down`)",
        False,
        "bool",
    ),
    "trace-timeout": (
        "seconds a test waits for a trace before failing with its tree",
        30.0,
        "float",
    ),
    "baseline": (
        "directory of flow shape recordings (`tracebed record`); the bundled suite fails on differences",
        None,
        "string",
    ),
    "replace": (
        "bring your own service, in SERVICE's tier with its environment and readiness probe "
        "(repeatable): local stack SERVICE=COMMAND, e.g. payment='node payment/index.js', runs "
        "in place of the stand-in's process; compose stack SERVICE=IMAGE, e.g. "
        "payment=my-payment:dev, in place of the service's image (its environment, ports, "
        "depends_on, healthcheck and network kept), or SERVICE=compose:FILE, the service as "
        "your compose FILE defines it, merged over the project's",
        None,
        "linelist",
    ),
    "export-delay": (
        "seconds every stand-in process (and --tracebed-replace command) waits before exporting "
        "spans and logs; metrics at least 1 s (default: the stand-in's 50 ms; SDK default 5). "
        "Compose stack: set on every service only when given (default: the project's own)",
        None,
        "float",
    ),
    "project": (
        "compose project name: compose, the project to create (default: a unique one; under "
        "xdist NAME-gwN per worker); "
        "external, the running project whose published ports and health to use",
        None,
        "string",
    ),
    "flag-settle": (
        "seconds to wait after a flag switch is served, for SDK flag caches",
        0.0,
        "float",
    ),
    # Tracetest YAML files (plugin/tracetest.py)
    "var": ("a variable for Tracetest files, NAME=VALUE (repeatable)", None, "linelist"),
    "vars-file": (
        "variables file for Tracetest files: Tracetest VariableSet, YAML mapping or KEY=VALUE",
        None,
        "linelist",
    ),
    "host-map": (
        "where a host of the Tracetest files really is, NAME=HOST:PORT, e.g. "
        "frontend:8080=127.0.0.1:41234 (repeatable)",
        None,
        "linelist",
    ),
    "proto-path": ("directories searched for a Tracetest trigger's protobufFile", None, "linelist"),
    "tracetest-quiet": (
        "quiet window (seconds) that ends the wait for a Tracetest trace (default: 0.5, or "
        "longer than the stack's export delay)",
        None,
        "float",
    ),
    "tracetest-timeout": (
        "seconds to wait for a Tracetest trace (default: the trace timeout)",
        None,
        "string",
    ),
    "no-tracetest": ("do not collect Tracetest YAML files", False, "bool"),
}

_RESULTS_KEY = pytest.StashKey[list[Any]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    add_options(parser)


def add_options(parser: pytest.Parser) -> None:
    """Register OPTIONS (once: the Tracetest plugin also calls this, for when it runs alone)."""
    group = parser.getgroup("tracebed", "tracebed: trace-based tests of the OpenTelemetry Demo")
    for name, (help_text, default, kind) in OPTIONS.items():
        dest = "tracebed_" + name.replace("-", "_")
        flag = f"--tracebed-{name}"
        shown = "" if default in (None, False) else f"; default: {default}"
        help_text = f"{help_text} (ini: {dest}{shown})"
        try:
            if kind == "bool":
                group.addoption(flag, action="store_true", default=None, dest=dest, help=help_text)
            elif kind == "linelist":
                group.addoption(flag, action="append", default=None, dest=dest, help=help_text)
            else:
                group.addoption(flag, default=None, dest=dest, help=help_text)
        except ValueError:  # already registered by the other tracebed plugin
            continue
        parser.addini(dest, help_text, type=kind, default=default)  # type: ignore[arg-type]


def option(config: pytest.Config, name: str) -> Any:
    """The command line's value, else the ini file's, else the default."""
    dest = "tracebed_" + name.replace("-", "_")
    value = config.getoption(dest)
    return value if value is not None else config.getini(dest)


def harness_options(config: pytest.Config) -> HarnessOptions:
    # Values were checked in pytest_configure (plugin/validate.py).
    demo_version = option(config, "demo-version") or None
    return HarnessOptions(
        kind=option(config, "stack"),
        compose_files=tuple(option(config, "compose") or ()),
        demo_version=demo_version,
        env_file=option(config, "env-file"),
        frontend_url=option(config, "frontend-url"),
        until=option(config, "until"),
        keep=bool(option(config, "keep-stack")),
        flag_settle=float(option(config, "flag-settle")),
        replace=validate.replacements(option(config, "replace") or ()),
        project=_project(config),
        export_delay=_maybe_float(option(config, "export-delay")),
        sink_host=option(config, "sink-host"),
        sink_grpc_port=int(option(config, "sink-grpc-port")),
        sink_http_port=int(option(config, "sink-http-port")),
        sink_max_spans=int(option(config, "sink-max-spans")),
    )


def _project(config: pytest.Config) -> str | None:
    """`--tracebed-project`; under xdist each worker starts its own stack, so its own project
    (the name with the worker id) on the compose backend."""
    name = option(config, "project") or None
    workerinput = getattr(config, "workerinput", None)
    if name and workerinput is not None and option(config, "stack") == "compose":
        return f"{name}-{workerinput['workerid']}"
    return name


def _maybe_float(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def trace_timeout(config: pytest.Config) -> float:
    return float(option(config, "trace-timeout"))


def pytest_configure(config: pytest.Config) -> None:
    # Every tracebed value is checked before collection and before any stack starts.
    bad = validate.problems(lambda name: option(config, name), OPTIONS)
    if bad:
        raise pytest.UsageError("; ".join(bad))
    config.addinivalue_line(
        "markers",
        "flags(**flags): switch demo feature flags (flag=variant, e.g. paymentFailure='100%') "
        "through the flag service for this test, restoring them afterwards",
    )
    config.addinivalue_line("markers", "flow: a test that drives shop flows through the front door")


def _terminate_as_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _sigterm_as_interrupt() -> Callable[[], None]:
    """While a stack this session started runs, SIGTERM (CI cancelling a job) becomes
    KeyboardInterrupt, so pytest still finalises the session fixtures and the stack is torn
    down. Returns the idempotent undo, which puts the previous handler back. A handler someone
    else installed is left alone, and so is a session that never starts a stack."""
    if (
        threading.current_thread() is not threading.main_thread()
        or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
    ):
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
    done: list[bool] = []

    def restore() -> None:
        if not done:
            done.append(True)
            signal.signal(signal.SIGTERM, previous)

    return restore


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tracebed_harness(pytestconfig: pytest.Config) -> Iterator[Harness]:
    """The session's `tracebed.harness.Harness`: `span_sink` and `demo_stack` are its parts."""
    harness = Harness(harness_options(pytestconfig))
    try:
        yield harness
    finally:
        harness.stop()  # whatever the other fixtures' finalisers left up


@pytest.fixture(scope="session")
def span_sink(pytestconfig: pytest.Config, tracebed_harness: Harness) -> Iterator[Sink]:
    """The OTLP sink the stack's collector exports to (session-wide; free ports by default)."""
    sink = tracebed_harness.open_sink().sink
    assert sink is not None  # the plugin's harness always runs its sink in this process
    set_trace_source(pytestconfig, sink.store)
    try:
        yield sink
    finally:
        tracebed_harness.close_sink()


@pytest.fixture(scope="session")
def demo_stack(
    request: pytest.FixtureRequest,
    pytestconfig: pytest.Config,
    tracebed_harness: Harness,
    span_sink: Sink,
) -> Iterator[DemoStack]:
    """The stack under test, brought up tier by tier once per session (per xdist worker)."""
    # Capture off while starting, so the live tier table reaches a terminal (it stays quiet
    # when stdout is not one).
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    suspended = capture.global_and_fixture_disabled() if capture else contextlib.nullcontext()
    restore_sigterm = _sigterm_as_interrupt()
    request.addfinalizer(restore_sigterm)  # runs after the teardown below, even a failed one
    with suspended:
        try:
            stack = tracebed_harness.start()
        except MissingExtraError as exc:  # one line, once, not an error per test
            tracebed_harness.remove_workdir()
            pytest.exit(str(exc), returncode=pytest.ExitCode.USAGE_ERROR)
    if stack.stack is None:
        restore_sigterm()  # nothing was started (an external stack): nothing to tear down
    set_timeline(pytestconfig, stack.gantt_rows)
    reporter = pytestconfig.pluginmanager.getplugin("terminalreporter")
    if reporter is not None and stack.absent:
        left_out = ", ".join(f"{name} ({why})" for name, why in sorted(stack.absent.items()))
        reporter.write_line(f"tracebed: left out of this stack: {left_out}")
    try:
        yield stack
    finally:
        tracebed_harness.stop_stack()
        if tracebed_harness.kept:
            print(
                f"\ntracebed: stack kept running at {stack.frontend_url} (`tracebed down` stops it)"
            )
        elif request.session.testsfailed:
            # Service logs and rendered configs stay for a session that failed, to read.
            print(f"\ntracebed: service logs of this run are in {tracebed_harness.workdir}")
        else:
            tracebed_harness.remove_workdir()


@pytest.fixture
def shop(
    request: pytest.FixtureRequest, tracebed_harness: Harness, demo_stack: DemoStack
) -> Any:
    """A shop client on the stack's front door; every request's trace id is recorded on the test."""
    results: list[Any] = request.node.stash.setdefault(_RESULTS_KEY, [])

    def on_result(result: Any) -> None:
        results.append(result)
        attach_trace_id(request, result.trace_id)

    return tracebed_harness.shop(timeout=trace_timeout(request.config), on_result=on_result)


@pytest.fixture
def load_run(tracebed_harness: Harness, demo_stack: DemoStack) -> Any:
    """`load_run(users, spawn_rate, duration_s, **options) -> LoadSummary`: Locust with the demo's
    task mix against the front door, every checkout's trace verified; stops at its duration."""
    return tracebed_harness.load_runner()


#: Set on an item (`item.stash[FLAGS_SWITCHED_BY_TEST] = True`) whose `flags` marker its
#: own runner switches (the bundled suite's side-by-side fault scenarios): the marker's
#: fixture then leaves the flags alone.
FLAGS_SWITCHED_BY_TEST = pytest.StashKey[bool]()


def marker_flags(item: pytest.Item) -> dict[str, str]:
    """The flags `@pytest.mark.flags(...)` asks for on this item ({}: no marker)."""
    marker = item.get_closest_marker("flags")
    if marker is None:
        return {}
    return {**(dict(marker.args[0]) if marker.args else {}), **marker.kwargs}


@pytest.fixture(autouse=True)
def _tracebed_flags(request: pytest.FixtureRequest) -> Iterator[None]:
    flags = marker_flags(request.node)
    if not flags or request.node.stash.get(FLAGS_SWITCHED_BY_TEST, False):
        yield
        return
    stack: DemoStack = request.getfixturevalue("demo_stack")
    if stack.flags is None:
        pytest.fail("@pytest.mark.flags needs a stack with a flag service", pytrace=False)
    with stack.flags.switched(**flags):
        yield


# -- failure output: the flows a failed test drove, with their trace trees ---------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    results = item.stash.get(_RESULTS_KEY, None)
    if results and call.when == "call":  # before the report plugin looks at the item
        for result in results:
            if result.fetched is not None:
                attach_trace(item, result.fetched)
    report = yield
    if results and report.failed and call.when == "call":
        for result in results[-5:]:
            snapshot = getattr(result.source, "trace", None)  # what arrived, without waiting
            if result.fetched is None and callable(snapshot):
                result.fetched = snapshot(result.trace_id)
        text = "\n\n".join(r.describe() for r in results[-5:])
        report.sections.append(("tracebed: flows this test drove", text))
    return report
