"""The `tracebed` command: a thin click group over the layers.

Each subcommand lives in its own module of this package and exposes a click
command (or group) named `command`; modules are discovered so that each layer
adds its commands without editing a shared list. Any `TracebedError` a command lets
through becomes one `Error: ...` line and exit status 1 here, in one place.
"""

from __future__ import annotations

import importlib
import pkgutil

import click

from tracebed import __version__
from tracebed.cli._params import BadInput
from tracebed.errors import ConfigError, TracebedError


class _Group(click.Group):
    """The command group; it turns tracebed's errors into click's one-line errors."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise  # already a one-line error with its own exit code (e.g. `diff`'s 2)
        except ConfigError as exc:  # bad input or usage: exit 2
            raise BadInput(str(exc)) from None
        except TracebedError as exc:
            # Every tracebed error's message is written for a person: no traceback.
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracebed")
def cli() -> None:
    """Trace-based integration testing of the OpenTelemetry Demo.

    Start the demo (or its built-in reference stand-in) tier by tier, drive
    shop flows with a trace id of tracebed's choosing, capture the spans the
    collector exports, and assert call chains, startup order and contracts.

    Exit codes, for every command: 0 ok, 1 a check failed (an assertion, a call chain, a
    contract, a difference, a stack that did not come up), 2 bad input or usage.
    """


def _register_subcommands() -> None:
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        command = getattr(module, "command", None)
        if isinstance(command, click.Command):
            cli.add_command(command)


_register_subcommands()


def main() -> None:
    from tracebed.extras import MissingExtraError

    try:
        cli()
    except MissingExtraError as exc:  # one line naming the extra, no traceback
        click.echo(f"Error: {exc}", err=True)
        raise SystemExit(1) from None
