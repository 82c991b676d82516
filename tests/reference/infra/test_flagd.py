"""flagd (OFREP over the flag file) and flagd-ui (switches default variants), as processes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests
from openfeature.contrib.provider.ofrep import OFREPProvider

from tests.reference.infra.launcher import Launcher


def _ofrep(spec: dict[str, Any], key: str, body: Any = None) -> requests.Response:
    base = spec["x-tracebed-stack"]["flagd_ofrep_url"]
    return requests.post(f"{base}/ofrep/v1/evaluate/flags/{key}", json=body, timeout=5)


def _ui(spec: dict[str, Any]) -> str:
    return spec["services"]["flagd-ui"]["x-tracebed"]["endpoints"]["http"]


def test_ofrep_evaluates_the_demo_defaults(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("flagd")
    r = _ofrep(spec, "paymentFailure", {"context": {}})
    assert r.status_code == 200
    assert r.json() == {
        "key": "paymentFailure",
        "value": 0.0,
        "reason": "STATIC",
        "variant": "off",
        "metadata": {},
    }
    assert isinstance(r.json()["value"], float)  # fractional variants: always a float
    assert _ofrep(spec, "kafkaQueueProblems").json()["value"] == 0
    assert _ofrep(spec, "adFailure", {}).json()["value"] is False


def test_ofrep_errors(spec: dict[str, Any], launch: Callable[..., Launcher]) -> None:
    launch("flagd")
    r = _ofrep(spec, "noSuchFlag", {})
    assert r.status_code == 404
    assert r.json()["errorCode"] == "FLAG_NOT_FOUND"
    base = spec["x-tracebed-stack"]["flagd_ofrep_url"]
    bad = requests.post(f"{base}/ofrep/v1/evaluate/flags/adFailure", data=b"{nope", timeout=5)
    assert bad.status_code == 400 and bad.json()["errorCode"] == "PARSE_ERROR"
    ctx = _ofrep(spec, "adFailure", {"context": ["not", "an", "object"]})
    assert ctx.status_code == 400 and ctx.json()["errorCode"] == "INVALID_CONTEXT"


def test_file_changes_are_seen_by_the_next_evaluation(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("flagd")
    flag_file = Path(spec["x-tracebed-stack"]["flag_file"])
    doc = json.loads(flag_file.read_text())
    doc["flags"]["paymentFailure"]["defaultVariant"] = "90%"
    flag_file.write_text(json.dumps(doc))
    r = _ofrep(spec, "paymentFailure", {})
    assert (r.json()["variant"], r.json()["value"]) == ("90%", 0.95)
    # a broken file keeps the last good flags
    flag_file.write_text("{ not json")
    assert _ofrep(spec, "paymentFailure", {}).json()["value"] == 0.95


def test_bulk_evaluation_with_etag(spec: dict[str, Any], launch: Callable[..., Launcher]) -> None:
    launch("flagd")
    base = spec["x-tracebed-stack"]["flagd_ofrep_url"]
    r = requests.post(f"{base}/ofrep/v1/evaluate/flags", json={"context": {}}, timeout=5)
    assert r.status_code == 200
    flags = {f["key"]: f for f in r.json()["flags"]}
    assert len(flags) == 11 and flags["imageSlowLoad"]["value"] == 0
    again = requests.post(
        f"{base}/ofrep/v1/evaluate/flags",
        json={},
        headers={"If-None-Match": r.headers["ETag"]},
        timeout=5,
    )
    assert again.status_code == 304


def test_openfeature_ofrep_provider_interoperates(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("flagd")
    provider = OFREPProvider(spec["x-tracebed-stack"]["flagd_ofrep_url"])
    assert provider.resolve_float_details("paymentFailure", 1.0).value == 0.0
    assert provider.resolve_integer_details("loadGeneratorFloodHomepage", 7).value == 0
    res = provider.resolve_boolean_details("cartFailure", True)
    assert (res.value, res.variant) == (False, "off")


def test_flagd_ui_switches_variants_that_flagd_then_serves(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("flagd-ui")  # and flagd, its dependency
    ui = _ui(spec)
    listing = requests.get(f"{ui}/api/flags", timeout=5).json()["flags"]
    assert listing["cartFailure"]["defaultVariant"] == "off"
    r = requests.post(f"{ui}/api/flags/cartFailure", json={"defaultVariant": "on"}, timeout=5)
    assert r.status_code == 200 and r.json()["defaultVariant"] == "on"
    assert _ofrep(spec, "cartFailure", {}).json()["value"] is True
    page = requests.get(ui, timeout=5)
    assert page.status_code == 200 and 'name="cartFailure"' in page.text


def test_flagd_ui_rejects_bad_input(spec: dict[str, Any], launch: Callable[..., Launcher]) -> None:
    launch("flagd-ui")
    ui = _ui(spec)
    unknown = requests.post(f"{ui}/api/flags/nope", json={"defaultVariant": "on"}, timeout=5)
    assert unknown.status_code == 404 and "nope" in unknown.json()["error"]
    bad = requests.post(f"{ui}/api/flags/cartFailure", json={"defaultVariant": "maybe"}, timeout=5)
    assert bad.status_code == 400 and "maybe" in bad.json()["error"]
    shape = requests.post(f"{ui}/api/flags/cartFailure", json=["on"], timeout=5)
    assert shape.status_code == 400
    doc = requests.post(f"{ui}/api/write-to-file", json={"data": {"flags": 3}}, timeout=5)
    assert doc.status_code == 400


def test_flagd_ui_demo_compatible_read_and_write(
    spec: dict[str, Any], launch: Callable[..., Launcher]
) -> None:
    launch("flagd-ui")
    ui = _ui(spec)
    doc = requests.get(
        f"{ui}/api/read-file", params={"file_name": "demo.flagd.json"}, timeout=5
    ).json()
    doc["flags"]["adFailure"]["defaultVariant"] = "on"
    r = requests.post(f"{ui}/api/write-to-file", json={"data": doc}, timeout=5)
    assert r.json() == {"message": "File written successfully"}
    assert _ofrep(spec, "adFailure", {}).json()["value"] is True
