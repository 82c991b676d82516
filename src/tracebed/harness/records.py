"""Stacks on record: what `tracebed up --detach` (or a live `up`) left for other commands."""

from __future__ import annotations

from dataclasses import dataclass

from tracebed.stack.state import list_records


@dataclass(frozen=True)
class RecordedStack:
    """A running stack as its run record describes it."""

    run_id: str
    frontend_url: str
    #: the HTTP API of its sink, when it had one
    sink_url: str | None = None
    #: its flag service's OFREP endpoint, when it has one
    ofrep_url: str | None = None


def stacks_on_record() -> list[RecordedStack]:
    """The stacks on record that are still up (detached, or their owner still runs) and have
    a front door, oldest first."""
    out = []
    for record in list_records():
        front = record.info.get("frontend_url")
        if not front or not (record.detached or record.owner_alive()):
            continue
        sink = record.info.get("sink") or {}
        flagd = (record.info.get("services") or {}).get("flagd") or {}
        ofrep = (flagd.get("endpoints") or {}).get("ofrep")
        out.append(
            RecordedStack(
                run_id=record.run_id,
                frontend_url=str(front),
                sink_url=str(sink["http"]) if sink.get("http") else None,
                ofrep_url=str(ofrep) if ofrep else None,
            )
        )
    return out
