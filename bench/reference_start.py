"""Reference stack budget: cold start, resident memory, checkout-to-complete-trace latency.

Run: .venv/bin/python bench/reference_start.py [--checkouts 20] [--demo-version V] [--record]
     .venv/bin/python bench/reference_start.py --compare 3 [--record]
Starts the whole reference stack through the stack layer (local backend), as
``tracebed up --stack local`` does, with a tracebed sink as the collector's exporter.

Budget (issue 4, 2-core machine): all services ready within 15 s of a cold start, the whole
stack under 1.5 GiB resident, a checkout through Envoy with its complete trace in the sink
within 1 s (median). Prints a Markdown section; ``--record`` appends it to bench/RESULTS.md.
``--compare N`` starts each release N times, alternating, and reports the 3.0.0/2.0.2 ratio
of the cold start (3.0.0 adds a PostgreSQL), since absolute times follow the machine's load.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path

import psutil
import requests

from tracebed.flows.chain import CHECKOUT_SERVICES as CHAIN_SERVICES
from tracebed.model.span import SpanKind
from tracebed.model.trace import Trace
from tracebed.otlp.sink import Sink
from tracebed.reference.spec import build_spec
from tracebed.stack.runner import Stack
from tracebed.stack.topology import Topology

# The services a checkout reaches through the front door.
CHECKOUT_SERVICES = {"frontend-proxy", "frontend", *CHAIN_SERVICES}
PERSON = {
    "email": "bench@example.com",
    "userCurrency": "USD",
    "address": {
        "streetAddress": "1 Bench Way",
        "city": "Seattle",
        "state": "WA",
        "country": "United States",
        "zipCode": "98109",
    },
    "creditCard": {
        "creditCardNumber": "4432-8015-6152-0454",
        "creditCardCvv": 672,
        "creditCardExpirationYear": 2039,
        "creditCardExpirationMonth": 1,
    },
}


def complete(t: Trace) -> bool:
    return (
        t.services >= CHECKOUT_SERVICES
        # the 3.0.0 collector renames the producer span "publish orders"
        and bool(t.named("orders publish") or t.named("publish orders"))
        # Envoy's ingress span (renamed by the 3.0.0 collector after its HTTP method)
        and bool(t.find(lambda s: s.service == "frontend-proxy" and s.kind is SpanKind.SERVER))
        and bool(t.named("POST /send_order_confirmation"))
    )


def stack_rss_bytes(root_pid: int) -> tuple[int, dict[str, int]]:
    """Resident memory of every process the stack started (children of this process)."""
    per: dict[str, int] = {}
    for child in psutil.Process(root_pid).children(recursive=True):
        try:
            name = " ".join(child.cmdline()[:4])
            per[name] = per.get(name, 0) + child.memory_info().rss
        except psutil.Error:
            continue
    return sum(per.values()), per


def checkout_once(url: str, sink: Sink) -> float:
    user = str(uuid.uuid4())
    requests.post(
        f"{url}/api/cart",
        timeout=20,
        json={"userId": user, "item": {"productId": "66VCHSJNUP", "quantity": 2}},
    )
    trace_id = secrets.token_hex(16)
    t0 = time.monotonic()
    r = requests.post(
        f"{url}/api/checkout",
        timeout=20,
        json={**PERSON, "userId": user},
        headers={"traceparent": f"00-{trace_id}-{secrets.token_hex(8)}-01"},
    )
    r.raise_for_status()
    sink.wait_for_trace(trace_id, until=complete, timeout=20)
    return time.monotonic() - t0


def cold_start(version: str) -> float:
    """One cold start of the whole stack at ``version``: seconds to all ready."""
    with tempfile.TemporaryDirectory(prefix="tracebed-bench-ref-") as tmp, Sink() as sink:
        spec = build_spec(Path(tmp) / "work", sink.grpc_endpoint, demo_version=version)
        t0 = time.monotonic()
        with Stack(Topology.from_spec(spec), "local", run_dir=Path(tmp) / "run"):
            return time.monotonic() - t0


def compare(rounds: int, record: bool) -> None:
    times: dict[str, list[float]] = {"3.0.0": [], "2.0.2": []}
    for _ in range(rounds):
        for version in times:  # alternate, so both see the same machine load
            times[version].append(cold_start(version))
    med = {v: statistics.median(ts) for v, ts in times.items()}
    lines = [
        f"## Reference stack cold start by release ({date.today()}, "
        f"`bench/reference_start.py --compare {rounds}`, {psutil.cpu_count()} cores, "
        f"load average {psutil.getloadavg()[0]:.1f})",
        "",
        "| release | median cold start to all ready | runs (s) |",
        "|---|---|---|",
        *(
            f"| {v} | {med[v]:.1f} s | " + ", ".join(f"{t:.1f}" for t in ts) + " |"
            for v, ts in times.items()
        ),
        f"| **3.0.0 / 2.0.2** | **{med['3.0.0'] / med['2.0.2']:.2f}x** | |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if record:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkouts", type=int, default=20)
    parser.add_argument("--demo-version", default="3.0.0", choices=("3.0.0", "2.0.2"))
    parser.add_argument("--compare", type=int, default=0, metavar="N")
    parser.add_argument("--record", action="store_true")
    args = parser.parse_args()
    if args.compare:
        compare(args.compare, args.record)
        return
    with tempfile.TemporaryDirectory(prefix="tracebed-bench-ref-") as tmp, Sink() as sink:
        spec = build_spec(Path(tmp) / "work", sink.grpc_endpoint, demo_version=args.demo_version)
        topology = Topology.from_spec(spec)
        t0 = time.monotonic()
        with Stack(topology, "local", run_dir=Path(tmp) / "run") as stack:
            start_s = time.monotonic() - t0
            url = spec["x-tracebed-stack"]["frontend_url"]
            checkout_once(url, sink)  # warm-up: first connections, lazy imports
            latencies = [checkout_once(url, sink) for _ in range(args.checkouts)]
            rss, per = stack_rss_bytes(psutil.Process().pid)
            tiers = len(stack.topology.tiers)
            tier_ready = [
                max(stack.timeline.ready_at(n) or 0.0 for n in names)
                for names in stack.topology.tiers
            ]
    median = statistics.median(latencies)
    lines = [
        f"## Reference stack budget, demo {args.demo_version} ({date.today()}, "
        f"`bench/reference_start.py`, {psutil.cpu_count()} cores, "
        f"load average {psutil.getloadavg()[0]:.1f})",
        "",
        f"{len(spec['services'])} services in {tiers} tiers (local backend, no load generator).",
        "",
        "| measure | value | budget |",
        "|---|---|---|",
        f"| cold start to all ready | {start_s:.1f} s | 15 s |",
        "| tiers ready at | " + ", ".join(f"{t:.1f}" for t in tier_ready) + " s | |",
        f"| resident memory, whole stack | {rss / 2**20:.0f} MiB | 1536 MiB |",
        f"| checkout through Envoy to complete trace in sink, median of {len(latencies)} "
        f"| {median * 1000:.0f} ms | 1000 ms |",
        f"| same, max | {max(latencies) * 1000:.0f} ms | |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    biggest = sorted(per.items(), key=lambda kv: -kv[1])[:5]
    print("largest:", ", ".join(f"{n.split()[-1]} {b / 2**20:.0f} MiB" for n, b in biggest))
    if args.record:
        with open(Path(__file__).with_name("RESULTS.md"), "a", encoding="utf-8") as fh:
            fh.write("\n" + text)


if __name__ == "__main__":
    main()
