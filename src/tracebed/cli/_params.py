"""Parameter types, output helpers and exit codes shared by every `tracebed` command.

Exit codes, the same for every command: 0 ok; 1 a check failed (an assertion, a call chain, a
contract, a difference, a stack that did not come up); 2 bad input or usage (options, files,
selectors, names, a port that cannot be had): the command could not run what was asked.
"""

from __future__ import annotations

from pathlib import Path

import click

EXIT_CODES = "Exit codes: 0 ok, 1 a check failed, 2 bad input or usage."


class BadInput(click.ClickException):
    """The command cannot run what was asked (exit 2); exit 1 stays "a check failed"."""

    exit_code = 2


#: `--json`: one JSON object on stdout instead of the text (exit codes unchanged).
JSON_OPTION = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object on stdout instead of text."
)

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
        raise BadInput(f"cannot write {path}: {exc.strerror or exc}") from None
