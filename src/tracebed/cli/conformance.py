"""`tracebed conformance --registry DIR FILE...`: OTLP/JSON telemetry checked against a
semantic-convention registry, offline; findings named as Weaver's live-check names them."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tracebed.cli._params import BadInput
from tracebed.otlp.signals_json import SignalsJsonError, read_signals_json
from tracebed.query.conformance import DEFAULT_LEVELS, Checker, Level, Policy
from tracebed.query.registry import RegistryError, load_registry


class ConformanceInputError(BadInput):
    """Bad input (registry, files, options): exit 2, so that 1 keeps meaning "findings"."""


def _overrides(values: tuple[str, ...]) -> dict[str, Level]:
    out = {}
    for value in values:
        finding_id, sep, level = value.partition("=")
        if not sep:
            raise ConformanceInputError(f"--level {value!r}: expected FINDING_ID=LEVEL")
        try:
            out[finding_id.strip()] = Level.parse(level)
        except ValueError as exc:
            raise ConformanceInputError(f"--level {value!r}: {exc}") from None
    return out


@click.command("conformance")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--registry",
    "registry_dir",
    required=True,
    type=click.Path(path_type=Path),
    help="The registry to check against (a Weaver definition/2 or semconv model directory).",
)
@click.option(
    "--dependency",
    "dependency_dir",
    type=click.Path(path_type=Path),
    help="The registry's dependency, e.g. the semantic-conventions model/ directory.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
@click.option(
    "--fail-on",
    type=click.Choice(["violation", "improvement", "information", "none"]),
    default="violation",
    show_default=True,
    help="Exit 1 when a finding is at or above this level.",
)
@click.option(
    "--ignore",
    multiple=True,
    help="Attribute keys to leave alone: a namespace (telemetry) or a glob (telemetry.sdk.*). "
    "Repeatable.",
)
@click.option(
    "--level",
    "levels",
    multiple=True,
    metavar="ID=LEVEL",
    help="Override a finding's level, e.g. undefined_enum_variant=violation. Repeatable.",
)
@click.option("--exclude", multiple=True, metavar="ID", help="Drop findings with this id.")
@click.option(
    "--min-coverage",
    type=click.FloatRange(0, 100),
    default=0.0,
    help="Fail (exit 1) when under this percentage of the registry's attributes and metrics "
    "were seen.",
)
@click.option(
    "--by",
    type=click.Choice(["finding", "span"]),
    default="finding",
    show_default=True,
    help="Text output: one line per kind of finding, or every finding under its span.",
)
def command(
    files: tuple[Path, ...],
    registry_dir: Path,
    dependency_dir: Path | None,
    output_format: str,
    fail_on: str,
    ignore: tuple[str, ...],
    levels: tuple[str, ...],
    exclude: tuple[str, ...],
    min_coverage: float,
    by: str,
) -> None:
    """Check OTLP/JSON traces, metrics and logs FILES against a registry.

    Exit 0 when no finding reaches --fail-on, 1 when one does (or coverage is
    under --min-coverage), 2 on bad input.

    \b
    Example:
      tracebed conformance --registry telemetry-schema --dependency semconv/model traces.json
    """
    unknown = sorted(set(exclude) - set(DEFAULT_LEVELS))
    if unknown:
        raise ConformanceInputError(f"--exclude: unknown finding id {', '.join(unknown)}")
    try:
        policy = Policy(
            ignore=ignore,
            level_overrides=_overrides(levels),
            exclude=frozenset(exclude),
            min_coverage=min_coverage / 100,
        )
    except ValueError as exc:
        raise ConformanceInputError(str(exc)) from None
    try:
        registry = load_registry(registry_dir, dependency_dir)
    except RegistryError as exc:
        raise ConformanceInputError(f"registry: {exc}") from None
    checker = Checker(registry, policy)
    for path in files:
        try:
            signals = read_signals_json(path)
        except SignalsJsonError as exc:
            raise ConformanceInputError(str(exc)) from None
        checker.check_spans(signals.spans)
        checker.check_metrics(signals.metrics)
        checker.check_logs(signals.logs)
    report = checker.report()
    if output_format == "json":
        click.echo(json.dumps(report.as_dict(), indent=2, default=str))
    else:
        click.echo(report.to_text(by=by))
    if report.failed(None if fail_on == "none" else fail_on):
        raise SystemExit(1)
