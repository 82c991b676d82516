"""Flow data: identities and products, from the reference stack's files or the shipped ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tracebed.flows import data


def test_default_people_have_the_load_generator_shape() -> None:
    people = data.load_people()
    assert people and all(
        set(p) >= {"email", "address", "userCurrency", "creditCard"} for p in people
    )
    shipped = data.load_people(data.FLOW_DATA / "people.json")
    assert all(p["creditCard"]["creditCardExpirationYear"] == 2039 for p in shipped)


def test_products_and_names() -> None:
    assert set(data.load_product_ids()) >= set(data.LOADGEN_PRODUCTS)
    assert data.product_by_name("Roof Binoculars") == ("2ZYFJ3GM2N", ("binoculars",))
    with pytest.raises(LookupError, match="no product named"):
        data.product_by_name("Moon Rock")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "cannot read flow data"),
        ("[]", "non-empty JSON list"),
        ('[{"email": "a@b"}]', "missing address, userCurrency, creditCard"),
        (
            '[{"email": "a", "address": 1, "userCurrency": "USD", "creditCard": {}}]',
            "must be objects",
        ),
    ],
)
def test_bad_people_files(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "people.json"
    path.write_text(content)
    with pytest.raises(data.FlowDataError, match=message):
        data.load_people(path)


def test_bad_product_file(tmp_path: Path) -> None:
    path = tmp_path / "products.json"
    path.write_text(json.dumps({"products": [{"name": "x"}]}))
    with pytest.raises(data.FlowDataError, match="no string 'id'"):
        data.load_product_ids(path)
    path.write_text(json.dumps({"products": [{"id": "P1"}, {"id": "P2"}]}))
    assert data.load_product_ids(path) == ["P1", "P2"]
