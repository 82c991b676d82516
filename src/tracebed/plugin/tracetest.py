"""pytest plugin (tracetest): Tracetest `type: Test` / `TestSuite` YAML files run as pytest items.

`pytest DIR` collects the Tracetest files pytest is pointed at (any other YAML is left alone).
Every spec of a test is its own item; the test's trigger runs once, before its first spec:

- the trigger (http, grpc, traceid) carries a W3C `traceparent` whose trace id the harness
  chose, and whose parent span id is the "Tracetest trigger" pseudo-span added at the root of
  the trace (with `tracetest.response.status` / `.body` / `.headers`), so selectors written
  for Tracetest work unchanged;
- waiting is event-driven (`SpanStore.wait_for_trace`): the trace is complete when every
  spec's selector finds what it needs and no span arrived for a quiet window;
- a suite runs its steps in order; `outputs` become variables of the later steps.

Variables: `--tracebed-vars-file` (Tracetest VariableSet, YAML mapping or KEY=VALUE), then
`--tracebed-var NAME=VALUE`, then outputs; `var:`/`env:` fall back to the process environment.
A `*_ADDR` variable nobody set is derived from its service (`PRODUCT_CATALOG_ADDR` ->
product-catalog), located through `--tracebed-host-map` or the `demo_stack` fixture.
The spans come from the `span_sink` fixture (anything with `.store`, or a SpanStore).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest

from tracebed.errors import ExpectationFailed, FlowError
from tracebed.model import Span, SpanKind, SpanStore, Status, StatusCode, Trace, TraceTimeoutError
from tracebed.query.attributes import span_view
from tracebed.query.errors import QueryEvaluationError
from tracebed.query.expression import EvalContext, Template
from tracebed.query.spec import SpecResult
from tracebed.query.tracetest_file import (
    GrpcTrigger,
    HttpTrigger,
    SuiteDefinition,
    TestDefinition,
    TraceIdTrigger,
    TracetestFileError,
    load,
    load_variables,
    looks_like_tracetest,
    suite_step_paths,
)

TRIGGER_SPAN_NAME = "Tracetest trigger"
_EMPTY_JSON_OBJECT = (
    "{\n  \n}"  # how Tracetest prints an empty gRPC response (cart tests rely on it)
)


# -- options ----------------------------------------------------------------------------------
def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("tracebed-tracetest", "tracebed: Tracetest YAML files")
    options: list[tuple[str, dict[str, Any]]] = [
        (
            "--tracebed-var",
            {
                "action": "append",
                "default": [],
                "metavar": "NAME=VALUE",
                "help": "a variable for Tracetest files (repeatable)",
            },
        ),
        (
            "--tracebed-vars-file",
            {
                "action": "append",
                "default": [],
                "metavar": "PATH",
                "help": "variables file: Tracetest VariableSet, YAML mapping or KEY=VALUE",
            },
        ),
        (
            "--tracebed-host-map",
            {
                "action": "append",
                "default": [],
                "metavar": "NAME=HOST:PORT",
                "help": "where a host of the Tracetest files really is, e.g. "
                "frontend:8080=127.0.0.1:41234 (repeatable)",
            },
        ),
        (
            "--tracebed-proto-path",
            {
                "action": "append",
                "default": [],
                "metavar": "DIR",
                "help": "directories searched for a trigger's protobufFile",
            },
        ),
        (
            "--tracebed-tracetest-quiet",
            {
                "default": "0.5",
                "metavar": "SECONDS",
                "help": "quiet window that ends the wait for a trace",
            },
        ),
        (
            "--tracebed-tracetest-timeout",
            {
                "default": None,
                "metavar": "SECONDS",
                "help": "how long to wait for a trace (default: --tracebed-trace-timeout, else 30)",
            },
        ),
        (
            "--tracebed-no-tracetest",
            {
                "action": "store_true",
                "default": False,
                "help": "do not collect Tracetest YAML files",
            },
        ),
    ]
    for name, kwargs in options:
        with contextlib.suppress(ValueError):  # another tracebed plugin already registered it
            group.addoption(name, **kwargs)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tracetest: an item generated from a Tracetest YAML file")


# -- collection -------------------------------------------------------------------------------
def _explicit_paths(config: pytest.Config) -> set[Path]:
    base = Path(config.invocation_params.dir)
    return {(base / str(arg).split("::")[0]).resolve() for arg in config.args}


def _covered_by_suite(path: Path, config: pytest.Config) -> bool:
    """A Test that a suite beside it runs is collected through the suite (not twice)."""
    cache: dict[Path, set[Path]] = config.stash.setdefault(_SUITE_STEPS_KEY, {})
    directory = path.parent.resolve()
    if directory not in cache:
        steps: set[Path] = set()
        for sibling in sorted(directory.glob("*.y*ml")):
            if looks_like_tracetest(sibling) and _top_type(sibling) in ("TestSuite", "Transaction"):
                try:
                    steps |= suite_step_paths(sibling)
                except TracetestFileError:
                    continue  # reported when the suite itself is collected
        cache[directory] = steps
    return path.resolve() in cache[directory]


def _top_type(path: Path) -> str:
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("type:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


_SUITE_STEPS_KEY = pytest.StashKey[dict[Path, set[Path]]]()


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix not in (".yaml", ".yml") or parent.config.getoption(
        "tracebed_no_tracetest"
    ):
        return None
    if not looks_like_tracetest(file_path):
        return None
    if (
        _top_type(file_path) == "Test"
        and file_path.resolve() not in _explicit_paths(parent.config)
        and _covered_by_suite(file_path, parent.config)
    ):
        return None
    result: pytest.Collector = TracetestFile.from_parent(parent, path=file_path)
    return result


class TracetestFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        try:
            resource = load(self.path)
        except TracetestFileError as exc:
            raise self.CollectError(str(exc)) from None
        if resource is None:
            return
        suite = SuiteRun(self.config)
        steps = resource.steps if isinstance(resource, SuiteDefinition) else (resource,)
        for index, test in enumerate(steps, 1):
            prefix = (
                f"[{index}] {test.title}" if isinstance(resource, SuiteDefinition) else test.title
            )
            run = TestRun(test, suite, index)
            suite.runs.append(run)
            if not test.specs:
                yield TracetestItem.create(self, f"{prefix}::trigger", run, None)
            for number, spec in enumerate(test.specs):
                title = spec.name or f"spec {number + 1}: {spec.selector.text or '(all spans)'}"
                yield TracetestItem.create(self, f"{prefix}::{title}", run, number)


# -- variables and addresses ------------------------------------------------------------------
class Variables(Mapping[str, str]):
    """Files < --tracebed-var < outputs; unset `X_ADDR` resolved from service `x` when possible."""

    def __init__(self, config: pytest.Config, locate: Any = None):
        self.known: dict[str, str] = {}
        for path in config.getoption("tracebed_vars_file") or ():
            try:
                self.known.update(load_variables(Path(path)))
            except TracetestFileError as exc:
                raise pytest.UsageError(f"--tracebed-vars-file: {exc}") from None
        for pair in config.getoption("tracebed_var") or ():
            if "=" not in pair:
                raise pytest.UsageError(f"--tracebed-var expects NAME=VALUE, got {pair!r}")
            name, value = pair.split("=", 1)
            self.known[name.strip()] = value
        self.locate = locate

    def __getitem__(self, key: str) -> str:
        if key in self.known:
            return self.known[key]
        if key.endswith("_ADDR") and self.locate is not None:
            found = self.locate(key[: -len("_ADDR")].lower().replace("_", "-"))
            if found:
                return str(found)
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        try:
            self[str(key)]
        except KeyError:
            return False
        return True

    def __iter__(self) -> Iterator[str]:
        return iter(self.known)

    def __len__(self) -> int:
        return len(self.known)


class HostMap:
    """Maps the hosts written in Tracetest files (`frontend:8080`) to where they really are."""

    def __init__(self, config: pytest.Config, request: pytest.FixtureRequest | None):
        self.rules: dict[str, str] = {}
        for rule in config.getoption("tracebed_host_map") or ():
            if "=" not in rule:
                raise pytest.UsageError(f"--tracebed-host-map expects NAME=HOST:PORT, got {rule!r}")
            name, target = rule.split("=", 1)
            self.rules[name.strip().lower()] = target.strip()
        self.request = request
        self._stack: Any = None
        self._stack_missing = False

    def _stack_url(self, service: str) -> str | None:
        if self.request is None or self._stack_missing:
            return None
        if self._stack is None:
            try:
                self._stack = self.request.getfixturevalue("demo_stack")
            except pytest.FixtureLookupError:
                self._stack_missing = True
                return None
        try:
            return str(self._stack.url(service))
        except (LookupError, ValueError, KeyError, AttributeError):
            return None

    def locate(self, service: str) -> str | None:
        """host:port of a service (from the rules, else the demo stack)."""
        target = self.rules.get(service.lower())
        if target is None:
            target = self._stack_url(service)
        if target is None:
            return None
        return _netloc(target)

    def address(self, address: str) -> str:
        """`host:port` (gRPC) mapped."""
        key = address.lower()
        if key in self.rules:
            return _netloc(self.rules[key])
        host = key.rsplit(":", 1)[0]
        if host in self.rules:
            return _netloc(self.rules[host])
        if _is_service_name(host):
            found = self.locate(host)
            if found:
                return found
        return address

    def url(self, url: str) -> str:
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        mapped = self.address(parts.netloc)
        return urlunsplit((parts.scheme, mapped, parts.path, parts.query, parts.fragment))


def _netloc(target: str) -> str:
    return urlsplit(target).netloc if "://" in target else target.rstrip("/")


def _is_service_name(host: str) -> bool:
    return bool(host) and "." not in host and host not in ("localhost",) and not host[0].isdigit()


# -- running one test -------------------------------------------------------------------------
@dataclass
class TriggerResponse:
    status: int
    body: str
    headers: list[dict[str, str]]
    start_ns: int
    end_ns: int
    error: str | None = None


class TracetestFailure(ExpectationFailed):
    """A spec (or the trigger) failed; the message is the whole story, no traceback needed."""


@dataclass
class SuiteRun:
    """State shared by the steps of one file: outputs feed the later steps."""

    config: pytest.Config
    runs: list[TestRun] = field(default_factory=list)
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class TestRun:
    __test__ = False

    test: TestDefinition
    suite: SuiteRun
    index: int
    done: bool = False
    error: str | None = None
    trace_id: str = ""
    trace: Trace | None = None
    response: TriggerResponse | None = None
    results: list[SpecResult] = field(default_factory=list)
    timeout_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ensure(self, request: pytest.FixtureRequest) -> None:
        with self.lock:
            if not self.done:
                try:
                    self._run(request)
                finally:
                    self.done = True

    def _run(self, request: pytest.FixtureRequest) -> None:
        config = request.config
        try:
            sink = request.getfixturevalue("span_sink")
        except pytest.FixtureLookupError:
            self.error = (
                "Tracetest items need the `span_sink` fixture (tracebed.plugin.core provides "
                "it; in a conftest, any object with `.store` or a SpanStore will do)"
            )
            return
        store: SpanStore = getattr(sink, "store", sink)
        hosts = HostMap(config, request)
        variables = Variables(config, hosts.locate)
        variables.known.update(self.suite.outputs)
        ctx = EvalContext(variables=variables)
        trigger = self.test.trigger
        trigger_span: Span | None = None
        try:
            if isinstance(trigger, TraceIdTrigger):
                self.trace_id = trigger.id.render(ctx).strip().lower()
            else:
                self.trace_id = secrets.token_hex(16)
                span_id = secrets.token_hex(8)
                traceparent = f"00-{self.trace_id}-{span_id}-01"
                if isinstance(trigger, HttpTrigger):
                    self.response = _http(trigger, ctx, hosts, traceparent, _timeout(config))
                elif isinstance(trigger, GrpcTrigger):
                    self.response = _grpc(trigger, ctx, hosts, traceparent, self.test.path, config)
                else:
                    self.error = "the test has no trigger"
                    return
                trigger_span = _trigger_span(self.trace_id, span_id, self.response)
        except QueryEvaluationError as exc:
            self.error = f"trigger: {exc}"
            return
        except TriggerError as exc:
            self.error = f"trigger failed: {exc}"
            return
        if self.response is not None and self.response.error:
            self.notes.append(f"trigger: {self.response.error}")
        self.trace = self._wait(store, trigger_span, variables, config)
        self.results = [spec.evaluate(self.trace, variables) for spec in self.test.specs]
        for output in self.test.outputs:
            spans = output.selector.select(self.trace)
            if not spans:
                self.notes.append(
                    f"output {output.name}: selector {output.selector.text!r} matched no span"
                )
                continue
            try:
                value = output.value.evaluate(
                    EvalContext(span_view(spans[0]), len(spans), variables)
                )
            except QueryEvaluationError as exc:
                self.notes.append(f"output {output.name}: {exc}")
                continue
            self.suite.outputs[output.name] = str(value)

    def _wait(
        self,
        store: SpanStore,
        trigger_span: Span | None,
        variables: Variables,
        config: pytest.Config,
    ) -> Trace:
        extra = [trigger_span] if trigger_span else []

        def view(trace: Trace) -> Trace:
            return Trace(trace.trace_id, [*extra, *trace], store) if extra else trace

        def complete(trace: Trace) -> bool:
            full = view(trace)
            return all(spec.needs(full, variables) for spec in self.test.specs) and all(
                output.selector.select(full) for output in self.test.outputs
            )

        complete.description = "every spec's selector finds its spans"  # type: ignore[attr-defined]
        if extra and complete(Trace(self.trace_id, [])):
            # Everything asked for is on the trigger span: no need to wait for the backend's spans.
            return view(store.trace(self.trace_id))
        quiet = float(config.getoption("tracebed_tracetest_quiet") or 0.5)
        try:
            trace = store.wait_for_trace(
                self.trace_id, until=complete, quiet=quiet, timeout=_timeout(config)
            )
        except TraceTimeoutError as exc:
            self.timeout_reason = (
                f"trace {self.trace_id} not complete after {exc.waited:.1f}s: {exc.reason}"
            )
            trace = exc.trace
        return view(trace)


def _timeout(config: pytest.Config) -> float:
    value = config.getoption("tracebed_tracetest_timeout")
    if value is None:
        try:
            value = config.getoption("tracebed_trace_timeout")
        except ValueError:
            value = None
    return float(value) if value not in (None, "") else 30.0


def _trigger_span(trace_id: str, span_id: str, response: TriggerResponse) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        name=TRIGGER_SPAN_NAME,
        kind=SpanKind.INTERNAL,
        start_ns=response.start_ns,
        end_ns=response.end_ns,
        status=Status(
            StatusCode.ERROR if response.error else StatusCode.UNSET, response.error or ""
        ),
        attributes={
            "tracetest.span.type": "general",
            "tracetest.response.status": str(response.status),
            "tracetest.response.body": response.body,
            "tracetest.response.headers": json.dumps(response.headers),
        },
        resource={"service.name": "tracetest"},
    )


# -- triggers ---------------------------------------------------------------------------------
class TriggerError(FlowError):
    pass


def _render(template: Template | None, ctx: EvalContext) -> str:
    return template.render(ctx) if template is not None else ""


def _http(
    trigger: HttpTrigger, ctx: EvalContext, hosts: HostMap, traceparent: str, timeout: float
) -> TriggerResponse:
    import requests

    url = hosts.url(trigger.url.render(ctx))
    headers = {_render(k, ctx): _render(v, ctx) for k, v in trigger.headers}
    headers["traceparent"] = traceparent
    auth: tuple[str, str] | None = None
    params: dict[str, str] = {}
    if trigger.auth is not None:
        first, second = _render(trigger.auth.first, ctx), _render(trigger.auth.second, ctx)
        if trigger.auth.kind == "basic":
            auth = (first, second)
        elif trigger.auth.kind == "bearer":
            headers["Authorization"] = f"Bearer {first}"
        elif trigger.auth.where == "query":
            params[first] = second
        else:
            headers[first] = second
    body = _render(trigger.body, ctx)
    start = time.time_ns()
    try:
        response = requests.request(
            trigger.method,
            url,
            headers=headers,
            data=body.encode() or None,
            auth=auth,
            params=params or None,
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise TriggerError(f"{trigger.method} {url}: {exc}") from None
    end = time.time_ns()
    return TriggerResponse(
        status=response.status_code,
        body=response.text,
        headers=[{"Key": k, "Value": v} for k, v in response.headers.items()],
        start_ns=start,
        end_ns=end,
    )


_PROTO_CACHE: dict[Path, Any] = {}
_PROTO_LOCK = threading.Lock()


def _find_proto(name: str, test_path: Path, config: pytest.Config) -> Path:
    candidates = [(test_path.parent / name)]
    for directory in config.getoption("tracebed_proto_path") or ():
        candidates += [Path(directory) / name, Path(directory) / Path(name).name]
    # The demo's files point at the demo repo's pb/demo.proto; the same file ships with tracebed.
    packaged = resources.files("tracebed.reference.proto") / Path(name).name
    candidates.append(Path(str(packaged)))
    for candidate in candidates:
        if candidate.is_file():
            return candidate.resolve()
    raise TriggerError(
        f"protobufFile {name!r} not found (looked in {', '.join(str(c) for c in candidates)}); "
        "add --tracebed-proto-path DIR"
    )


def _descriptor_pool(proto: Path) -> Any:
    """Compile the .proto with grpcio-tools' protoc into a descriptor pool (once per file)."""
    from google.protobuf import descriptor_pb2, descriptor_pool
    from grpc_tools import protoc

    with _PROTO_LOCK:
        if proto in _PROTO_CACHE:
            return _PROTO_CACHE[proto]
        include = resources.files("grpc_tools") / "_proto"
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "set.pb"
            code = protoc.main(
                [
                    "protoc",
                    f"-I{proto.parent}",
                    f"-I{include}",
                    f"--descriptor_set_out={out}",
                    "--include_imports",
                    str(proto),
                ]
            )
            if code != 0 or not out.exists():
                raise TriggerError(f"protoc could not compile {proto} (exit {code})")
            files = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes())
        pool = descriptor_pool.DescriptorPool()
        for file_proto in files.file:
            pool.Add(file_proto)
        _PROTO_CACHE[proto] = pool
        return pool


def _grpc(
    trigger: GrpcTrigger,
    ctx: EvalContext,
    hosts: HostMap,
    traceparent: str,
    test_path: Path,
    config: pytest.Config,
) -> TriggerResponse:
    import grpc
    from google.protobuf import json_format, message_factory

    pool = _descriptor_pool(_find_proto(trigger.proto_file, test_path, config))
    service_name, _, method_name = trigger.method.rpartition(".")
    try:
        method = pool.FindServiceByName(service_name).FindMethodByName(method_name)
    except KeyError:
        raise TriggerError(f"method {trigger.method} is not in {trigger.proto_file}") from None
    if method is None:
        raise TriggerError(f"method {trigger.method} is not in {trigger.proto_file}")
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    request_msg = request_cls()
    text = _render(trigger.request, ctx).strip()
    if text:
        try:
            json_format.Parse(text, request_msg)
        except json_format.ParseError as exc:
            raise TriggerError(
                f"request is not a valid {method.input_type.full_name}: {exc}"
            ) from None
    address = hosts.address(trigger.address.render(ctx).strip())
    metadata = [(_render(k, ctx).lower(), _render(v, ctx)) for k, v in trigger.metadata]
    metadata.append(("traceparent", traceparent))
    start = time.time_ns()
    with grpc.insecure_channel(address) as channel:
        call = channel.unary_unary(
            f"/{service_name}/{method_name}",
            request_serializer=request_cls.SerializeToString,
            response_deserializer=response_cls.FromString,
        )
        try:
            response, info = call.with_call(
                request_msg, metadata=metadata, timeout=_timeout(config)
            )
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
            details = exc.details() if hasattr(exc, "details") else str(exc)
            trailing = exc.trailing_metadata() if hasattr(exc, "trailing_metadata") else None
            return TriggerResponse(
                status=code.value[0],
                body="",
                headers=_md(trailing),
                start_ns=start,
                end_ns=time.time_ns(),
                error=f"gRPC {code.name}: {details}",
            )
    body = json_format.MessageToJson(response, indent=2, always_print_fields_with_no_presence=True)
    return TriggerResponse(
        status=0,
        body=_EMPTY_JSON_OBJECT if body.strip() == "{}" else body,
        headers=_md(info.initial_metadata()) + _md(info.trailing_metadata()),
        start_ns=start,
        end_ns=time.time_ns(),
    )


def _md(metadata: Any) -> list[dict[str, str]]:
    return [{"Key": str(k), "Value": str(v)} for k, v in (metadata or ())]


# -- items ------------------------------------------------------------------------------------
class TracetestItem(pytest.Function):
    """One spec of a Tracetest test. It is a pytest Function so that it can use fixtures."""

    run: TestRun
    spec_index: int | None

    @classmethod
    def create(
        cls, parent: TracetestFile, name: str, run: TestRun, spec_index: int | None
    ) -> TracetestItem:
        def tracetest_spec(request: pytest.FixtureRequest) -> None:
            item = request.node
            assert isinstance(item, TracetestItem)
            item.check(request)

        item: TracetestItem = cls.from_parent(parent, name=name, callobj=tracetest_spec)
        item.run = run
        item.spec_index = spec_index
        item.add_marker(pytest.mark.tracetest)
        # keep a suite's steps on one worker under `pytest -n N --dist loadgroup`
        item.add_marker(pytest.mark.xdist_group(name=str(parent.path)))
        return item

    def check(self, request: pytest.FixtureRequest) -> None:
        run = self.run
        previous = [r for r in run.suite.runs if r.index < run.index]
        for earlier in previous:
            earlier.ensure(request)  # outputs of earlier steps are needed even under -k
        run.ensure(request)
        if run.trace_id:
            self._attach(run)
        if run.error:
            raise TracetestFailure(f"{run.test.title}: {run.error}")
        if self.spec_index is None:
            if run.response is not None and run.response.error:
                raise TracetestFailure(f"{run.test.title}: {run.response.error}")
            return
        result = run.results[self.spec_index]
        self.summary = _summary(result)
        if result.passed:
            self.add_report_section("call", "tracetest", result.describe())
        else:
            lines = [result.describe(), ""]
            if not result.spans and run.timeout_reason:
                lines.append(run.timeout_reason)
            lines += [f"note: {note}" for note in run.notes]
            assert run.trace is not None
            lines.append(run.trace.render(marks=result.span_ids))
            raise TracetestFailure("\n".join(lines))

    def _attach(self, run: TestRun) -> None:
        try:
            from tracebed.plugin.report import attach_trace, attach_trace_id
        except ImportError:  # the report plugin is optional
            self.user_properties.append(("trace_id", run.trace_id))
            return
        if run.trace is not None and len(run.trace):
            attach_trace(self, run.trace)
        else:
            attach_trace_id(self, run.trace_id)

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, self.run.test.line - 1, self.name

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> Any:
        if isinstance(excinfo.value, TracetestFailure):
            return str(excinfo.value)
        return super().repr_failure(excinfo)  # type: ignore[arg-type]


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def _summary(result: SpecResult) -> str:
    """One line for `pytest -v`: the selector, how many spans it matched, and each
    expectation's actual value."""
    selector = " ".join((result.spec.selector.text or "(all spans)").split())
    if len(selector) > 80:
        selector = selector[:79] + "…"
    parts = [f"{selector} → {len(result.spans)} span(s)"]
    for outcome in result.outcomes:
        actual = ", ".join(_short(r.actual) for _, r in outcome.results[:3]) or "-"
        more = ", …" if len(outcome.results) > 3 else ""
        parts.append(f"{' '.join(outcome.assertion.text.split())} → {actual}{more}")
    return "; ".join(parts)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if isinstance(item, TracetestItem) and report.when == "call":
        summary = getattr(item, "summary", "")
        if summary:
            report.tracetest_summary = summary
    return report


def pytest_report_teststatus(report: pytest.TestReport, config: pytest.Config) -> Any:
    summary = getattr(report, "tracetest_summary", "")
    if not summary or report.when != "call" or config.option.verbose < 1:
        return None
    word = "PASSED" if report.passed else "FAILED"
    letter = "." if report.passed else "F"
    markup = {"green": True} if report.passed else {"red": True}
    return report.outcome, letter, (f"{word} ({summary})", markup)


__all__ = ["TracetestFile", "TracetestItem"]
