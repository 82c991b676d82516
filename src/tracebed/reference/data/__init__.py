"""The reference stack's own data: products, currencies, people (demo ids, prices, pictures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

DATA_DIR = Path(__file__).resolve().parent
PRODUCTS_FILE = DATA_DIR / "products.json"
CURRENCIES_FILE = DATA_DIR / "currencies.json"
PEOPLE_FILE = DATA_DIR / "people.json"


def load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise FileNotFoundError(f"reference data file missing: {path}") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"reference data file {path} is not valid JSON: {exc}") from None


def currency_rates() -> list[tuple[str, float]]:
    """(code, units per EUR) in the order GetSupportedCurrencies reports them."""
    doc = load_json(CURRENCIES_FILE)
    return [(row["code"], float(row["per_eur"])) for row in doc["rates"]]


def people() -> list[dict[str, Any]]:
    """Shoppers for checkout flows (lowerCamelCase, shaped like PlaceOrderRequest parts)."""
    result: list[dict[str, Any]] = load_json(PEOPLE_FILE)
    return result
