"""Live progress while a stack starts: a table of tiers and services (rich), tty only."""

from __future__ import annotations

import sys
import threading
from typing import IO, Any

from tracebed.stack.timeline import Timeline, TimelineEvent


class LiveProgress:
    """Shows pending / starting / ready (with time) / failed per service while starting.

    Quiet (does nothing) unless the stream is a terminal, or `force` is given.
    """

    def __init__(
        self,
        tiers: list[list[str]],
        tier_names: list[str] | None = None,
        stream: IO[str] | None = None,
        force: bool = False,
    ) -> None:
        self.tiers = tiers
        self.tier_names = tier_names or [f"tier {i}" for i in range(len(tiers))]
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self._state: dict[str, tuple[str, str]] = {s: ("pending", "") for t in tiers for s in t}
        self._lock = threading.Lock()
        self._live: Any = None
        self._unsubscribe: Any = None

    def attach(self, timeline: Timeline) -> LiveProgress:
        if not self.enabled:
            return self
        from rich.console import Console
        from rich.live import Live

        console = Console(file=self.stream, force_terminal=True)
        self._live = Live(self._render(), console=console, refresh_per_second=8, transient=False)
        self._live.start()
        self._unsubscribe = timeline.subscribe(self._on_event)
        return self

    def _on_event(self, ev: TimelineEvent) -> None:
        if not ev.service or ev.service not in self._state:
            return
        with self._lock:
            if ev.kind == "start_requested":
                self._state[ev.service] = ("starting", "")
            elif ev.kind == "up":
                self._state[ev.service] = ("probing", "")
            elif ev.kind == "probe" and not ev.detail.get("ok"):
                self._state[ev.service] = ("probing", str(ev.detail.get("detail", ""))[:60])
            elif ev.kind in ("ready", "seen_ready"):
                self._state[ev.service] = ("ready", f"{ev.t:.2f}s")
            elif ev.kind == "failed":
                self._state[ev.service] = ("FAILED", str(ev.detail.get("reason", ""))[:60])
            elif ev.kind == "stopped":
                state, info = self._state[ev.service]
                self._state[ev.service] = (f"{state}, stopped", info)
        if self._live is not None:
            self._live.update(self._render())

    def _render(self) -> Any:
        from rich.table import Table

        table = Table(title="tracebed: starting stack", expand=False)
        table.add_column("tier")
        table.add_column("service")
        table.add_column("state")
        table.add_column("time / detail")
        styles = {
            "ready": "green",
            "FAILED": "bold red",
            "probing": "yellow",
            "starting": "yellow",
            "pending": "dim",
        }
        with self._lock:
            for i, tier in enumerate(self.tiers):
                for j, name in enumerate(tier):
                    state, info = self._state[name]
                    style = styles.get(state.split(",")[0], "")
                    table.add_row(
                        self.tier_names[i] if j == 0 else "",
                        name,
                        f"[{style}]{state}[/]" if style else state,
                        info,
                    )
        return table

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._live is not None:
            self._live.update(self._render())
            self._live.stop()
            self._live = None
