"""`tracebed topology --reference`: the built-in stack's shape, and what it leaves out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tracebed.cli import cli


def test_reference_topology_names_what_it_leaves_out() -> None:
    args = ["topology", "--reference", "--demo-version", "2.0.2"]
    result = CliRunner().invoke(cli, [*args, "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["absent"]) == {"jaeger", "grafana", "opensearch"}
    assert "frontend-proxy" in document["services"]
    assert document["tiers"][-1] == ["frontend-proxy"]
    assert not set(document["absent"]) & set(document["services"])
    text = CliRunner().invoke(cli, args)
    assert "left out of this stack:" in text.output and "- jaeger:" in text.output


def test_reference_topology_defaults_to_3_0_0() -> None:
    result = CliRunner().invoke(cli, ["topology", "--reference", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    # 3.0.0's stand-in adds astronomy-db and leaves out 3.0.0's new opamp-server
    assert "astronomy-db" in document["services"]
    assert "opamp-server" in document["absent"]
    old = CliRunner().invoke(cli, ["topology", "--reference", "--demo-version", "2.0.2"])
    assert "astronomy-db" not in old.output


def test_unknown_demo_version_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["topology", "--reference", "--demo-version", "2.1.0"])
    assert result.exit_code == 2
    assert "'2.1.0' is not one of '3.0.0', '2.0.2'" in result.output
