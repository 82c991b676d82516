"""The data the shop flows choose from: product ids, ad categories, checkout identities.

Products and people come from the reference stack's own data files when they are there
(`tracebed/reference/data/products.json`, `people.json`), so the flows and the stand-in agree;
otherwise from the load generator's product list and the small identity file shipped here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from tracebed import demo_data
from tracebed.errors import ConfigError

_HERE = Path(__file__).resolve().parent
REFERENCE_DATA = _HERE.parent / "reference" / "data"
FLOW_DATA = _HERE / "data"

# The load generator's products, ad categories (None: no contextKeys, random ads) and
# quantities: held once in tracebed.demo_data, shared with the reference stack's load generator.
LOADGEN_PRODUCTS = demo_data.PRODUCTS
LOADGEN_CATEGORIES = demo_data.CATEGORIES
QUANTITIES = demo_data.QUANTITIES

_PERSON_KEYS = ("email", "address", "userCurrency", "creditCard")


class FlowDataError(ConfigError, ValueError):
    """A flow data file is missing a field or has the wrong shape."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise FlowDataError(f"cannot read flow data {path}: {exc}") from exc


def validate_person(person: Mapping[str, Any], where: str = "person") -> dict[str, Any]:
    """Check a checkout identity has the load generator's shape; return a plain copy."""
    if not isinstance(person, Mapping):
        raise FlowDataError(f"{where}: expected an object, got {type(person).__name__}")
    missing = [key for key in _PERSON_KEYS if key not in person]
    if missing:
        raise FlowDataError(
            f"{where}: missing {', '.join(missing)} (needs {', '.join(_PERSON_KEYS)})"
        )
    if not isinstance(person["address"], Mapping) or not isinstance(person["creditCard"], Mapping):
        raise FlowDataError(f"{where}: address and creditCard must be objects")
    return json.loads(json.dumps(person))  # deep copy, JSON-safe


def load_people(path: Path | None = None) -> list[dict[str, Any]]:
    """Checkout identities from `path`, else the reference stack's file, else the shipped one."""
    if path is None:
        path = REFERENCE_DATA / "people.json"
        if not path.is_file():
            path = FLOW_DATA / "people.json"
    data = _read_json(path)
    if not isinstance(data, list) or not data:
        raise FlowDataError(f"{path}: expected a non-empty JSON list of people")
    return [validate_person(p, f"{path}[{i}]") for i, p in enumerate(data)]


def load_product_ids(path: Path | None = None) -> list[str]:
    """Product ids from a catalog file (`{"products": [{"id": ...}]}`), else the load generator's."""
    if path is None:
        path = REFERENCE_DATA / "products.json"
        if not path.is_file():
            return list(LOADGEN_PRODUCTS)
    data = _read_json(path)
    products = data.get("products") if isinstance(data, Mapping) else data
    if not isinstance(products, list) or not products:
        raise FlowDataError(f"{path}: expected {{'products': [...]}} with at least one product")
    ids: list[str] = []
    for i, product in enumerate(products):
        if not isinstance(product, Mapping) or not isinstance(product.get("id"), str):
            raise FlowDataError(f"{path}: product #{i} has no string 'id'")
        ids.append(product["id"])
    return ids


@lru_cache(maxsize=1)
def default_people() -> tuple[dict[str, Any], ...]:
    return tuple(load_people())


@lru_cache(maxsize=1)
def default_products() -> tuple[str, ...]:
    return tuple(load_product_ids())


# The product the demo's browser user clicks, for when no catalog file is at hand.
KNOWN_NAMES = {"Roof Binoculars": ("2ZYFJ3GM2N", ("binoculars",))}


def product_by_name(name: str, path: Path | None = None) -> tuple[str, tuple[str, ...]]:
    """`(id, categories)` of the catalog product called `name`."""
    path = path or REFERENCE_DATA / "products.json"
    if path.is_file():
        data = _read_json(path)
        for product in data.get("products", []) if isinstance(data, Mapping) else []:
            if isinstance(product, Mapping) and product.get("name") == name:
                return str(product["id"]), tuple(product.get("categories") or ())
    if name in KNOWN_NAMES:
        return KNOWN_NAMES[name]
    raise LookupError(f"no product named {name!r} in {path}")
