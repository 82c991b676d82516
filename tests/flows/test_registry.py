"""The one flow registry: the task mixes, `tracebed record` and the bundled suite all read it."""

from __future__ import annotations

from unittest import mock

import pytest

from tracebed.contracts import load_contracts
from tracebed.errors import ConfigError
from tracebed.flows.client import ShopClient
from tracebed.flows.registry import FLOWS, RECORDED_FLOWS, get_flow, run_flow
from tracebed.flows.tasks import ALL_TASKS, BROWSER_TASKS, TASK_MIXES
from tracebed.paths import fixtures_dir, release_versions
from tracebed.regress import record


def test_the_task_mixes_name_load_generator_tasks_of_the_registry() -> None:
    for version, mix in TASK_MIXES.items():
        for name in mix:
            assert FLOWS[name].kind == "task", (version, name)
    assert set(BROWSER_TASKS) == {"open_cart_page_and_change_currency", "add_product_to_cart"}
    assert set(ALL_TASKS) == set(TASK_MIXES["2.2.0"]) | BROWSER_TASKS


def test_record_records_the_shape_stable_flows_in_order() -> None:
    assert RECORDED_FLOWS == (
        "index",
        "browse_product",
        "get_recommendations",
        "get_ads",
        "view_cart",
        "add_to_cart",
        "checkout",
        "checkout_multi",
    )
    from tracebed.cli.record import DEFAULT_FLOWS

    assert DEFAULT_FLOWS == RECORDED_FLOWS


def test_every_contract_flow_is_a_registry_flow() -> None:
    # search_products is the suite's one direct gRPC call (no frontend route reaches it).
    named = {
        flow
        for release in release_versions("contracts")
        for c in load_contracts(fixtures_dir() / "contracts" / release).values()
        for op in c.operations.values()
        for flow in op.flows
    }
    assert named, "the contracts name no flows"
    assert named - set(FLOWS) == {"search_products"}


@pytest.mark.parametrize("name", list(FLOWS))
def test_every_driver_calls_the_shop_client_as_it_is(name: str) -> None:
    # An autospec mock checks each call against ShopClient's real signature.
    shop = mock.create_autospec(ShopClient, instance=True)
    run_flow(shop, name)
    assert shop.mock_calls, name


def test_drivers_pin_what_changes_a_trace_s_shape() -> None:
    shop = mock.create_autospec(ShopClient, instance=True)
    get_flow("get_ads").drive(shop)
    shop.get_ads.assert_called_once_with("telescopes")
    get_flow("place_order").drive(shop)  # the order is placed by a whole checkout
    shop.checkout.assert_called_once_with()
    get_flow("get_image").drive(shop)
    assert shop.get.call_args.kwargs["task"] == "get_image"


def test_an_unknown_flow_is_a_config_error_naming_the_known_ones() -> None:
    with pytest.raises(ConfigError, match="unknown flow 'chekout'; known: add_product_to_cart"):
        get_flow("chekout")


def test_record_runs_registry_flows_and_a_custom_client_s_own() -> None:
    class Custom:
        def __init__(self) -> None:
            self.calls: list[str] = []

        def get_ads(self, category: str) -> str:
            self.calls.append(f"get_ads({category})")
            return "ads"

        def my_flow(self) -> str:
            self.calls.append("my_flow")
            return "mine"

    client = Custom()
    assert record.run_flow(client, "get_ads") == "ads"
    assert record.run_flow(client, "my_flow") == "mine"
    assert client.calls == ["get_ads(telescopes)", "my_flow"]
    with pytest.raises(record.RecordError, match="no flow '_private'"):
        record.run_flow(client, "_private")
