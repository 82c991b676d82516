"""`tracebed query`: check Tracetest files, run selectors and chain patterns on saved traces."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tracebed.cli._params import JSON_OPTION, BadInput
from tracebed.model import Trace
from tracebed.query.chains import (
    ChainMatcher,
    load_chain,
    parse_chain,
    render_side_by_side,
    service_tree,
)
from tracebed.query.errors import QuerySyntaxError
from tracebed.query.spec import Spec, SpecResult
from tracebed.tracetest.definition import (
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    load,
    looks_like_tracetest,
    top_type,
)


@click.group("query")
def command() -> None:
    """Tracetest-compatible selectors, assertions and call-chain patterns, offline."""


def _yaml_files(paths: tuple[Path, ...]) -> list[Path]:
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            out += sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml"))
        else:
            out.append(path)
    return out


@command.command("check")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@JSON_OPTION
def check(paths: tuple[Path, ...], as_json: bool) -> None:
    """Parse Tracetest files (tests and suites): every selector, assertion and ${...} template.

    Errors are printed as FILE:LINE:COLUMN: message; the exit code is 1 when any file is bad.
    Other YAML in the directories is skipped.

    \b
    Example:
      tracebed query check tracetesting/
    """
    checked = 0
    files: list[dict[str, Any]] = []  # one entry per file taken or refused, for --json
    named = {path for path in paths if path.is_file()}  # asked for by name: say why not taken

    def refuse(path: Path, error: str) -> None:
        files.append({"path": str(path), "ok": False, "error": error})
        if not as_json:
            click.echo(error, err=True)

    for path in _yaml_files(paths):
        if not looks_like_tracetest(path):
            if path in named:
                found = top_type(path)
                why = (f"top-level `type: {found}` is not Test, TestSuite or Transaction" if found
                       else "no top-level `type: Test`")
                refuse(path, f"{path}: not a Tracetest file ({why})")
            continue
        checked += 1
        try:
            resource = load(path)
        except TracetestFileError as exc:
            refuse(path, str(exc))
            continue
        if resource is None and path in named:
            refuse(path, f"{path}: not a Tracetest file (no trigger, specs or steps)")
        if isinstance(resource, TestDefinition):
            assertions = sum(len(s.assertions) for s in resource.specs)
            files.append({"path": str(path), "ok": True, "kind": "test", "title": resource.title,
                          "specs": len(resource.specs), "assertions": assertions})  # fmt: skip
            if not as_json:
                click.echo(f"ok {path}: test {resource.title!r}, {len(resource.specs)} specs, {assertions} assertions")
        elif isinstance(resource, SuiteDefinition):
            files.append({"path": str(path), "ok": True, "kind": "suite", "title": resource.title,
                          "steps": len(resource.steps)})  # fmt: skip
            if not as_json:
                click.echo(f"ok {path}: suite {resource.title!r}, {len(resource.steps)} steps")
    bad = sum(1 for f in files if not f["ok"])
    if as_json:
        click.echo(json.dumps({"ok": checked > 0 and not bad, "files": files}))
    else:
        click.echo(f"{checked} Tracetest file(s), {bad} with errors")
        if not checked and not bad:
            click.echo("no Tracetest file in the paths given (YAML with `type: Test`)", err=True)
    if bad or not checked:
        raise SystemExit(1)


def _traces(files: tuple[Path, ...], trace_id: str | None) -> list[Trace]:
    from tracebed.otlp.otlp_json import OtlpJsonError, read_otlp_json, traces_from_spans

    spans = []
    for path in files:
        try:
            spans.extend(read_otlp_json(path))
        except OtlpJsonError as exc:
            raise BadInput(str(exc)) from None
    traces = traces_from_spans(spans)
    if trace_id:
        traces = [t for t in traces if t.trace_id == trace_id.lower()]
        if not traces:
            raise BadInput(f"trace {trace_id} is not in the files")
    if not traces:
        raise BadInput("the files hold no spans")
    return traces


@command.command("select")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-s", "--selector", required=True, help='e.g. span[tracetest.span.type="rpc"] (empty: all spans)')
@click.option("-a", "--assert", "assertions", multiple=True, help="a Tracetest assertion (repeatable)")
@click.option("--trace-id", help="only this trace of the files")
@JSON_OPTION
def select_command(files: tuple[Path, ...], selector: str, assertions: tuple[str, ...],
                   trace_id: str | None, as_json: bool) -> None:
    """Run a selector (and assertions) on OTLP/JSON trace files; shows each tree with the
    selected spans marked `>>`. Exit code 1 when an assertion fails.

    \b
    Example:
      tracebed query select traces.json -s 'span[service.name="cart"]' -a 'attr:tracetest.selected_spans.count >= 1'
    """
    try:
        spec = Spec.parse(selector, assertions)
    except QuerySyntaxError as exc:
        raise BadInput(str(exc)) from None
    failed = False
    report: list[dict[str, Any]] = []
    for trace in _traces(files, trace_id):
        result = spec.evaluate(trace)
        failed = failed or not result.passed
        if as_json:
            report.append({"trace_id": trace.trace_id, **_spec_result(result)})
            continue
        click.echo(result.describe() if assertions else f"{len(result.spans)} span(s) selected")
        click.echo(trace.render(marks=result.span_ids))
    if as_json:
        click.echo(json.dumps({"ok": not failed, "traces": report}))
    if failed:
        raise SystemExit(1)


def _spec_result(result: SpecResult) -> dict[str, Any]:
    return {
        "passed": result.passed,
        "selected": result.span_ids,
        "assertions": [
            {
                "assertion": outcome.assertion.text,
                "passed": outcome.passed,
                "results": [
                    {
                        "span_id": span.span_id if span is not None else None,
                        "passed": r.passed,
                        "actual": r.actual,
                        "expected": r.expected,
                        "error": r.error,
                    }
                    for span, r in outcome.results
                ],
            }
            for outcome in result.outcomes
        ],
    }


@command.command("chain")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-p", "--pattern", help="e.g. 'frontend → checkout → {cart, payment}'")
@click.option("--fixture", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a chain fixture (fixtures/chains/*.yaml)")
@click.option("--exact", is_flag=True, help="calls the pattern does not name are a mismatch")
@click.option("--trace-id", help="only this trace of the files")
@JSON_OPTION
def chain_command(files: tuple[Path, ...], pattern: str | None, fixture: Path | None, exact: bool,
                  trace_id: str | None, as_json: bool) -> None:
    """Check that traces follow a call-chain pattern; a mismatch prints both trees side by side.

    \b
    Example:
      tracebed query chain traces.json --fixture fixtures/chains/checkout.yaml
    """
    if (pattern is None) == (fixture is None):
        raise click.UsageError("give exactly one of --pattern and --fixture")
    try:
        if fixture is not None:
            loaded = load_chain(fixture)
            matcher = ChainMatcher(loaded.pattern, exact or loaded.exact, loaded.correlate)
        else:
            matcher = ChainMatcher(parse_chain(pattern or ""), exact)
    except (QuerySyntaxError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    failed = False
    report: list[dict[str, Any]] = []
    for trace in _traces(files, trace_id):
        tops = service_tree(trace)
        diff = matcher.match_tree(trace, tops)
        if as_json:
            failed = failed or diff is not None
            report.append({"trace_id": trace.trace_id, "follows": diff is None})
        elif diff is None:
            click.echo(f"trace {trace.trace_id}: follows {matcher.pattern}")
        else:
            failed = True
            click.echo(f"trace {trace.trace_id}: " + render_side_by_side(matcher.pattern, tops, diff, matcher.async_candidates))
    if as_json:
        click.echo(json.dumps({"ok": not failed, "pattern": str(matcher.pattern), "traces": report}))
    if failed:
        raise SystemExit(1)
