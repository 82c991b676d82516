"""`tracebed topology --reference`: the built-in stack's shape, and what it leaves out."""

from __future__ import annotations

import json

from click.testing import CliRunner

from tracebed.cli import cli


def test_reference_topology_names_what_it_leaves_out() -> None:
    result = CliRunner().invoke(cli, ["topology", "--reference", "--format", "json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert set(document["absent"]) == {"jaeger", "grafana", "opensearch"}
    assert "frontend-proxy" in document["services"]
    assert document["tiers"][-1] == ["frontend-proxy"]
    assert not set(document["absent"]) & set(document["services"])
    text = CliRunner().invoke(cli, ["topology", "--reference"])
    assert "left out of this stack:" in text.output and "- jaeger:" in text.output
