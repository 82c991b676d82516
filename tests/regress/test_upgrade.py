"""The demo upgrade 2.0.2 -> 3.0.0, as `tracebed diff` names it flow by flow.

`data/upgrade/<release>/` are `tracebed record` runs against the stand-in in each mode
(`TRACEBED_DEMO_VERSION=<release> tracebed up -d; tracebed record DIR`, twice per stack for
`<release>-again`). `expected-changes.json` pins the whole change list; the checks below say
why it is right: renames as renames (agreeing with the release's rename table), the new DB
spans, the spans the collector renames, and nothing between two runs of one release.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracebed.regress.diff import Change, ChangeKind, diff_sets, pair_renamed_keys
from tracebed.regress.files import load_shapes
from tracebed.regress.shape import demo_span_name

DATA = Path(__file__).resolve().parent / "data" / "upgrade"


def changes(base: str, current: str) -> list[Change]:
    return diff_sets(load_shapes(DATA / base), load_shapes(DATA / current))


@pytest.fixture(scope="module")
def upgrade() -> list[Change]:
    return changes("2.0.2", "3.0.0")


def of(found: list[Change], kind: ChangeKind, flow: str | None = None) -> list[str]:
    return [c.detail for c in found if c.kind is kind and (flow is None or c.flow == flow)]


def test_the_change_list_is_pinned(upgrade: list[Change]) -> None:
    expected = json.loads((DATA / "expected-changes.json").read_text(encoding="utf-8"))
    assert [c.as_dict() for c in upgrade] == expected


@pytest.mark.parametrize("release", ["2.0.2", "3.0.0"])
def test_two_runs_of_one_release_differ_in_nothing(release: str) -> None:
    assert changes(release, f"{release}-again") == []


def test_renamed_attributes_are_renames_as_the_release_renamed_them(
    upgrade: list[Change],
) -> None:
    versions = pytest.importorskip("tracebed.reference.versions")
    table: dict[str, str | None] = versions.ATTRIBUTE_RENAMES["3.0.0"]
    renamed = [d.split(" (")[0].split(",")[0] for d in of(upgrade, ChangeKind.ATTRIBUTE_RENAMED)]
    pairs = {tuple(r.split(" -> ")) for r in renamed}
    assert pairs, "no attribute renames found"
    for old, new in pairs:
        assert table.get(old) == new, f"{old} -> {new} is not a rename of the release"
    # No renamed key shows up as removed where its new name was added (removal + addition).
    added = {
        (c.flow, c.where, c.detail.split(" (")[0])
        for c in upgrade
        if c.kind.value == "attribute added"
    }
    split = [
        c
        for c in upgrade
        if c.kind is ChangeKind.ATTRIBUTE_REMOVED
        and (c.flow, c.where, table.get(c.detail.split(" (")[0])) in added
    ]
    assert not split, split
    removed = {d.split(" (")[0] for d in of(upgrade, ChangeKind.ATTRIBUTE_REMOVED)}
    # ... and the keys 3.0.0 dropped are removals: shipping's and email's (demo-facts-3.0 §5.4).
    assert {"app.shipping.zip_code", "app.email.recipient"} <= removed
    assert {("app.user.id", "user.id"), ("app.currency.conversion.from", "demo.exchange.from")} <= (
        pairs
    )


def test_new_spans_renamed_spans_and_protocol_changes(upgrade: list[Change]) -> None:
    # product-catalog reads PostgreSQL at 3.0.0: a DB client span under each GetProduct.
    added = of(upgrade, ChangeKind.SPAN_ADDED, "browse_product")
    assert added == ["product-catalog: {server.address} [client]"]
    renamed = of(upgrade, ChangeKind.SPAN_RENAMED, "checkout")
    # The 3.0.0 collector's set_semconv_span_name (demo-facts-3.0 §5.2) ...
    assert "'orders publish' -> 'publish orders' (checkout)" in renamed
    assert "'Currency/Convert' -> 'oteldemo.CurrencyService/Convert' (currency)" in renamed
    assert "'EXPIRE | HMSET' -> '{server.address}:{server.port}' (cart)" in renamed
    # ... and Envoy's `ingress`, one span per request, now named by its method.
    assert "'ingress' -> 'GET | POST' (frontend-proxy)" in renamed
    # shipping serves HTTP at 3.0.0.
    assert "'oteldemo.ShippingService/GetQuote' -> 'POST /get-quote' (shipping)" in renamed
    edges = of(upgrade, ChangeKind.EDGE_ADDED, "checkout") + of(
        upgrade, ChangeKind.EDGE_REMOVED, "checkout"
    )
    assert "checkout -> shipping (http)" in edges and "checkout -> shipping (rpc)" in edges


def test_key_pairing_prefers_the_explicit_map_and_keeps_protocols_apart() -> None:
    removed = {"app.ads.count": "int", "rpc.method": "string", "legacy.size": "int"}
    added = {"demo.ad.count": "int", "http.request.method": "string", "demo.volume": "int"}
    assert pair_renamed_keys(removed, added) == [("app.ads.count", "demo.ad.count")]
    assert pair_renamed_keys(removed, added, {"legacy.size": "demo.volume"}) == [
        ("app.ads.count", "demo.ad.count"),
        ("legacy.size", "demo.volume"),
    ]


def test_run_time_addresses_are_placeholders_in_span_names() -> None:
    assert demo_span_name("127.0.0.1:25386") == "{server.address}:{server.port}"
    assert demo_span_name("127.0.0.1") == "{server.address}"
    assert demo_span_name("valkey-cart:6379") == "valkey-cart:6379"  # a name, not an address
