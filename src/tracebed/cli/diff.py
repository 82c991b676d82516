"""`tracebed diff BASE CURRENT`: what changed between two recordings (or OTLP/JSON traces)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from tracebed.cli._params import BadInput
from tracebed.errors import ConfigError
from tracebed.regress.diff import diff_sets, diff_shapes, render_changes
from tracebed.regress.files import ShapeLoadError, load_shapes
from tracebed.regress.shape import DEFAULT_STABLE_KEYS


class DiffError(ConfigError, BadInput):
    """Bad input: exit 2, as diff(1) does, so that 1 keeps meaning "they differ"."""


@click.command("diff")
@click.argument("base", type=click.Path(path_type=Path))
@click.argument("current", type=click.Path(path_type=Path))
@click.option("--counts", is_flag=True, help="Also report how often repeated spans occur.")
@click.option(
    "--no-values", is_flag=True, help="Ignore the values of stable keys (rpc.method, ...)."
)
@click.option(
    "--stable-key",
    "stable_keys",
    multiple=True,
    help="Keys whose values count as stable for OTLP/JSON inputs (repeatable; default: the "
    "protocol keys rpc.*, http.method/route/status, messaging.*, db.system ...).",
)
@click.option(
    "--renames",
    "renames_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A YAML/JSON mapping of attribute keys renamed from BASE to CURRENT (old: new), "
    "on top of the renames the diff finds itself.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the changes as JSON.")
def command(
    base: Path,
    current: Path,
    counts: bool,
    no_values: bool,
    stable_keys: tuple[str, ...],
    renames_file: Path | None,
    as_json: bool,
) -> None:
    """List what changed from BASE to CURRENT; exit 1 if anything did, 2 on bad input.

    BASE and CURRENT are recording directories (`tracebed record`), single
    `<flow>.shape.json` files, or OTLP/JSON trace files as the sink's
    `GET /api/traces/{id}` and the report write them. Directories are paired by
    flow name; two single files are compared directly.

    \b
    Example:
      tracebed diff baseline/ current/
    """
    keys = stable_keys or DEFAULT_STABLE_KEYS
    renames = _renames(renames_file) if renames_file else None
    try:
        left = load_shapes(base, keys)
        right = load_shapes(current, keys)
    except ShapeLoadError as exc:
        raise DiffError(str(exc)) from None
    if base.is_file() and current.is_file() and len(left) == 1 and len(right) == 1:
        (name_l, shape_l), (name_r, shape_r) = next(iter(left.items())), next(iter(right.items()))
        name = name_l if name_l == name_r else f"{name_l} vs {name_r}"
        changes = diff_shapes(
            shape_l, shape_r, flow=name, counts=counts, values=not no_values, renames=renames
        )
    else:
        changes = diff_sets(left, right, counts=counts, values=not no_values, renames=renames)
    if as_json:
        click.echo(json.dumps([c.as_dict() for c in changes], indent=2))
    else:
        click.echo(render_changes(changes))
    if changes:
        raise SystemExit(1)


def _renames(path: Path) -> dict[str, str]:
    """`old: new` pairs from a YAML (or JSON) file; one clear error otherwise."""
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise DiffError(f"{path}: cannot read the renames: {exc}") from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise DiffError(f"{path}: renames must be a mapping of old key to new key (strings)")
    return dict(data)
