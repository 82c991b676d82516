"""`tracebed query`: check Tracetest files, run selectors and chain patterns on saved traces."""

from __future__ import annotations

from pathlib import Path

import click

from tracebed.model import Trace
from tracebed.query.chains import (
    ChainMatcher,
    load_chain,
    parse_chain,
    render_side_by_side,
    service_tree,
)
from tracebed.query.errors import QuerySyntaxError
from tracebed.query.spec import Spec
from tracebed.tracetest.definition import (
    SuiteDefinition,
    TestDefinition,
    TracetestFileError,
    load,
    looks_like_tracetest,
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
def check(paths: tuple[Path, ...]) -> None:
    """Parse Tracetest files (tests and suites): every selector, assertion and ${...} template.

    Errors are printed as FILE:LINE:COLUMN: message; the exit code is 1 when any file is bad.
    Other YAML in the directories is skipped.
    """
    bad = 0
    checked = 0
    for path in _yaml_files(paths):
        if not looks_like_tracetest(path):
            continue
        checked += 1
        try:
            resource = load(path)
        except TracetestFileError as exc:
            bad += 1
            click.echo(str(exc), err=True)
            continue
        if isinstance(resource, TestDefinition):
            assertions = sum(len(s.assertions) for s in resource.specs)
            click.echo(f"ok {path}: test {resource.title!r}, {len(resource.specs)} specs, {assertions} assertions")
        elif isinstance(resource, SuiteDefinition):
            click.echo(f"ok {path}: suite {resource.title!r}, {len(resource.steps)} steps")
    click.echo(f"{checked} Tracetest file(s), {bad} with errors")
    if bad or not checked:
        raise SystemExit(1)


def _traces(files: tuple[Path, ...], trace_id: str | None) -> list[Trace]:
    from tracebed.otlp.otlp_json import OtlpJsonError, read_otlp_json, traces_from_spans

    spans = []
    for path in files:
        try:
            spans.extend(read_otlp_json(path))
        except OtlpJsonError as exc:
            raise click.ClickException(str(exc)) from None
    traces = traces_from_spans(spans)
    if trace_id:
        traces = [t for t in traces if t.trace_id == trace_id.lower()]
        if not traces:
            raise click.ClickException(f"trace {trace_id} is not in the files")
    if not traces:
        raise click.ClickException("the files hold no spans")
    return traces


@command.command("select")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-s", "--selector", required=True, help='e.g. span[tracetest.span.type="rpc"] (empty: all spans)')
@click.option("-a", "--assert", "assertions", multiple=True, help="a Tracetest assertion (repeatable)")
@click.option("--trace-id", help="only this trace of the files")
def select_command(files: tuple[Path, ...], selector: str, assertions: tuple[str, ...],
                   trace_id: str | None) -> None:
    """Run a selector (and assertions) on OTLP/JSON trace files; shows each tree with the
    selected spans marked `>>`. Exit code 1 when an assertion fails."""
    try:
        spec = Spec.parse(selector, assertions)
    except QuerySyntaxError as exc:
        raise click.ClickException(str(exc)) from None
    failed = False
    for trace in _traces(files, trace_id):
        result = spec.evaluate(trace)
        click.echo(result.describe() if assertions else f"{len(result.spans)} span(s) selected")
        click.echo(trace.render(marks=result.span_ids))
        failed = failed or not result.passed
    if failed:
        raise SystemExit(1)


@command.command("chain")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("-p", "--pattern", help="e.g. 'frontend → checkout → {cart, payment}'")
@click.option("-f", "--fixture", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="a chain fixture (fixtures/chains/*.yaml)")
@click.option("--exact", is_flag=True, help="calls the pattern does not name are a mismatch")
@click.option("--trace-id", help="only this trace of the files")
def chain_command(files: tuple[Path, ...], pattern: str | None, fixture: Path | None, exact: bool,
                  trace_id: str | None) -> None:
    """Check that traces follow a call-chain pattern; a mismatch prints both trees side by side."""
    if (pattern is None) == (fixture is None):
        raise click.UsageError("give exactly one of --pattern and --fixture")
    try:
        if fixture is not None:
            loaded = load_chain(fixture)
            matcher = ChainMatcher(loaded.pattern, exact or loaded.exact, loaded.correlate)
        else:
            matcher = ChainMatcher(parse_chain(pattern or ""), exact)
    except (QuerySyntaxError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    failed = False
    for trace in _traces(files, trace_id):
        tops = service_tree(trace)
        diff = matcher.match_tree(trace, tops)
        if diff is None:
            click.echo(f"trace {trace.trace_id}: follows {matcher.pattern}")
        else:
            failed = True
            click.echo(f"trace {trace.trace_id}: " + render_side_by_side(matcher.pattern, tops, diff, matcher.async_candidates))
    if failed:
        raise SystemExit(1)
