"""The stack's startup as a Gantt chart (SVG): one bar per service from start to ready.

Input is plain data, so this module needs nothing from the stack layer: rows of
`(service, tier, start_s, ready_s | None, status)`, times in seconds from the stack's start.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any, NamedTuple

from tracebed.report.colors import tier_color

LABEL_W, CHART_W, ROW_H, BAR_H, AXIS_H, PAD = 190, 680, 22, 14, 24, 10
GOOD_STATUSES = frozenset({"ready", "ok", "up", "healthy", "running", "started", "done"})


class GanttRow(NamedTuple):
    service: str
    tier: int
    start_s: float
    ready_s: float | None
    status: str

    @property
    def ok(self) -> bool:
        return self.ready_s is not None and self.status.lower() in GOOD_STATUSES

    @property
    def took_s(self) -> float | None:
        return None if self.ready_s is None else max(0.0, self.ready_s - self.start_s)

    @classmethod
    def coerce(cls, row: Any) -> GanttRow:
        """A row from a tuple/list, a mapping with the field names, or an object with them."""
        if isinstance(row, GanttRow):
            return row
        if isinstance(row, Mapping):
            values = [row.get(f) for f in cls._fields]
        elif isinstance(row, Sequence) and not isinstance(row, str):
            if len(row) != len(cls._fields):
                raise ValueError(
                    f"Gantt row {row!r}: expected (service, tier, start_s, ready_s, status)"
                )
            values = list(row)
        else:
            values = [getattr(row, f, None) for f in cls._fields]
        service, tier, start, ready, status = values
        try:
            return cls(
                service=str(service),
                tier=int(tier),  # type: ignore[arg-type]
                start_s=float(start),  # type: ignore[arg-type]
                ready_s=None if ready is None else float(ready),
                status=str(
                    status
                    if status is not None
                    else ("ready" if ready is not None else "not ready")
                ),
            )
        except (TypeError, ValueError):
            raise ValueError(
                f"Gantt row {row!r}: service must be text, tier an integer, start/ready seconds"
            ) from None


def coerce_rows(rows: Iterable[Any]) -> list[GanttRow]:
    return sorted((GanttRow.coerce(r) for r in rows), key=lambda r: (r.tier, r.start_s, r.service))


def _tick_step(span: float) -> float:
    """A 1/2/5 × 10^n step giving about six ticks."""
    if span <= 0:
        return 1.0
    raw = span / 6
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.2f}s" if seconds < 10 else f"{seconds:.1f}s"


def render_gantt(rows: Iterable[Any]) -> str:
    """Inline SVG of the startup timeline; rows grouped by tier, failures in red."""
    data = coerce_rows(rows)
    if not data:
        return '<p class="empty">no startup timeline recorded</p>'
    end = max(max(r.start_s, r.ready_s or 0.0) for r in data)
    end = end if end > 0 else 1.0
    if any(r.ready_s is None for r in data):
        end *= 1.15  # room for the bars of services that never became ready
    step = _tick_step(end)
    axis_end = math.ceil(end / step) * step
    scale = CHART_W / axis_end
    height = AXIS_H + len(data) * ROW_H + 2 * PAD
    width = LABEL_W + CHART_W + 2 * PAD + 170
    x0 = PAD + LABEL_W
    parts = [
        f'<svg class="gantt" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="startup timeline">',
        '<defs><pattern id="gantt-hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="3" height="6" fill="#d33" opacity="0.5"/>'
        "</pattern></defs>",
    ]
    tick = 0.0
    while tick <= axis_end + 1e-9:
        x = x0 + tick * scale
        parts.append(
            f'<line x1="{x:.1f}" y1="{PAD + AXIS_H - 4}" x2="{x:.1f}" y2="{height - PAD}" '
            'stroke="#ddd"/>'
            f'<text x="{x:.1f}" y="{PAD + 12}" text-anchor="middle" class="tick">{tick:g}s</text>'
        )
        tick += step
    previous_tier: int | None = None
    for i, row in enumerate(data):
        y = PAD + AXIS_H + i * ROW_H
        if row.tier != previous_tier and previous_tier is not None:
            parts.append(
                f'<line x1="{PAD}" y1="{y:.1f}" x2="{width - PAD}" y2="{y:.1f}" stroke="#999" '
                'stroke-dasharray="3,3"/>'
            )
        previous_tier = row.tier
        bar_y = y + (ROW_H - BAR_H) / 2
        start_x = x0 + row.start_s * scale
        took = row.took_s
        if took is None:
            detail = f"not ready ({row.status})"
            bar = (
                f'<rect x="{start_x:.1f}" y="{bar_y:.1f}" width="{max(2.0, x0 + CHART_W - start_x):.1f}" '
                f'height="{BAR_H}" fill="url(#gantt-hatch)" stroke="#d33"/>'
            )
            end_x = float(x0 + CHART_W)
        else:
            detail = f"ready after {_fmt_s(took)}" + ("" if row.ok else f" ({row.status})")
            fill = tier_color(row.tier) if row.ok else "#d33"
            bar_w = max(2.0, took * scale)
            bar = (
                f'<rect x="{start_x:.1f}" y="{bar_y:.1f}" width="{bar_w:.1f}" height="{BAR_H}" '
                f'rx="2" fill="{fill}"/>'
            )
            end_x = start_x + bar_w
        title = (
            f"{row.service} (tier {row.tier}): started {_fmt_s(row.start_s)}, "
            + (f"ready {_fmt_s(row.ready_s)}" if row.ready_s is not None else "never ready")
            + f", status {row.status}"
        )
        css = "gantt-row ok" if row.ok else "gantt-row failed"
        parts.append(
            f'<g class="{css}" data-service="{escape(row.service)}" data-tier="{row.tier}">'
            f"<title>{escape(title)}</title>"
            f'<text x="{PAD}" y="{y + ROW_H / 2 + 4:.1f}" class="gantt-label">'
            f'<tspan class="tier">T{row.tier}</tspan> {escape(row.service)}</text>'
            f"{bar}"
            f'<text x="{end_x + 4:.1f}" y="{y + ROW_H / 2 + 4:.1f}" class="gantt-took">'
            f"{escape(detail)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
