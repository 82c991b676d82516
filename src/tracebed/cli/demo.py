"""`tracebed demo`: the main job — stack up tier by tier, the bundled suite, report, summary."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

import click
import pytest
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tracebed import extras
from tracebed.cli._params import BadInput
from tracebed.paths import DEFAULT_DEMO_VERSION, DEMO_VERSIONS
from tracebed.plugin import validate
from tracebed.plugin.report import TIMELINE_KEY, trace_ids_of

SUITE = "tracebed.suites.otel_demo"


class _Summary:
    """A pytest plugin object that remembers what the summary needs."""

    def __init__(self) -> None:
        self.tests: dict[str, dict[str, Any]] = {}
        self.timeline: list[Any] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.tests.setdefault(report.nodeid, {"outcome": "passed", "trace_ids": []})
        if report.failed:
            entry["outcome"] = "failed" if report.when == "call" else "error"
        elif report.skipped and entry["outcome"] == "passed":
            entry["outcome"] = "skipped"
        for name, value in report.user_properties:
            if name == "tracebed.trace_id" and value not in entry["trace_ids"]:
                entry["trace_ids"].append(value)

    def pytest_runtest_teardown(self, item: pytest.Item) -> None:
        entry = self.tests.setdefault(item.nodeid, {"outcome": "passed", "trace_ids": []})
        for trace_id in trace_ids_of(item):
            if trace_id not in entry["trace_ids"]:
                entry["trace_ids"].append(trace_id)

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        rows = session.config.stash.get(TIMELINE_KEY, None)
        if rows is not None:
            self.timeline = list(rows() if callable(rows) else rows)


def _short_name(nodeid: str) -> str:
    """ "test_flows.py::test_x[checkout]" -> "flows::test_x[checkout]"."""
    module, _, test = nodeid.rpartition("/")[-1].partition("::")
    return f"{module.removesuffix('.py').removeprefix('test_')}::{test}"


def _print_summary(console: Console, summary: _Summary, report_dir: Path, code: int) -> None:
    tiers: dict[int, list[str]] = defaultdict(list)
    for service, tier, _start, ready, status in summary.timeline:
        when = f"{ready:.2f}s" if ready is not None else status
        tiers[tier].append(f"{service} {when}")
    startup_title = "startup (ready, seconds from the first start)"
    if console.is_terminal:
        _print_tables(console, summary, tiers, startup_title)
    else:
        # A CI log: tables would be cut at 80 columns ("…"); full names and ids, one a line,
        # so that they can be copied.
        lines = [f"{startup_title}:"] if tiers else []
        lines += [f"  tier {t}: {', '.join(tiers[t])}" for t in sorted(tiers)]
        lines.append("flows and checks:")
        for nodeid, entry in summary.tests.items():
            lines.append(f"  {entry['outcome']:<8} {_short_name(nodeid)}")
            lines += [f"           trace {trace_id}" for trace_id in entry["trace_ids"]]
        for line in lines:
            console.out(line, highlight=False)
    outcome = "all passed" if code == 0 else f"FAILED (pytest exit code {code})"
    console.print(f"tracebed demo: {outcome}")
    index = report_dir / "index.html"
    if index.exists():  # last: the line to open
        console.out(f"report: {index.resolve()}", highlight=False)


def _print_tables(
    console: Console, summary: _Summary, tiers: dict[int, list[str]], startup_title: str
) -> None:
    if tiers:
        table = Table(title=startup_title, show_lines=False)
        table.add_column("tier", justify="right")
        table.add_column("services")
        for tier in sorted(tiers):
            table.add_row(str(tier), ", ".join(tiers[tier]))
        console.print(table)
    table = Table(title="flows and checks")
    table.add_column("test")
    table.add_column("verdict")
    table.add_column("trace ids")
    colours = {"passed": "green", "failed": "red", "error": "red", "skipped": "yellow"}
    for nodeid, entry in summary.tests.items():
        name = escape(_short_name(nodeid))  # rich would read "[checkout]" as markup
        verdict = entry["outcome"]
        ids = entry["trace_ids"]
        shown = ", ".join(ids[:2]) + (f" (+{len(ids) - 2})" if len(ids) > 2 else "")
        table.add_row(name, f"[{colours.get(verdict, 'white')}]{verdict}[/]", shown)
    console.print(table)


@click.command("demo", context_settings={"ignore_unknown_options": True})
@click.option(
    "--stack",
    type=click.Choice(["local", "compose", "external"]),
    default="local",
    show_default=True,
    help="local: the built-in reference stack (no Docker); compose: --compose files; "
    "external: an already running stack at --frontend-url.",
)
@click.option("--compose", "-f", multiple=True, help="Compose file(s), merged in order.")
@click.option("--frontend-url", default=None, help="Front door of an external stack.")
@click.option(
    "--report",
    "report_dir",
    default="tracebed-report",
    show_default=True,
    type=click.Path(file_okay=False),
    help="Where the HTML report, OTLP/JSON traces and JUnit XML go.",
)
@click.option("--keep", is_flag=True, help="Leave the stack running afterwards (`tracebed down`).")
@click.option(
    "--replace",
    "replacements",
    multiple=True,
    metavar="SERVICE=COMMAND|IMAGE",
    help="Bring your own service: COMMAND in place of the stand-in's SERVICE (local stack), or "
    "IMAGE / compose:FILE in place of the compose service's image (compose stack). Repeatable.",
)
@click.option(
    "--demo-version",
    type=click.Choice(DEMO_VERSIONS),
    default=None,
    help=f"Reference stack: the demo release it impersonates (default {DEFAULT_DEMO_VERSION}).",
)
@click.option(
    "--registry",
    "registry_dir",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Telemetry registry the conformance check reads (demo 3.0.0: its telemetry-schema/); "
    "a compose stack finds telemetry-schema/ beside its compose files.",
)
@click.option(
    "--registry-dependency",
    "registry_dependency",
    default=None,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="The registry's dependency: semantic-conventions v1.40.0 model/ for demo 3.0.0.",
)
@click.argument("pytest_args", nargs=-1, type=click.UNPROCESSED)
def command(
    stack: str,
    compose: tuple[str, ...],
    frontend_url: str | None,
    report_dir: str,
    keep: bool,
    replacements: tuple[str, ...],
    demo_version: str | None,
    registry_dir: Path | None,
    registry_dependency: Path | None,
    pytest_args: tuple[str, ...],
) -> None:
    """Run the main job: start the stack tier by tier with live progress, drive the shop,
    verify call chains, startup order, contracts and, given a registry, the telemetry's
    conformance to it (the bundled suite), write the HTML
    report, print a summary and stop the stack. Exits 0 only if everything passed.

    Extra arguments go to pytest (e.g. `tracebed demo -- -k checkout -x`).

    \b
    Example:
      tracebed demo -- -k checkout

    \b
    With demo 3.0.0's registry (the conformance check):
      tracebed demo --registry opentelemetry-demo/telemetry-schema \\
        --registry-dependency semantic-conventions-1.40.0/model
    """
    for item in replacements:  # refused here (exit 2), as `up` refuses them, not by pytest
        why = validate.CHECKS["replace"](item) or validate.replacement_problem(item, stack)
        if why:
            raise BadInput(f"--replace {why}")
    if stack == "local" or (stack == "compose" and not compose):
        extras.require("reference")  # the stand-in: one line before any test runs
    report = Path(report_dir)
    args = [
        "--pyargs",
        SUITE,
        "-p",
        "no:cacheprovider",
        f"--tracebed-stack={stack}",
        f"--tracebed-report={report}",
        f"--junitxml={report / 'junit.xml'}",
        "-o",
        "console_output_style=classic",
        "-q",
        "-W",
        "ignore::pytest.PytestAssertRewriteWarning",  # this process imported tracebed first
    ]
    args += [f"--tracebed-compose={path}" for path in compose]
    if frontend_url:
        args.append(f"--tracebed-frontend-url={frontend_url}")
    args += [f"--tracebed-replace={item}" for item in replacements]
    if keep:
        args.append("--tracebed-keep-stack")
    if demo_version:
        args.append(f"--tracebed-demo-version={demo_version}")
    if registry_dir is not None:
        args.append(f"--tracebed-registry={registry_dir.resolve()}")
    if registry_dependency is not None:
        args.append(f"--tracebed-registry-dependency={registry_dependency.resolve()}")
    args += list(pytest_args)
    summary = _Summary()
    code = int(pytest.main(args, plugins=[summary]))
    _print_summary(Console(stderr=False), summary, report, code)
    raise SystemExit(code)
