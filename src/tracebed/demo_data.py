"""The demo load generator's data, held once: products, ad categories, quantities, task weights.

Both the shop flows (`tracebed.flows`) and the reference stack's load generator
(`tracebed.reference.loadgen`) take these from here; it sits at the bottom of the import graph
(it imports nothing) because `reference` may not import `flows`. Values are immutable; a user
that needs a list or dict copies one.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# The product ids the demo's load generator picks from (locustfile.py at 2.0.2; 3.0.0's
# script.js keeps the list).
PRODUCTS: tuple[str, ...] = (
    "0PUK6V6EV0",
    "1YMWWN1N4O",
    "2ZYFJ3GM2N",
    "66VCHSJNUP",
    "6E92ZMYYFZ",
    "9SIQT8TOJO",
    "L9ECAV7KIM",
    "LS4PSXUNUM",
    "OLJCESPC7Z",
    "HQTGWGPNH4",
)

# Ad categories; None means "no category" (2.0.2's requests drops the contextKeys parameter,
# 3.0.0's k6 sends "None"; the shop flows send no contextKeys: random ads).
CATEGORIES: tuple[str | None, ...] = (
    "binoculars",
    "telescopes",
    "accessories",
    "assembly",
    "travel",
    "books",
    None,
)

# The quantities add_to_cart picks from.
QUANTITIES: tuple[int, ...] = (1, 2, 3, 4, 5, 10)

# task -> weight: locustfile.py at 2.0.2 (WebsiteUser); 2.1.3 keeps the same tasks and weights,
# and so does 3.0.0's script.js (they total 29).
TASK_WEIGHTS_2_0_2: Mapping[str, int] = MappingProxyType(
    {
        "index": 1,
        "browse_product": 10,
        "get_recommendations": 3,
        "get_ads": 3,
        "view_cart": 3,
        "add_to_cart": 2,
        "checkout": 1,
        "checkout_multi": 1,
        "flood_home": 5,
    }
)

# 2.2.0 adds the product-review tasks (and the backing ProductReviewService).
TASK_WEIGHTS_2_2_0: Mapping[str, int] = MappingProxyType(
    {**TASK_WEIGHTS_2_0_2, "get_product_reviews": 2, "ask_product_ai_assistant": 1}
)
