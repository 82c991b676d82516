"""`tracebed contract`: draft contracts from traces, check traces, compare calls with depends_on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from tracebed.cli._params import JSON_OPTION, POSITIVE, BadInput, write_output
from tracebed.contracts.check import ContractResult, check_trace
from tracebed.contracts.deps import (
    DEMO_ALIASES,
    analyse_dependencies,
    contract_calls,
    declared_dependencies,
    observed_calls,
)
from tracebed.contracts.draft import draft_contract
from tracebed.contracts.model import ContractError, dump_contract, load_contracts
from tracebed.model import Trace
from tracebed.otlp.client import SinkApiError, SinkClient
from tracebed.otlp.otlp_json import OtlpJsonError, read_otlp_json, traces_from_spans


def _traces(files: tuple[Path, ...], sink: str | None, limit: int) -> list[Trace]:
    """Every trace in OTLP/JSON files (ids merged across files), then the newest `limit` of
    a running sink's."""
    if not files and not sink:
        raise click.UsageError("give OTLP/JSON trace files, or --sink URL of a running sink")
    try:
        traces = traces_from_spans(s for path in files for s in read_otlp_json(path))
        if sink:
            traces += SinkClient(sink).traces(limit=limit)
    except (OtlpJsonError, SinkApiError, ValueError) as exc:
        raise BadInput(str(exc)) from None
    if not traces:
        raise BadInput("no traces found")
    return traces


def _topology(compose: tuple[Path, ...], env_file: Path | None) -> dict[str, set[str]]:
    from tracebed.stack.topology import Topology

    try:
        return declared_dependencies(Topology.from_compose(list(compose), env_file=env_file))
    except Exception as exc:  # the stack layer's errors name the file and the problem
        raise BadInput(f"cannot read the topology: {exc}") from None


_files = click.argument(
    "files", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
_sink = click.option("--sink", help="HTTP query API of a running sink (all traces it holds).")
_limit = click.option(
    "--limit", type=POSITIVE, default=200, show_default=True, help="Traces from the sink."
)
_compose = click.option(
    "--compose",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Compose file(s) of the stack (repeatable), for declared dependencies.",
)
_env_file = click.option(
    "--env-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The compose project's .env (default: .env beside the first compose file).",
)


@click.group("contract")
def command() -> None:
    """Service contracts: spans per operation, outgoing calls, declared dependencies."""


@command.command("draft")
@click.argument("service")
@_files
@_sink
@_limit
@_compose
@_env_file
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write here.")
def draft(
    service: str,
    files: tuple[Path, ...],
    sink: str | None,
    limit: int,
    compose: tuple[Path, ...],
    env_file: Path | None,
    output: Path | None,
) -> None:
    """Draft SERVICE's contract from observed traces (OTLP/JSON FILES or --sink), to review.

    \b
    Example:
      tracebed contract draft checkout traces.json -o fixtures/contracts/checkout.yaml
    """
    traces = _traces(files, sink, limit)
    declared = _topology(compose, env_file) if compose else {}
    if compose and service not in declared:
        raise BadInput(f"service {service!r} is not in the compose topology")
    try:
        contract = draft_contract(
            service,
            traces,
            depends_on=declared.get(service, ()),
            known_services=declared or {s.service for t in traces for s in t},
            aliases=DEMO_ALIASES,
        )
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    text = dump_contract(contract)
    if output is None:
        click.echo(text, nl=False)
    else:
        write_output(output, text)
        click.echo(f"{service}: {len(contract.operations)} operation(s) -> {output}")


@command.command("check")
@click.argument("contracts", type=click.Path(exists=True, file_okay=False, path_type=Path))
@_files
@_sink
@_limit
@click.option("--lenient-calls", is_flag=True, help="Allow calls the contracts do not list.")
@JSON_OPTION
def check(
    contracts: Path,
    files: tuple[Path, ...],
    sink: str | None,
    limit: int,
    lenient_calls: bool,
    as_json: bool,
) -> None:
    """Check traces against the CONTRACTS directory; exit 1 on any violation.

    \b
    Example:
      tracebed contract check fixtures/contracts traces.json
    """
    try:
        loaded = load_contracts(contracts)
    except ContractError as exc:
        raise BadInput(str(exc)) from None
    traces = _traces(files, sink, limit)
    failed = 0
    checked = 0
    report: list[dict[str, Any]] = []
    for trace in traces:
        for result in check_trace(loaded, trace, strict_calls=not lenient_calls):
            checked += 1
            if not result.ok:
                failed += 1
            if as_json:
                report.append({"trace_id": trace.trace_id, **_contract_result(result)})
            elif not result.ok:
                click.echo(result.explain() + "\n")
    if as_json:
        summary = {"ok": checked > 0 and not failed, "checked": checked, "failed": failed}
        click.echo(json.dumps({**summary, "results": report}))
    else:
        click.echo(f"{checked} operation check(s) in {len(traces)} trace(s), {failed} failed")
    if checked == 0:
        raise click.ClickException("no operation of any contract appears in these traces")
    if failed:
        raise SystemExit(1)


def _contract_result(result: ContractResult) -> dict[str, Any]:
    return {
        "service": result.service,
        "operation": result.operation,
        "occurrences": result.occurrences,
        "ok": result.ok,
        "violations": [
            {
                "message": v.message,
                "span_id": v.span.span_id if v.span is not None else None,
                "repeats": v.repeats,
            }
            for v in result.violations
        ],
    }


def _reference_topology() -> dict[str, set[str]]:
    """The reference stack's declared dependencies (its spec; nothing is started)."""
    from tracebed.refstack import reference_shape

    return declared_dependencies(reference_shape(with_load_generator=True))


@command.command("deps")
@_compose
@_env_file
@click.option("--reference", is_flag=True, help="Use the built-in reference stack's topology.")
@click.option(
    "--contracts",
    "contracts_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Take the runtime calls from these contracts.",
)
@_files
@_sink
@_limit
@JSON_OPTION
def deps(
    compose: tuple[Path, ...],
    env_file: Path | None,
    reference: bool,
    contracts_dir: Path | None,
    files: tuple[Path, ...],
    sink: str | None,
    limit: int,
    as_json: bool,
) -> None:
    """Runtime calls against compose depends_on: start-order races and unused dependencies.

    Calls come from contracts (--contracts) and/or observed traces (FILES, --sink).
    Exits 1 when a runtime call has no declared (even transitive) dependency.

    \b
    Example:
      tracebed contract deps --reference --contracts fixtures/contracts
    """
    if bool(compose) == reference:
        raise click.UsageError("give the topology: --compose FILE... or --reference")
    declared = _reference_topology() if reference else _topology(compose, env_file)
    calls: set[tuple[str, str]] = set()
    callers: set[str] = set()
    if contracts_dir is not None:
        try:
            loaded = load_contracts(contracts_dir)
        except ContractError as exc:
            raise BadInput(str(exc)) from None
        calls |= contract_calls(loaded.values())
        callers |= set(loaded)
    if files or sink:
        observed = observed_calls(_traces(files, sink, limit), declared, DEMO_ALIASES)
        calls |= observed
        callers |= {a for a, _ in observed}
    if not calls:
        raise click.UsageError("give --contracts and/or traces (FILES or --sink)")
    note = "declared in depends_on, never called"
    if contracts_dir is None:
        note = (
            "declared in depends_on, not called in these traces (telemetry export and flag "
            "evaluation leave no spans: add --contracts to count them)"
        )
    report = analyse_dependencies(calls, declared, callers=callers, unused_note=note)
    if as_json:
        document: dict[str, Any] = {"ok": report.ok}
        for which in ("races", "transitive", "unused"):
            findings = getattr(report, which)
            document[which] = [
                {"caller": f.caller, "callee": f.callee, "detail": f.detail, "via": list(f.via)}
                for f in findings
            ]
        document["unknown"] = [list(pair) for pair in report.unknown]
        click.echo(json.dumps(document))
    else:
        click.echo(report.explain())
    if not report.ok:
        raise SystemExit(1)
