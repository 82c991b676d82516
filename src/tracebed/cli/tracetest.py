"""`tracebed tracetest run`: Tracetest files against a running stack, with no Tracetest server."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from tracebed.otlp.client import SinkApiError, SinkClient
from tracebed.tracetest.definition import (
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    discover,
    load,
)
from tracebed.tracetest.hosts import HostMap, HostMapError, Locate
from tracebed.tracetest.runner import (
    DEFAULT_QUIET_S,
    DEFAULT_TIMEOUT_S,
    TestResult,
    run_resource,
)
from tracebed.tracetest.variables import Variables, VariablesError


@click.group("tracetest")
def command() -> None:
    """Tracetest files (Test, TestSuite), run as Tracetest's CLI runs them, without its server."""


@dataclass
class _FileRun:
    path: Path
    resource: TestDefinition | SuiteDefinition | None = None
    error: str | None = None  # the file could not be loaded
    results: list[TestResult] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.error is None and all(r.passed for r in self.results)

    def prefix(self, index: int, result: TestResult) -> str:
        if isinstance(self.resource, SuiteDefinition):
            return f"[{index}] {result.test.title}"
        return result.test.title


@command.command("run")
@click.option(
    "-f",
    "--file",
    "paths",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="A Tracetest file or a directory of them (repeatable). In a directory, a Test that a "
    "suite beside it runs is run through the suite only.",
)
@click.option(
    "--vars",
    "vars_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Variables file: a Tracetest VariableSet, a YAML mapping or KEY=VALUE lines (repeatable).",
)
@click.option("--var", "pairs", multiple=True, metavar="NAME=VALUE", help="A variable (repeatable).")
@click.option(
    "--junit", type=click.Path(dir_okay=False, path_type=Path), help="Also write JUnit XML here."
)
@click.option(
    "-o",
    "--output",
    type=click.Choice(["pretty", "json"]),
    default="pretty",
    show_default=True,
    help="pretty: one line per spec, the story of each failure; json: one document.",
)
@click.option(
    "--sink",
    "sink_url",
    metavar="URL",
    help="HTTP query API of the sink the stack's collector exports to (default: the sink of "
    "the stack `tracebed up --detach` left running).",
)
@click.option("--run", "run_id", help="Which `tracebed up --detach` stack, if several are up.")
@click.option(
    "--frontend-url",
    metavar="URL",
    help="Front door of the stack (default: the recorded stack's), for the frontend-proxy host.",
)
@click.option(
    "--host-map",
    "host_rules",
    multiple=True,
    metavar="NAME=HOST:PORT",
    help="Where a host of the files really is, e.g. frontend:8080=127.0.0.1:41234 (repeatable; "
    "default: the recorded stack's endpoints).",
)
@click.option(
    "--proto-path",
    multiple=True,
    type=click.Path(exists=True, file_okay=False),
    help="Directory searched for a gRPC trigger's protobufFile (repeatable).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for each test's trace.",
)
@click.option(
    "--quiet",
    type=click.FloatRange(min=0),
    default=DEFAULT_QUIET_S,
    show_default=True,
    help="Seconds without a new span that end the wait for a trace.",
)
def run_command(
    paths: tuple[Path, ...],
    vars_files: tuple[Path, ...],
    pairs: tuple[str, ...],
    junit: Path | None,
    output: str,
    sink_url: str | None,
    run_id: str | None,
    frontend_url: str | None,
    host_rules: tuple[str, ...],
    proto_path: tuple[str, ...],
    timeout: float,
    quiet: float,
) -> None:
    """Run Tracetest tests and suites against a running stack; exit 0 when every spec passes.

    Each test's trigger carries a trace id tracebed chose; its trace is read from the sink of
    the stack (long-polled, no fixed sleeps). Hosts such as ${var:CART_ADDR} resolve to the
    stack's endpoints unless --var or --host-map say otherwise.

    \b
    Example:
      tracebed tracetest run -f ../shared/reference/otel-demo-2.0.2/tracetesting
    (against the stack `tracebed up --detach` left running)
    """
    source, hosts = _stack(sink_url, run_id, frontend_url, host_rules)
    try:
        variables = Variables.load(vars_files, pairs, hosts.locate)
    except VariablesError as exc:
        hint = "--vars" if exc.what == "file" else "--var"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    files = discover(paths)
    if not files:
        raise click.ClickException(f"no Tracetest files in {', '.join(map(str, paths))}")
    pretty = output == "pretty"
    runs: list[_FileRun] = []
    try:
        _run_files(files, runs, source, hosts, variables, pretty, timeout, quiet, proto_path)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        raise SystemExit(130) from None
    checks = [v for r in runs for t in r.results for v in t.verdicts()]
    failed = sum(not v.passed for v in checks)
    broken = sum(r.error is not None for r in runs)
    if junit is not None:
        _write_junit(junit, runs)
    if pretty:
        line = f"{len(checks)} spec(s): {len(checks) - failed} passed, {failed} failed"
        if broken:
            line += f"; {broken} file(s) with errors"
        click.echo(line)
    else:
        click.echo(json.dumps(_document(runs, len(checks), failed, broken), indent=2))
    if failed or broken:
        raise SystemExit(1)


def _run_files(
    files: list[Path],
    runs: list[_FileRun],
    source: SinkClient,
    hosts: HostMap,
    variables: Variables,
    pretty: bool,
    timeout: float,
    quiet: float,
    proto_path: tuple[str, ...],
) -> None:
    """Each file in turn, its results appended to `runs` (pretty: printed as they come)."""
    for path in files:
        file_run = _FileRun(path)
        runs.append(file_run)
        try:
            file_run.resource = load(path)
            if file_run.resource is None:
                file_run.error = f"{path}: not a Tracetest Test or TestSuite"
        except TracetestFileError as exc:
            file_run.error = str(exc)
        if file_run.error is not None:
            if pretty:
                click.echo(f"ERROR {file_run.error}")
            continue
        assert file_run.resource is not None
        resource = file_run.resource
        if pretty:
            kind = "suite" if isinstance(resource, SuiteDefinition) else "test"
            click.echo(f"{path}  ({kind} {resource.title!r})")

        def show(result: TestResult, file_run: _FileRun = file_run) -> None:
            file_run.results.append(result)
            if pretty:
                _echo_test(file_run.prefix(len(file_run.results), result), result)

        run_resource(
            resource,
            source,
            hosts,
            variables,
            timeout=timeout,
            quiet=quiet,
            proto_path=proto_path,
            on_result=show,
        )


# -- the stack: its sink and where its services are --------------------------------------------
def _stack(
    sink_url: str | None,
    run_id: str | None,
    frontend_url: str | None,
    host_rules: tuple[str, ...],
) -> tuple[SinkClient, HostMap]:
    if sink_url is None:
        from tracebed.cli.record import stack_on_record

        recorded_frontend, sink_url = stack_on_record(run_id)
        frontend_url = frontend_url or recorded_frontend
    services = _recorded_services(sink_url)
    try:
        source = SinkClient(sink_url)
        source.check()
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--sink") from None
    except SinkApiError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        hosts = HostMap.parse(host_rules, _endpoint_locator(services, frontend_url))
    except HostMapError as exc:
        raise click.BadParameter(str(exc), param_hint="--host-map") from None
    return source, hosts


def _recorded_services(sink_url: str) -> Mapping[str, Any]:
    """The services (with endpoints) of the stack on record whose sink this is, if any."""
    from tracebed.stack.state import list_records

    for record in reversed(list_records()):
        recorded = str((record.info.get("sink") or {}).get("http") or "")
        if recorded and recorded.rstrip("/") == sink_url.rstrip("/"):
            services: Mapping[str, Any] = record.info.get("services") or {}
            return services
    return {}


def _endpoint_locator(services: Mapping[str, Any], frontend_url: str | None) -> Locate:
    """`service -> URL or host:port` from recorded endpoints (what `tracebed status` shows)."""

    def locate(service: str) -> str | None:
        if service in ("frontend-proxy", "front-door") and frontend_url:
            return frontend_url
        endpoints = (services.get(service) or {}).get("endpoints") or {}
        for key in ("http", "grpc", "address"):  # as the stack's own url()/endpoint() prefer
            if endpoints.get(key):
                return str(endpoints[key])
        return next((str(v) for v in endpoints.values() if v), None)

    return locate


# -- output ---------------------------------------------------------------------------------------
def _echo_test(prefix: str, result: TestResult) -> None:
    trace = f"  trace {result.trace_id}" if result.trace_id else ""
    click.echo(f"  {prefix}{trace}")
    marks: list[str] = []
    for verdict in result.verdicts():
        mark = "✓" if verdict.passed else "✗"
        summary = f"  ({verdict.summary})" if verdict.summary else ""
        click.echo(f"    {mark} {verdict.title}{summary}")
        if not verdict.passed:
            for line in verdict.detail.rstrip().splitlines():
                click.echo(f"        {line}")
            marks += verdict.marks
    if not result.passed and result.trace is not None:
        # one tree per test, every failed spec's spans marked (not one tree per spec)
        for line in result.trace.render(marks=marks).splitlines():
            click.echo(f"      {line}")


def _document(runs: list[_FileRun], checks: int, failed: int, broken: int) -> dict[str, Any]:
    files = []
    for file_run in runs:
        entry: dict[str, Any] = {"path": str(file_run.path), "passed": file_run.passed}
        if file_run.error is not None:
            entry["error"] = file_run.error
        if file_run.resource is not None:
            entry["kind"] = "suite" if isinstance(file_run.resource, SuiteDefinition) else "test"
            entry["name"] = file_run.resource.title
        entry["tests"] = [
            {
                "name": file_run.prefix(index, result),
                "id": result.test.id,
                "trace_id": result.trace_id,
                "passed": result.passed,
                "error": result.error,
                "specs": [
                    {
                        "name": v.title,
                        "id": f"{file_run.path}::{file_run.prefix(index, result)}::{v.title}",
                        "passed": v.passed,
                        "summary": v.summary,
                        "message": "" if v.passed else v.message,
                    }
                    for v in result.verdicts()
                ],
            }
            for index, result in enumerate(file_run.results, 1)
        ]
        files.append(entry)
    return {
        "passed": not failed and not broken,
        "summary": {"specs": checks, "passed": checks - failed, "failed": failed, "file_errors": broken},
        "files": files,
    }


def _write_junit(path: Path, runs: list[_FileRun]) -> None:
    """One <testsuite> per file, one <testcase> per spec (as `pytest --junitxml` names them)."""
    root = ET.Element("testsuites", name="tracebed tracetest")
    for file_run in runs:
        suite = ET.SubElement(root, "testsuite", name=str(file_run.path))
        cases = failures = errors = 0
        if file_run.error is not None:
            case = ET.SubElement(suite, "testcase", classname=str(file_run.path), name="load")
            ET.SubElement(case, "error", message=file_run.error.splitlines()[0]).text = file_run.error
            cases, errors = 1, 1
        for index, result in enumerate(file_run.results, 1):
            prefix = file_run.prefix(index, result)
            for verdict in result.verdicts():
                cases += 1
                case = ET.SubElement(
                    suite, "testcase", classname=str(file_run.path), name=f"{prefix}::{verdict.title}"
                )
                if result.trace_id:
                    props = ET.SubElement(case, "properties")
                    ET.SubElement(props, "property", name="tracebed.trace_id", value=result.trace_id)
                if not verdict.passed:
                    failures += 1
                    first = verdict.message.splitlines()[0] if verdict.message else "failed"
                    ET.SubElement(case, "failure", message=first).text = verdict.message
        suite.set("tests", str(cases))
        suite.set("failures", str(failures))
        suite.set("errors", str(errors))
    path.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
