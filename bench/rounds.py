"""What the benchmarks share: interleaved rounds against a baseline, medians, and recording.

Shared, noisy machines make absolute numbers meaningless from one run to the next, so every
benchmark times a baseline and the thing measured in alternating rounds (both see the same
machine load) and reports the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass
class Interleaved(Generic[T]):
    """Seconds per round of the baseline and of the measured side, and the measured side's
    last result (what it returned besides its time)."""

    pairs: list[tuple[float, float]]  # (baseline s, measured s), one per round
    last: T

    @property
    def baseline_s(self) -> float:
        return statistics.median(b for b, _ in self.pairs)

    @property
    def measured_s(self) -> float:
        return statistics.median(m for _, m in self.pairs)

    @property
    def speed(self) -> float:
        """Measured throughput over the baseline's (median of the rounds): 1.0 is as fast."""
        return statistics.median(b / m for b, m in self.pairs)

    @property
    def cost(self) -> float:
        """Measured time over the baseline's (median of the rounds): 1.0 costs the same."""
        return statistics.median(m / b for b, m in self.pairs)


def interleaved(
    baseline: Callable[[], float],
    measured: Callable[[], T],
    rounds: int = 5,
    seconds: Callable[[T], float] = float,  # type: ignore[assignment]
) -> Interleaved[T]:
    """Run `baseline` (returns its seconds) and `measured` alternately `rounds` times;
    `seconds` reads the measured side's time from what it returns (by default: it is it)."""
    pairs: list[tuple[float, float]] = []
    last: T | None = None
    for _ in range(rounds):
        base = baseline()
        last = measured()
        pairs.append((base, seconds(last)))
    assert last is not None, "rounds must be at least 1"
    return Interleaved(pairs, last)


def latency_ms(seconds: Sequence[float]) -> tuple[float, float]:
    """`(median, p95)` of latencies given in seconds, in milliseconds."""
    ms = sorted(s * 1000 for s in seconds)
    return statistics.median(ms), ms[int(len(ms) * 0.95)]


def heading(title: str, script: str, cores: int | None, extra: str = "") -> str:
    """`## title (date, `bench/script`, N cores[, extra])`, as every section starts."""
    more = f", {extra}" if extra else ""
    return f"## {title} ({time.strftime('%Y-%m-%d')}, `bench/{script}`, {cores} cores{more})"


def report(lines: Sequence[str], record: bool) -> None:
    """Print a Markdown section; with `record`, append it to bench/RESULTS.md."""
    text = "\n".join(lines)
    print(text)
    if record:
        results = Path(__file__).with_name("RESULTS.md")
        existing = results.read_text() if results.exists() else "# Benchmark results\n\n"
        results.write_text(existing.rstrip("\n") + "\n\n" + text)
