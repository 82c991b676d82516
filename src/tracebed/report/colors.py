"""Service colours: fixed for the demo's services (so every page agrees), hashed for others."""

from __future__ import annotations

import zlib

# Distinct hues for the demo's services; neighbours in a call chain get well-separated colours.
_KNOWN = {
    "load-generator": "#7f7f7f",
    "frontend-proxy": "#1f77b4",
    "frontend": "#ff7f0e",
    "frontend-web": "#ffbb78",
    "checkout": "#2ca02c",
    "cart": "#d62728",
    "product-catalog": "#9467bd",
    "currency": "#8c564b",
    "shipping": "#e377c2",
    "quote": "#bcbd22",
    "payment": "#17becf",
    "email": "#aec7e8",
    "recommendation": "#98df8a",
    "ad": "#c5b0d5",
    "accounting": "#c49c94",
    "fraud-detection": "#f7b6d2",
    "kafka": "#dbdb8d",
    "valkey-cart": "#ff9896",
    "flagd": "#9edae5",
    "image-provider": "#393b79",
    "otel-collector": "#637939",
}

TIER_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f")


def service_color(service: str) -> str:
    """A stable CSS colour for a service name."""
    known = _KNOWN.get(service)
    if known:
        return known
    # Spread hashes over the hue circle; fixed saturation/lightness keeps text readable on it.
    hue = zlib.crc32(service.encode("utf-8")) % 360
    return f"hsl({hue}, 55%, 55%)"


def tier_color(tier: int) -> str:
    return TIER_COLORS[tier % len(TIER_COLORS)]
