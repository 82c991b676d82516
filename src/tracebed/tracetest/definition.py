"""Tracetest resource files (`type: Test`, `type: TestSuite` / `Transaction`) parsed into
definitions, with every selector, assertion and `${...}` template checked up front.

A syntax error anywhere raises `TracetestFileError` naming the file, line and column.
Nothing here sends a request: triggers are described here and run by `tracetest.triggers`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tracebed.errors import ConfigError
from tracebed.query.errors import QuerySyntaxError
from tracebed.query.expression import Expr, Template, parse_expression, parse_template
from tracebed.query.selector import Selector, parse_selector
from tracebed.query.spec import Spec

TEST_KINDS = ("Test",)
SUITE_KINDS = ("TestSuite", "Transaction")
# The keys Tracetest's resource schema knows (api/tests.yaml, triggers, http, grpc, testsuites),
# plus the older spellings this parser has always read (`http`, `traceId`, `tests`, `selector.query`).
# A key outside these is a typo Tracetest would drop silently (`spex:` runs no spec): refused.
_KEYS: dict[str, tuple[str, ...]] = {
    "resource": ("type", "spec"),
    "test": ("id", "name", "description", "trigger", "specs", "outputs", "skipTrace", "pollingProfile"),
    "suite": ("id", "name", "description", "steps", "tests"),
    "trigger": ("type", "httpRequest", "http", "grpc", "traceid", "traceId", "kafka"),
    "httpRequest": ("method", "url", "headers", "body", "auth", "SSLVerification"),
    "grpc": ("protobufFile", "address", "service", "method", "metadata", "auth", "request"),
    "traceid": ("id",),
    "header": ("key", "value"),
    "auth": ("type", "apiKey", "basic", "bearer"),
    "apiKey": ("key", "value", "in"),
    "basic": ("username", "password"),
    "bearer": ("token",),
    "spec": ("selector", "name", "assertions"),
    "selector": ("query",),
    "output": ("name", "selector", "value"),
}
_TYPE_LINE = re.compile(r"^type:\s*[\"']?(Test|TestSuite|Transaction)[\"']?\s*(#.*)?$", re.MULTILINE)


class TracetestFileError(ConfigError):
    """A Tracetest file that cannot be used; the message starts with `path:line:column:`."""

    def __init__(self, path: Path, line: int, column: int, message: str):
        self.path, self.line, self.column, self.reason = path, line, column, message
        super().__init__(f"{path}:{line}:{column}: {message}")


# -- definitions ----------------------------------------------------------------------------
@dataclass(frozen=True)
class HttpAuth:
    """Tracetest's `httpRequest.auth`: basic (username, password), bearer (token), or
    apiKey (key, value, in: header|query)."""

    kind: str
    first: Template
    second: Template | None = None
    where: str = "header"


@dataclass(frozen=True)
class HttpTrigger:
    method: str
    url: Template
    headers: tuple[tuple[Template, Template], ...] = ()
    body: Template | None = None
    auth: HttpAuth | None = None


@dataclass(frozen=True)
class GrpcTrigger:
    proto_file: str  # as written; resolved against the test file's directory at run time
    address: Template
    method: str  # package.Service.Method
    request: Template | None = None
    metadata: tuple[tuple[Template, Template], ...] = ()


@dataclass(frozen=True)
class TraceIdTrigger:
    id: Template


Trigger = HttpTrigger | GrpcTrigger | TraceIdTrigger


@dataclass(frozen=True)
class Output:
    name: str
    selector: Selector
    value: Expr


@dataclass(frozen=True)
class TestDefinition:
    __test__ = False  # not a pytest test class, whatever its name

    path: Path
    id: str
    name: str
    trigger: Trigger | None
    specs: tuple[Spec, ...] = ()
    outputs: tuple[Output, ...] = ()
    description: str = ""
    line: int = 1

    @property
    def title(self) -> str:
        return self.name or self.id or self.path.stem


@dataclass(frozen=True)
class SuiteDefinition:
    path: Path
    id: str
    name: str
    steps: tuple[TestDefinition, ...] = field(default_factory=tuple)
    description: str = ""

    @property
    def title(self) -> str:
        return self.name or self.id or self.path.stem


# -- detection ------------------------------------------------------------------------------
def looks_like_tracetest(path: Path) -> bool:
    """Cheap check before parsing: a top-level `type: Test|TestSuite|Transaction` line."""
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(200_000)
    except OSError:
        return False
    return _TYPE_LINE.search(head) is not None and head.lstrip().count("\n---") == 0


def load(path: Path) -> TestDefinition | SuiteDefinition | None:
    """Parse a Tracetest file; None when the YAML is some other kind of document."""
    path = Path(path)
    root = _compose(path)
    if not isinstance(root, yaml.MappingNode):
        return None
    kind_node = _get(root, "type")
    kind = kind_node.value if isinstance(kind_node, yaml.ScalarNode) else None
    if kind not in TEST_KINDS + SUITE_KINDS:
        return None
    spec = _get(root, "spec")
    # Only a document shaped like a Tracetest resource is ours: other tools' YAML may also say
    # `type: Test`. A Test has a trigger or specs; a suite has steps.
    if not isinstance(spec, yaml.MappingNode):
        return None
    wanted = ("trigger", "specs") if kind in TEST_KINDS else ("steps", "tests")
    if all(_get(spec, key) is None for key in wanted):
        return None
    _known_keys(path, root, "the resource", "resource")
    if kind in TEST_KINDS:
        return _test(path, spec)
    return _suite(path, spec, kind)


def load_test(path: Path) -> TestDefinition:
    found = load(path)
    if not isinstance(found, TestDefinition):
        raise TracetestFileError(Path(path), 1, 1, "not a Tracetest `type: Test` file")
    return found


# -- YAML helpers ---------------------------------------------------------------------------
def _compose(path: Path) -> yaml.Node | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise TracetestFileError(path, 1, 1, f"cannot read: {exc}") from None
    try:
        docs = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise TracetestFileError(path, line, col, f"YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise TracetestFileError(path, 1, 1, f"YAML: {exc}") from None
    docs = [d for d in docs if d is not None]
    return docs[0] if len(docs) == 1 else None


def _get(node: yaml.Node, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            return value_node
    return None


def _str(path: Path, node: yaml.Node | None, what: str, required: bool = False) -> str:
    if node is None:
        if required:
            raise TracetestFileError(path, 1, 1, f"missing {what}")
        return ""
    if not isinstance(node, yaml.ScalarNode):
        raise _error(path, node, f"{what} must be text")
    return "" if node.tag.endswith(":null") else str(node.value)


def _seq(path: Path, node: yaml.Node | None, what: str) -> list[yaml.Node]:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return []
    if not isinstance(node, yaml.SequenceNode):
        raise _error(path, node, f"{what} must be a list")
    return list(node.value)


def _known_keys(path: Path, node: yaml.Node | None, what: str, kind: str) -> None:
    """Refuse a key of mapping `node` that Tracetest's schema does not have, at the key itself."""
    if not isinstance(node, yaml.MappingNode):
        return
    known = _KEYS[kind]
    for key_node, _ in node.value:
        key = str(key_node.value)
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f" (did you mean `{close[0]}`?)" if close else f" (known: {', '.join(known)})"
            raise _error(path, key_node, f"unknown key `{key}` in {what}{hint}")


def _error(path: Path, node: yaml.Node, message: str) -> TracetestFileError:
    return TracetestFileError(path, node.start_mark.line + 1, node.start_mark.column + 1, message)


def _position(node: yaml.ScalarNode, offset: int) -> tuple[int, int]:
    """File line and column (1-based) of character `offset` of a scalar's value."""
    start, end = node.start_mark, node.end_mark
    value: str = node.value
    if node.style in ("|", ">"):
        # Block scalar: content starts on the next line, indented.
        before = value[:offset]
        line = start.line + 2 + before.count("\n")
        source_lines = (start.buffer or "").splitlines()
        indent = 0
        if line - 1 < len(source_lines):
            text_line = source_lines[line - 1]
            indent = len(text_line) - len(text_line.lstrip())
        return line, indent + len(before.rsplit("\n", 1)[-1]) + 1
    buffer = start.buffer
    if buffer is None:
        return start.line + 1, start.column + 1 + offset
    src_i = start.index + (1 if node.style in ('"', "'") else 0)
    val_i = 0
    while val_i < offset and src_i < end.index:
        ch = value[val_i]
        if ch == " " and buffer[src_i] in " \t\r\n":
            while src_i < end.index and buffer[src_i] in " \t\r\n":
                src_i += 1
        elif buffer[src_i] == "\\" and node.style == '"':
            src_i += 2
        else:
            src_i += 1
        val_i += 1
    line = buffer.count("\n", 0, src_i) + 1
    column = src_i - (buffer.rfind("\n", 0, src_i) + 1) + 1
    return line, column


def _parse(path: Path, node: yaml.Node | None, what: str, parser):  # type: ignore[no-untyped-def]
    if not isinstance(node, yaml.ScalarNode):
        where = node if node is not None else None
        if where is None:
            raise TracetestFileError(path, 1, 1, f"missing {what}")
        raise _error(path, where, f"{what} must be text")
    try:
        return parser(node.value)
    except QuerySyntaxError as exc:
        line, column = _position(node, exc.position)
        raise TracetestFileError(path, line, column, f"{what}: {exc.reason}\n{exc}") from None


def _template(path: Path, node: yaml.Node | None, what: str) -> Template | None:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return None
    if not isinstance(node, yaml.ScalarNode):
        # a JSON body written as a YAML mapping: keep it as JSON text
        import json

        value = yaml.safe_load(yaml.serialize(node))
        return parse_template(json.dumps(value))
    result: Template = _parse(path, node, what, parse_template)
    return result


def _pairs(path: Path, node: yaml.Node | None, what: str) -> tuple[tuple[Template, Template], ...]:
    out = []
    for item in _seq(path, node, what):
        _known_keys(path, item, what, "header")
        key_t = _template(path, _get(item, "key"), f"{what} key")
        value_t = _template(path, _get(item, "value"), f"{what} value") or parse_template("")
        if key_t is None:
            raise _error(path, item, f"each of {what} needs a `key`")
        out.append((key_t, value_t))
    return tuple(out)


# -- resources ------------------------------------------------------------------------------
def _trigger(path: Path, node: yaml.Node | None) -> Trigger | None:
    if node is None:
        return None
    _known_keys(path, node, "trigger", "trigger")
    kind = _str(path, _get(node, "type"), "trigger.type").lower()
    if kind == "http":
        req = _get(node, "httpRequest") or _get(node, "http")
        if req is None:
            raise _error(path, node, "an http trigger needs `httpRequest:`")
        _known_keys(path, req, "httpRequest", "httpRequest")
        url = _template(path, _get(req, "url"), "httpRequest.url")
        if url is None:
            raise _error(path, req, "httpRequest needs a `url`")
        return HttpTrigger(
            method=(_str(path, _get(req, "method"), "httpRequest.method") or "GET").upper(),
            url=url,
            headers=_pairs(path, _get(req, "headers"), "httpRequest.headers"),
            body=_template(path, _get(req, "body"), "httpRequest.body"),
            auth=_auth(path, _get(req, "auth")),
        )
    if kind == "grpc":
        req = _get(node, "grpc")
        if req is None:
            raise _error(path, node, "a grpc trigger needs `grpc:`")
        _known_keys(path, req, "grpc", "grpc")
        address = _template(path, _get(req, "address"), "grpc.address")
        method = _str(path, _get(req, "method"), "grpc.method")
        proto = _str(path, _get(req, "protobufFile"), "grpc.protobufFile")
        if address is None or not method or not proto:
            raise _error(path, req, "a grpc trigger needs `protobufFile`, `address` and `method`")
        if method.count(".") < 1:
            raise _error(path, _get(req, "method") or req, "grpc.method must be package.Service.Method")
        return GrpcTrigger(
            proto_file=proto,
            address=address,
            method=method,
            request=_template(path, _get(req, "request"), "grpc.request"),
            metadata=_pairs(path, _get(req, "metadata"), "grpc.metadata"),
        )
    if kind == "traceid":
        req = _get(node, "traceid") or _get(node, "traceId")
        _known_keys(path, req, "traceid", "traceid")
        trace_id = _template(path, _get(req, "id") if req is not None else None, "traceid.id")
        if trace_id is None:
            raise _error(path, node, "a traceid trigger needs `traceid: {id: ...}`")
        return TraceIdTrigger(trace_id)
    raise _error(path, _get(node, "type") or node,
                 f"unsupported trigger type {kind!r} (supported: http, grpc, traceid)")


def _auth(path: Path, node: yaml.Node | None) -> HttpAuth | None:
    if node is None or (isinstance(node, yaml.ScalarNode) and node.tag.endswith(":null")):
        return None
    _known_keys(path, node, "auth", "auth")
    kind = _str(path, _get(node, "type"), "auth.type")
    body = _get(node, kind) if kind else None
    if kind in ("basic", "bearer", "apiKey"):
        _known_keys(path, body, f"auth.{kind}", kind)
    if kind == "basic" and body is not None:
        user = _template(path, _get(body, "username"), "auth.basic.username") or parse_template("")
        return HttpAuth("basic", user, _template(path, _get(body, "password"), "auth.basic.password"))
    if kind == "bearer" and body is not None:
        token = _template(path, _get(body, "token"), "auth.bearer.token") or parse_template("")
        return HttpAuth("bearer", token)
    if kind == "apiKey" and body is not None:
        key = _template(path, _get(body, "key"), "auth.apiKey.key") or parse_template("")
        where = _str(path, _get(body, "in"), "auth.apiKey.in") or "header"
        if where not in ("header", "query"):
            raise _error(path, _get(body, "in") or body, "auth.apiKey.in must be header or query")
        return HttpAuth("apiKey", key, _template(path, _get(body, "value"), "auth.apiKey.value"), where)
    raise _error(path, node, "auth needs `type: basic|bearer|apiKey` and its settings "
                             "(e.g. `bearer: {token: ...}`)")


def _test(path: Path, spec: yaml.MappingNode) -> TestDefinition:
    _known_keys(path, spec, "spec", "test")
    specs: list[Spec] = []
    for item in _seq(path, _get(spec, "specs"), "specs"):
        _known_keys(path, item, "a spec", "spec")
        sel_node = _get(item, "selector")
        if isinstance(sel_node, yaml.MappingNode):  # old format: selector: {query: ...}
            _known_keys(path, sel_node, "selector", "selector")
            sel_node = _get(sel_node, "query")
        selector: Selector = _parse(path, sel_node, "selector", _tracetest_selector) if sel_node is not None \
            else parse_selector("")
        assertions = tuple(
            _parse(path, a, "assertion", _parse_assertion_checked)
            for a in _seq(path, _get(item, "assertions"), "assertions")
        )
        specs.append(Spec(selector, assertions, _str(path, _get(item, "name"), "spec name")))
    outputs = []
    for item in _seq(path, _get(spec, "outputs"), "outputs"):
        _known_keys(path, item, "an output", "output")
        name = _str(path, _get(item, "name"), "output name")
        if not name:
            raise _error(path, item, "an output needs a `name`")
        sel_node = _get(item, "selector")
        selector = _parse(path, sel_node, "output selector", _tracetest_selector) if sel_node is not None \
            else parse_selector("")
        value = _parse(path, _get(item, "value"), "output value", parse_expression)
        outputs.append(Output(name, selector, value))
    return TestDefinition(
        path=path,
        id=_str(path, _get(spec, "id"), "spec.id"),
        name=_str(path, _get(spec, "name"), "spec.name"),
        description=_str(path, _get(spec, "description"), "spec.description"),
        trigger=_trigger(path, _get(spec, "trigger")),
        specs=tuple(specs),
        outputs=tuple(outputs),
        line=spec.start_mark.line + 1,
    )


def _tracetest_selector(text: str) -> Selector:
    return parse_selector(text, tracetest=True)


def _parse_assertion_checked(text: str):  # type: ignore[no-untyped-def]
    from tracebed.query.expression import parse_assertion

    return parse_assertion(text)


def _suite(path: Path, spec: yaml.MappingNode, kind: str) -> SuiteDefinition:
    _known_keys(path, spec, "spec", "suite")
    steps: list[TestDefinition] = []
    for node in _seq(path, _get(spec, "steps") or _get(spec, "tests"), "steps"):
        ref = _str(path, node, "step")
        step = _resolve_step(path, ref)
        if step is None:
            raise _error(path, node, f"step {ref!r}: no such file, and no Test with that id beside {path.name}")
        steps.append(step)
    return SuiteDefinition(
        path=path,
        id=_str(path, _get(spec, "id"), "spec.id"),
        name=_str(path, _get(spec, "name"), "spec.name"),
        description=_str(path, _get(spec, "description"), "spec.description"),
        steps=tuple(steps),
    )


def _resolve_step(suite_path: Path, ref: str) -> TestDefinition | None:
    candidate = (suite_path.parent / ref).resolve()
    if candidate.is_file():
        return load_test(candidate)
    for sibling in _yaml_files(suite_path.parent):
        if sibling.resolve() == suite_path.resolve() or not looks_like_tracetest(sibling):
            continue
        try:
            found = load(sibling)
        except TracetestFileError:
            continue  # a broken sibling is reported when it is collected itself
        if isinstance(found, TestDefinition) and found.id == ref:
            return found
    return None


def _yaml_files(directory: Path) -> Iterator[Path]:
    yield from sorted(p for p in directory.iterdir() if p.suffix in (".yaml", ".yml"))


def suite_step_paths(suite_path: Path) -> set[Path]:
    """The test files a suite runs (resolved), without parsing the tests themselves."""
    root = _compose(suite_path)
    spec = _get(root, "spec") if root is not None else None
    out: set[Path] = set()
    if spec is None:
        return out
    for node in _seq(suite_path, _get(spec, "steps") or _get(spec, "tests"), "steps"):
        if isinstance(node, yaml.ScalarNode):
            candidate = (suite_path.parent / node.value).resolve()
            if candidate.is_file():
                out.add(candidate)
    return out


# -- which files to run ---------------------------------------------------------------------
def top_type(path: Path) -> str:
    """The `type:` of a resource file from its top-level line, without parsing it."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("type:"):
            return line.split(":", 1)[1].strip().strip("'\"")
    return ""


def steps_run_by_suites(directory: Path) -> set[Path]:
    """The Test files that a suite in `directory` runs (resolved)."""
    steps: set[Path] = set()
    for sibling in sorted(directory.glob("*.y*ml")):
        if looks_like_tracetest(sibling) and top_type(sibling) in SUITE_KINDS:
            try:
                steps |= suite_step_paths(sibling)
            except TracetestFileError:
                continue  # reported when the suite itself is loaded
    return steps


def discover(paths: Iterable[Path]) -> list[Path]:
    """The Tracetest files to run for these files and directories, as `pytest PATH` collects
    them: other YAML is skipped, and a Test that a suite beside it runs is run through the
    suite, not twice (unless the Test's file is named itself)."""
    out: list[Path] = []
    covered: dict[Path, set[Path]] = {}
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            out.append(path)
            continue
        for candidate in sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")):
            hidden = any(part.startswith(".") for part in candidate.relative_to(path).parts)
            if hidden or not candidate.is_file() or not looks_like_tracetest(candidate):
                continue
            if top_type(candidate) == "Test":
                directory = candidate.parent.resolve()
                if directory not in covered:
                    covered[directory] = steps_run_by_suites(directory)
                if candidate.resolve() in covered[directory]:
                    continue
            out.append(candidate)
    return out
