"""pytest plugin (conformance): the `conformance` fixture and marker, which check the
telemetry of the test's own flows against a semantic-convention registry.

    def test_checkout(shop, conformance):
        shop.checkout(user)
        conformance.check()                 # fails listing each finding under its span

    @pytest.mark.conformance(fail_on="improvement", ignore=["telemetry.*"])
    def test_browse(shop): ...              # checked after the test body passes

The flows are the trace ids recorded on the test (every `shop` request records its own); the
registry is `--tracebed-registry DIR` with `--tracebed-registry-dependency DIR` (the demo's
`telemetry-schema/` depends on the semantic conventions' `model/`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tracebed.model import Span, TraceTimeoutError
from tracebed.plugin.report import TRACE_ID_PROPERTY, attach_conformance
from tracebed.query.conformance import Level, Policy, Report, check
from tracebed.query.registry import Registry, RegistryError, load_registry

_REGISTRY_KEY = pytest.StashKey[Registry | str]()  # the registry, or why it did not load

NO_REGISTRY = (
    "conformance: no registry; pass --tracebed-registry DIR (demo 3.0.0: its telemetry-schema/, "
    "with --tracebed-registry-dependency pointing at semantic-conventions v1.40.0 model/; "
    "demo 2.0.2 has no registry)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracebed")
    for name, help_text in (
        ("registry", "semantic-convention registry the `conformance` fixture checks against"),
        ("registry-dependency", "the registry's dependency (e.g. semantic-conventions model/)"),
    ):
        dest = "tracebed_" + name.replace("-", "_")
        group.addoption(f"--tracebed-{name}", default=None, dest=dest, help=help_text)
        parser.addini(dest, help_text, default=None)
    help_ignore = "attribute keys conformance leaves alone (namespace or glob, e.g. telemetry.*)"
    group.addoption(
        "--tracebed-conformance-ignore",
        action="append",
        default=None,
        dest="tracebed_conformance_ignore",
        help=help_ignore,
    )
    parser.addini("tracebed_conformance_ignore", help_ignore, type="linelist", default=[])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "conformance(fail_on='violation', ignore=(), levels={}, exclude=(), min_coverage=0): "
        "after the test body passes, check the telemetry of its flows against "
        "--tracebed-registry",
    )


def _option(config: pytest.Config, dest: str) -> Any:
    value = config.getoption(dest, None)
    return value if value is not None else config.getini(dest)


def _path_option(config: pytest.Config, dest: str) -> Path | None:
    """A directory option: from the command line relative to where pytest was started, from
    the ini file relative to that file (as `--tracebed-report` is)."""
    value = config.getoption(dest, None)
    if value:
        return (config.invocation_params.dir / str(value)).resolve()
    value = config.getini(dest)
    if value:
        base = config.inipath.parent if config.inipath else config.rootpath
        return (base / str(value)).resolve()
    return None


def registry_dirs(config: pytest.Config) -> tuple[Path | None, Path | None]:
    """`--tracebed-registry` and `--tracebed-registry-dependency`, resolved (None: not given)."""
    return (
        _path_option(config, "tracebed_registry"),
        _path_option(config, "tracebed_registry_dependency"),
    )


def registry_for(config: pytest.Config) -> Registry:
    """The session's registry, loaded once; fails the asking test when there is none."""
    cached = config.stash.get(_REGISTRY_KEY, None)
    if cached is None:
        root, dependency = registry_dirs(config)
        if root is None:
            cached = NO_REGISTRY
        else:
            try:
                cached = load_registry(root, dependency)
            except RegistryError as exc:
                cached = f"conformance: registry: {exc}"
        config.stash[_REGISTRY_KEY] = cached
    if isinstance(cached, str):
        pytest.fail(cached, pytrace=False)
    return cached


class Conformance:
    """What the `conformance` fixture gives a test."""

    def __init__(self, request: pytest.FixtureRequest, store: Any, timeout: float):
        self._request = request
        self._store = store
        self._timeout = timeout

    @property
    def registry(self) -> Registry:
        return registry_for(self._request.config)

    def trace_ids(self) -> list[str]:
        """The flows of this test: every trace id recorded on it, in order."""
        node = self._request.node
        return [value for name, value in node.user_properties if name == TRACE_ID_PROPERTY]

    def spans(self, trace_ids: Iterable[str] | None = None, quiet: float = 0.5) -> list[Span]:
        """The spans of those flows, each trace waited for until quiet (what arrived, at worst)."""
        spans: list[Span] = []
        for trace_id in self.trace_ids() if trace_ids is None else trace_ids:
            try:
                trace = self._store.wait_for_trace(trace_id, quiet=quiet, timeout=self._timeout)
            except TraceTimeoutError as exc:
                trace = exc.trace
            spans.extend(trace)
        return spans

    def policy(self, **overrides: Any) -> Policy:
        config = self._request.config
        ignore = [*(_option(config, "tracebed_conformance_ignore") or ())]
        ignore += list(overrides.pop("ignore", ()))
        levels: Mapping[str, Any] = overrides.pop("levels", {})
        return Policy(
            ignore=tuple(ignore),
            level_overrides=dict(levels),
            exclude=frozenset(overrides.pop("exclude", ())),
            min_coverage=float(overrides.pop("min_coverage", 0.0)),
        )

    def report(
        self, trace_ids: Iterable[str] | None = None, policy: Policy | None = None
    ) -> Report:
        return check(self.registry, spans=self.spans(trace_ids), policy=policy or self.policy())

    def check(
        self,
        *,
        fail_on: str | Level | None = "violation",
        trace_ids: Iterable[str] | None = None,
        **policy: Any,
    ) -> Report:
        """Check the flows; fail the test with the findings at or above `fail_on` under the
        spans they are about. Keyword arguments: ignore, levels, exclude, min_coverage."""
        try:
            resolved = self.policy(**policy)
        except ValueError as exc:
            pytest.fail(f"conformance: {exc}", pytrace=False)
        ids = self.trace_ids() if trace_ids is None else list(trace_ids)
        if not ids:
            # Passing on no telemetry at all would say nothing; a test author means a flow.
            pytest.fail(
                "conformance: this test recorded no flows (drive them with `shop`, or record "
                "a trace id with tracebed.plugin.report.attach_trace_id)",
                pytrace=False,
            )
        report = self.report(ids, resolved)
        attach_conformance(self._request, report)  # the page shows the findings under spans
        fail_level = None if fail_on is None or fail_on == "none" else Level.parse(fail_on)
        if report.failed(fail_level):
            flows = f"{len(ids)} flow{'s' if len(ids) != 1 else ''}"
            pytest.fail(
                f"telemetry of this test's {flows} does not conform to {report.registry}\n"
                + report.to_text(by="span", minimum=fail_level or Level.VIOLATION),
                pytrace=False,
            )
        return report


@pytest.fixture
def conformance(request: pytest.FixtureRequest, span_sink: Any) -> Conformance:
    """Checks the telemetry of this test's flows against `--tracebed-registry`."""
    from tracebed.plugin.core import trace_timeout

    return Conformance(request, span_sink.store, trace_timeout(request.config))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        names = getattr(item, "fixturenames", None)
        marked = item.get_closest_marker("conformance") is not None
        if marked and names is not None and "conformance" not in names:
            names.append("conformance")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    result = yield  # a failing test body raises here and is not checked on top
    marker = item.get_closest_marker("conformance")
    fixture = getattr(item, "funcargs", {}).get("conformance")
    if marker is not None and isinstance(fixture, Conformance):
        fixture.check(**marker.kwargs)
    return result
