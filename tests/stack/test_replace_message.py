"""`Topology.replace` (bring your own command, local stack) on a service that runs from an image."""

from __future__ import annotations

import pytest

from tracebed.stack import Topology, TopologyError


def test_an_image_service_points_to_the_compose_paths_replace() -> None:
    topology = Topology.from_spec({"services": {"payment": {"image": "demo:payment"}}})
    with pytest.raises(TopologyError) as info:
        topology.replace("payment", "node index.js")
    message = str(info.value)
    assert "\n" not in message
    # what the compose path takes (README, `tracebed up --help`), not a compose file to write
    assert "--replace payment=IMAGE" in message
    assert "payment=compose:FILE" in message
    assert "--stack compose" in message
    assert topology.services["payment"].replaced_by is None


def test_a_process_service_takes_the_command() -> None:
    topology = Topology.from_spec({"services": {"payment": {"command": ["true"]}}})
    topology.replace("payment", "node index.js")
    assert topology.services["payment"].command == ["node", "index.js"]
