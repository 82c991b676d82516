"""Registry conformance benchmark: load + resolve of semconv 1.40.0 and the demo 3.0.0 registry,
and findings per second on a recorded run, each against a baseline in the same process.

Run: .venv/bin/python bench/registry.py [--spans 20000] [--rounds 5]
Prints a Markdown section; `--record` appends it to bench/RESULTS.md.
Baselines (shared, noisy machines make absolute numbers meaningless from run to run):
- load: parsing the same YAML files with the same (libyaml) loader and nothing else;
- check: the irreducible pass over the run, one registry lookup and one type per attribute.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from pathlib import Path
from typing import Any

import yaml
from rounds import heading, interleaved, report

from tracebed.model import Span
from tracebed.model.metrics import DataPoint, Metric
from tracebed.query.conformance import Checker, Policy, value_type
from tracebed.query.registry import Registry, load_registry

REFERENCE = Path(__file__).resolve().parents[1] / ".." / "shared" / "reference"
SEMCONV = (REFERENCE / "semconv-1.40.0" / "model").resolve()
DEMO = (REFERENCE / "otel-demo-3.0.0" / "telemetry-schema").resolve()

_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# What each service puts on its spans (as the 3.0.0 code does), and one planted mistake each.
SERVICES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "checkout": (
        {
            "rpc.system": "grpc",
            "rpc.method": "PlaceOrder",
            "user.id": "u-1",
            "demo.order.id": "a3f1",
            "demo.order.amount": 57.8,
            "demo.order.items.count": 3,
            "demo.shipping.tracking.id": "t-1",
            "user_agent.synthetic.type": "test",
        },
        {"demo.order.amount": "57.80"},
    ),
    "cart": (
        {"rpc.system": "grpc", "user.id": "u-1", "demo.product.id": "OLJCESPC7Z", "demo.product.quantity": 2},
        {"app.cart.items.count": 2},
    ),
    "product-catalog": (
        {"rpc.system": "grpc", "demo.product.id": "OLJCESPC7Z", "demo.product.name": "Telescope"},
        {"http.method": "GET"},
    ),
    "frontend": (
        {
            "http.request.method": "GET",
            "http.response.status_code": 200,
            "url.path": "/api/products",
            "server.address": "frontend",
            "session.id": "s-1",
        },
        {"http.request.method": "BREW"},
    ),
    "payment": (
        {
            "demo.payment.amount": "57.80",
            "demo.payment.card_type": "visa",
            "demo.payment.card_valid": True,
            "demo.payment.charged": False,
            "demo.user_context.loyalty_level": "gold",
        },
        {"demo.payment.card_number": "4432-8015"},
    ),
}  # fmt: skip


def recorded_run(spans: int, seed: int = 7) -> tuple[list[Span], list[Metric]]:
    rng = random.Random(seed)
    out: list[Span] = []
    names = list(SERVICES)
    trace_id = os.urandom(16).hex()
    for i in range(spans):
        if i % 10 == 0:
            trace_id = rng.randbytes(16).hex()
        service = names[i % len(names)]
        attributes, mistake = SERVICES[service]
        if rng.random() < 0.05:
            attributes = {**attributes, **mistake}
        resource = {
            "service.name": service,
            "service.version": "3.0.0",
            "telemetry.sdk.name": "opentelemetry",
            "telemetry.sdk.language": "go",
            "service.criticality": "high",
        }
        out.append(
            Span(
                trace_id,
                rng.randbytes(8).hex(),
                f"{service} op",
                attributes=dict(attributes),
                resource=resource,
            )
        )
    point = DataPoint({"demo.ad.request_type": "TARGETED", "demo.ad.response_type": "RANDOM"})
    metrics = [
        Metric("demo.ad.requests", "", "counter", (point,) * 10, {"service.name": "ad"})
        for _ in range(max(1, spans // 100))
    ]
    return out, metrics


def bench_parse_only() -> float:
    files = sorted(p for root in (SEMCONV, DEMO) for p in root.rglob("*.y*ml"))
    start = time.perf_counter()
    for path in files:
        yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)
    return time.perf_counter() - start


def bench_load() -> tuple[float, Registry]:
    start = time.perf_counter()
    registry = load_registry(DEMO, load_registry(SEMCONV))
    return time.perf_counter() - start, registry


def bench_lookup_only(registry: Registry, spans: list[Span], metrics: list[Metric]) -> float:
    start = time.perf_counter()
    for span in spans:
        for attributes in (span.resource, span.attributes):
            for key, value in attributes.items():
                registry.attribute(key)
                value_type(value)
    for metric in metrics:
        registry.metric(metric.name)
        for point in metric.points:
            for key, value in point.attributes.items():
                registry.attribute(key)
                value_type(value)
    return time.perf_counter() - start


def bench_check(
    registry: Registry, spans: list[Span], metrics: list[Metric], policy: Policy
) -> tuple[float, int, int]:
    start = time.perf_counter()
    checker = Checker(registry, policy)
    checker.check_spans(spans)
    checker.check_metrics(metrics)
    report = checker.report()
    elapsed = time.perf_counter() - start
    return elapsed, len(report.findings), report.statistics.total_entities


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spans", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--record", action="store_true", help="append the results to bench/RESULTS.md"
    )
    args = parser.parse_args()

    bench_parse_only()  # warm the page cache
    loads = interleaved(bench_parse_only, bench_load, args.rounds, seconds=lambda r: r[0])
    registry = loads.last[1]

    spans, metrics = recorded_run(args.spans)
    policy = Policy(ignore=("telemetry.*",))
    bench_check(registry, spans[:500], metrics[:5], policy)  # warm-up
    checks = interleaved(
        lambda: bench_lookup_only(registry, spans, metrics),
        lambda: bench_check(registry, spans, metrics, policy),
        args.rounds,
        seconds=lambda r: r[0],
    )
    _, findings, samples = checks.last
    parse_s, load_s, load_ratio = loads.baseline_s, loads.measured_s, loads.cost
    lookup_s, check_s, check_ratio = checks.baseline_s, checks.measured_s, checks.speed
    attributes = sum(len(s.attributes) + len(s.resource) for s in spans) + sum(
        len(p.attributes) for m in metrics for p in m.points
    )
    lines = [
        heading("Registry conformance", "registry.py", os.cpu_count()),
        "",
        f"Registry: semconv 1.40.0 ({len(registry.dependency.attributes) if registry.dependency else 0} "
        f"attributes, {len(registry.dependency.signals) if registry.dependency else 0} groups) under "
        f"the demo 3.0.0 registry. Run: {len(spans):,} generated spans over 5 services (5% with a "
        f"planted mistake) and {len(metrics):,} metrics of 10 points; `telemetry.*` ignored.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| YAML parse only (libyaml), both registries | {parse_s * 1000:,.0f} ms |",
        f"| load + resolve, semconv + demo | {load_s * 1000:,.0f} ms |",
        f"| **load + resolve / parse only** (median of {args.rounds} interleaved rounds) | "
        f"**{load_ratio:.2f}x** |",
        f"| lookup-only pass (one registry lookup and type per attribute) | "
        f"{attributes / lookup_s:,.0f} attributes/s |",
        f"| conformance check | {attributes / check_s:,.0f} attributes/s, "
        f"{samples / check_s:,.0f} samples/s, {findings / check_s:,.0f} findings/s |",
        f"| **check / lookup-only throughput** (median of {args.rounds} interleaved rounds) | "
        f"**{check_ratio:.2f}x** |",
        f"| findings in the run | {findings:,} in {samples:,} samples |",
        "",
    ]
    report(lines, args.record)


if __name__ == "__main__":
    main()
