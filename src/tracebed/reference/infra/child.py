"""A wrapper's child process: the stop signals the wrapper gets are passed on to it."""

from __future__ import annotations

import signal
import subprocess
from types import FrameType
from typing import Any


def forward_stop_signals(proc: subprocess.Popen[Any], send: int | None = None) -> None:
    """SIGTERM/SIGINT to this process go to `proc` while it runs: as they came, or as `send`
    (e.g. postgres's "fast" shutdown, SIGINT, where its SIGTERM would wait for clients)."""

    def forward(signum: int, _frame: FrameType | None) -> None:
        if proc.poll() is None:
            proc.send_signal(signum if send is None else send)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
