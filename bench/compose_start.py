"""Compose cold start vs local start of the same reference stack.

    .venv/bin/python bench/compose_start.py [--rounds 3] [--record]

Cold start = a fresh compose project (no containers yet) with the images already built, from
the first `up` to every service ready, tier by tier, through the stack layer's compose backend.
The local backend starts the very same spec (tracebed.reference.spec.build_spec) as host
processes. Rounds alternate local/compose so machine load hits both alike. `--record` appends
a section to bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tracebed.otlp.sink import Sink
from tracebed.refstack import reference_topology
from tracebed.refstack.compose import build_reference_image, reference_compose_topology
from tracebed.stack import Stack
from tracebed.stack.backends.compose import ComposeBackend, docker_available

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def _start(stack: Stack) -> tuple[float, float]:
    """(wall seconds to all ready, the timeline's total) for one start; always stopped."""
    t0 = time.monotonic()
    try:
        stack.start(progress=False)
        wall = time.monotonic() - t0
        total = stack.timeline.total_s() or wall
    finally:
        stack.stop()
    return wall, total


def run_local(sink: Sink, root: Path) -> tuple[float, float]:
    workdir = Path(tempfile.mkdtemp(prefix="local-", dir=root))
    topo = reference_topology(workdir, sink.grpc_endpoint)
    return _start(Stack(topo, "local", run_dir=workdir / "run"))


def run_compose(sink: Sink, root: Path, image: str) -> tuple[float, float]:
    workdir = Path(tempfile.mkdtemp(prefix="compose-", dir=root))
    topo = reference_compose_topology(workdir, sink.grpc_endpoint, image=image)
    return _start(Stack(topo, ComposeBackend(), run_dir=workdir / "run"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--record", action="store_true", help="append to bench/RESULTS.md")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    ok, why = docker_available()
    if not ok:
        print(f"compose_start: {why} (start it with scripts/docker-up.sh)", file=sys.stderr)
        return 2

    t0 = time.monotonic()
    image = build_reference_image()
    build_s = time.monotonic() - t0
    print(f"image {image} ready in {build_s:.1f}s (0 when it was already built)")

    local: list[float] = []
    compose: list[float] = []
    with tempfile.TemporaryDirectory(prefix="tracebed-bench-") as tmp, Sink() as sink:
        root = Path(tmp)
        for i in range(args.rounds):
            wall_l, _ = run_local(sink, root)
            wall_c, _ = run_compose(sink, root, image)
            local.append(wall_l)
            compose.append(wall_c)
            print(
                f"round {i + 1}: local {wall_l:.2f}s  compose {wall_c:.2f}s  "
                f"ratio {wall_c / wall_l:.2f}x"
            )
    med_l, med_c = statistics.median(local), statistics.median(compose)
    ratio = med_c / med_l
    print(f"median: local {med_l:.2f}s, compose {med_c:.2f}s, compose/local {ratio:.2f}x")
    if args.record:
        _record(med_l, med_c, ratio, local, compose, image)
    return 0


def _record(
    med_l: float, med_c: float, ratio: float, local: list[float], compose: list[float], image: str
) -> None:
    today = dt.date.today().isoformat()
    cores = os.cpu_count()
    rows = ", ".join(f"{c:.1f}/{lo:.1f}" for c, lo in zip(compose, local, strict=True))
    text = f"""
## Compose cold start vs local start ({today}, `bench/compose_start.py`, {cores} cores)

The reference stack (same spec, every service tier by tier to ready), images already built
(`{image.split(":")[0]}`), a fresh compose project each round; rounds alternate the backends.

| measure | value |
|---|---|
| local backend, median | {med_l:.2f} s |
| compose backend (cold: new containers), median | {med_c:.2f} s |
| **compose / local** | **{ratio:.2f}x** |
| rounds (compose/local, s) | {rows} |
"""
    with open(RESULTS, "a", encoding="utf-8") as fh:
        fh.write(text)
    print(f"appended to {RESULTS}")


if __name__ == "__main__":
    raise SystemExit(main())
