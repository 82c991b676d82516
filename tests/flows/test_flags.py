"""FlagSwitch against the stand-in's flagd-ui and flagd (OFREP), served in this process.

What it writes must be what the demo's flagd-ui toggle writes (demo-facts-3.0 §8.2, §8.4):
the `if` rule's then-branch for 3.0.0's productCatalogFailure, `defaultVariant` for the rest.
"""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from tracebed.flows.flags import FlagError, FlagSwitch, switch_context, switched_variant
from tracebed.reference.flagd import flagfile
from tracebed.reference.flagd import server as flagd_server
from tracebed.reference.flagd import ui as flagd_ui
from tracebed.reference.flagd.evaluation import FlagStore


def _serve(app: Any) -> tuple[str, Any]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.port}", server


@pytest.fixture(params=["3.0.0", "2.0.2"])
def stand_in(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[FlagSwitch, Path]]:
    path = tmp_path / "demo.flagd.json"
    shutil.copyfile(flagfile.bundled_flag_file(request.param), path)
    ui_url, ui = _serve(flagd_ui.create_app(path))
    ofrep_url, flagd = _serve(flagd_server.create_app(FlagStore(path)))
    try:
        yield FlagSwitch(f"{ui_url}/feature", ofrep_url, apply_timeout=5.0), path
    finally:
        ui.shutdown()
        flagd.shutdown()


def ofrep(switch: FlagSwitch, key: str, context: dict[str, Any]) -> dict[str, Any]:
    response = requests.post(
        f"{switch.ofrep_url}/ofrep/v1/evaluate/flags/{key}", json={"context": context}, timeout=5
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def release(path: Path) -> str:
    targeted = json.loads(path.read_text())["flags"]["productCatalogFailure"].get("targeting")
    return "3.0.0" if targeted else "2.0.2"


def test_product_catalog_failure_is_switched_as_the_flag_file_needs(
    stand_in: tuple[FlagSwitch, Path],
) -> None:
    switch, path = stand_in
    before = json.loads(path.read_text())["flags"]["productCatalogFailure"]
    target = {"product_id": "OLJCESPC7Z"}
    with switch.switched(productCatalogFailure="on"):
        written = json.loads(path.read_text())["flags"]["productCatalogFailure"]
        if release(path) == "3.0.0":
            # The then-branch, as flagd-ui's toggle; the default variant stays "off".
            assert written["targeting"]["if"] == [before["targeting"]["if"][0], "on", "off"]
            assert written["defaultVariant"] == "off"
            # flagd: on for the one product, off for any other and without a product.
            assert ofrep(switch, "productCatalogFailure", target)["value"] is True
            assert (
                ofrep(switch, "productCatalogFailure", {"product_id": "66VCHSJNUP"})["value"]
                is False
            )
            assert ofrep(switch, "productCatalogFailure", {})["value"] is False
        else:
            assert written["defaultVariant"] == "on"
            assert ofrep(switch, "productCatalogFailure", target)["value"] is True
        assert switch.variants()["productCatalogFailure"][0] == "on"
        switch.set(productCatalogFailure="off")  # as a test's switch_off does
        assert ofrep(switch, "productCatalogFailure", target)["value"] is False
        switch.set(productCatalogFailure="on")
    # Restored: the file as it was, and flagd answers off for the product again.
    assert json.loads(path.read_text())["flags"]["productCatalogFailure"] == before
    assert ofrep(switch, "productCatalogFailure", target)["value"] is False
    assert switch.variants()["productCatalogFailure"][0] == "off"


def test_flags_without_targeting_switch_their_default_variant(
    stand_in: tuple[FlagSwitch, Path],
) -> None:
    switch, path = stand_in
    with switch.switched(paymentFailure="50%", adFailure="on"):
        flags = json.loads(path.read_text())["flags"]
        assert flags["paymentFailure"]["defaultVariant"] == "50%"
        assert "targeting" not in flags["paymentFailure"]
        assert ofrep(switch, "paymentFailure", {})["value"] == 0.5
        assert ofrep(switch, "adFailure", {})["value"] is True
    assert ofrep(switch, "paymentFailure", {})["value"] == 0
    with pytest.raises(FlagError, match="no variant 'maybe'"):
        switch.set(adFailure="maybe")
    with pytest.raises(FlagError, match="unknown flag 'nope'"):
        switch.set(nope="on")


def test_the_stand_in_ui_toggle_writes_the_then_branch(stand_in: tuple[FlagSwitch, Path]) -> None:
    """flagd-ui's own per-flag toggle follows the same rule as the switch."""
    switch, path = stand_in
    response = requests.post(
        f"{switch.ui_url}/api/flags/productCatalogFailure",
        json={"defaultVariant": "on"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    flag = json.loads(path.read_text())["flags"]["productCatalogFailure"]
    assert switched_variant(flag) == "on"
    if release(path) == "3.0.0":
        assert flag["defaultVariant"] == "off"
        assert flag["targeting"]["if"][1:] == ["on", "off"]
    assert ofrep(switch, "productCatalogFailure", {"product_id": "OLJCESPC7Z"})["value"] is True


def test_switch_context_reads_var_equals_literal_conditions() -> None:
    def flag(condition: Any) -> dict[str, Any]:
        return {"targeting": {"if": [condition, "on", "off"]}, "defaultVariant": "off"}

    product = {"var": "product_id"}
    assert switch_context(flag({"==": [product, "OLJCESPC7Z"]})) == {"product_id": "OLJCESPC7Z"}
    assert switch_context(flag({"==": ["OLJCESPC7Z", product]})) == {"product_id": "OLJCESPC7Z"}
    assert switch_context(flag({"in": ["x", product]})) is None
    assert switch_context({"defaultVariant": "off"}) == {}
    # An `if` with more than one condition is not a toggle's then-branch: defaultVariant.
    chained = {
        "targeting": {"if": [{"==": [product, "a"]}, "on", {"==": [product, "b"]}, "on", "off"]},
        "defaultVariant": "off",
    }
    assert switch_context(chained) == {}
    assert switched_variant(chained) == "off"
