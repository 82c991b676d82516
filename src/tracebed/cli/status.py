"""`tracebed status`: describe the stacks on record (detached, running, or abandoned)."""

from __future__ import annotations

import json
from typing import Any

import click

from tracebed.stack.state import RunRecord, list_records, proc_alive


def describe(record: RunRecord) -> dict[str, Any]:
    procs = (record.backend_state.get("processes") or {}) if record.backend == "local" else {}
    services: dict[str, Any] = {}
    for name, entry in (record.info.get("services") or record.info.get("started") or {}).items():
        item = dict(entry)
        if name in procs:
            item["pid"] = procs[name]["pid"]
            item["alive"] = proc_alive(int(procs[name]["pid"]), procs[name].get("start_time"))
        services[name] = item
    sink = dict(record.info.get("sink") or {})
    if sink.get("pid"):
        sink["alive"] = proc_alive(int(sink["pid"]), sink.get("start_time"))
    return {
        "run_id": record.run_id,
        "backend": record.backend,
        "state": "detached"
        if record.detached
        else ("running" if record.owner_alive() else "abandoned"),
        "project": record.backend_state.get("project"),
        "services": services,
        "frontend_url": record.info.get("frontend_url"),
        "sink": sink,
        "workdir": record.info.get("workdir"),
    }


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def command(as_json: bool) -> None:
    """Describe the stacks tracebed has on record (`up --detach` ones in particular).

    \b
    Example:
      tracebed status --json
    """
    runs = [describe(r) for r in list_records()]
    if as_json:
        click.echo(json.dumps({"running": bool(runs), "runs": runs}))
        return
    if not runs:
        click.echo("no stack on record")
        return
    for run in runs:
        click.echo(
            f"run {run['run_id']} [{run['backend']}, {run['state']}]"
            + (f" frontend {run['frontend_url']}" if run["frontend_url"] else "")
        )
        if run["sink"]:
            click.echo(f"  sink: {run['sink'].get('http')} (OTLP/gRPC {run['sink'].get('grpc')})")
        for name, svc in run["services"].items():
            alive = "" if "alive" not in svc else ("  up" if svc["alive"] else "  GONE")
            ready = svc.get("ready_at")
            when = f"ready at {ready:.2f}s" if isinstance(ready, int | float) else "not ready"
            click.echo(f"  tier {svc.get('tier')}: {name:<18} {when}{alive}")
