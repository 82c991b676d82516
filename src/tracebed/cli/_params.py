"""Parameter types and output helpers shared by every `tracebed` command (one check per job)."""

from __future__ import annotations

from pathlib import Path

import click

#: A TCP port; 0 asks for any free one. gRPC would silently take a wrapped value of 99999.
PORT = click.IntRange(0, 65535)

#: A count that must be at least one (span bounds and the like).
POSITIVE = click.IntRange(min=1)


def write_output(path: Path, text: str) -> None:
    """Write a command's output file, creating its parent directories; one-line error if not."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
