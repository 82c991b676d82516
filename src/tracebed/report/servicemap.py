"""The service map of one trace as an SVG: services in layers left to right, calls as arrows.

The layout is computed here (no JS, no graph library): layer = shortest call distance from the
services where the trace starts; order within a layer by the barycentre of callers, so arrows
mostly run straight. Calls that go back (or within a layer) curve below the boxes.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque
from dataclasses import dataclass
from html import escape

from tracebed.model.trace import Trace
from tracebed.report.colors import service_color

NODE_W, NODE_H = 150, 30
COL_GAP, ROW_GAP = 100, 22
PAD = 16


@dataclass(frozen=True)
class MapNode:
    service: str
    layer: int
    x: float
    y: float
    spans: int
    errors: int


@dataclass(frozen=True)
class MapEdge:
    caller: str
    callee: str
    calls: int
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class ServiceMap:
    nodes: dict[str, MapNode]
    edges: list[MapEdge]
    width: float
    height: float


def _label(service: str) -> str:
    return service or "(no service.name)"


def _longest_path_layers(order: list[str], out: dict[str, list[str]]) -> dict[str, int]:
    """Layer = longest call distance from a start, so every forward call points right.

    Calls that close a cycle (found by a DFS from the starts, in order) are left out of the
    layering; they are drawn as back edges.
    """
    dag: dict[str, list[str]] = defaultdict(list)
    state: dict[str, int] = {}  # 1 = on the DFS stack, 2 = done
    for root in dict.fromkeys(order):
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(out.get(root, ())))]
        while stack:
            node, callees = stack[-1]
            callee = next(callees, None)
            if callee is None:
                state[node] = 2
                stack.pop()
            elif state.get(callee) == 1:
                continue  # a back edge: it would make a cycle
            else:
                dag[node].append(callee)
                if callee not in state:
                    state[callee] = 1
                    stack.append((callee, iter(out.get(callee, ()))))
    indegree: Counter[str] = Counter(c for callees in dag.values() for c in callees)
    layer = {n: 0 for n in state}
    ready = deque(n for n in dict.fromkeys(order) if not indegree[n])
    while ready:
        node = ready.popleft()
        for callee in dag[node]:
            layer[callee] = max(layer[callee], layer[node] + 1)
            indegree[callee] -= 1
            if not indegree[callee]:
                ready.append(callee)
    return layer


def build_service_map(trace: Trace) -> ServiceMap:
    """Nodes with positions and counted edges for `trace`."""
    calls: Counter[tuple[str, str]] = Counter()
    for span in trace:
        parent = trace.parent(span)
        if parent is not None and parent.service != span.service:
            calls[(parent.service, span.service)] += 1
    kinds = trace.edge_kinds()
    edges = [
        MapEdge(
            caller, callee, count, tuple(sorted(k.value for k in kinds.get((caller, callee), ())))
        )
        for (caller, callee), count in sorted(calls.items())
    ]
    spans_per: Counter[str] = Counter(span.service for span in trace)
    errors_per: Counter[str] = Counter(span.service for span in trace.errors)

    # Services in order of their first span: the stable order ties are broken by.
    order: list[str] = list(dict.fromkeys(span.service for span in trace))
    out: dict[str, list[str]] = defaultdict(list)
    for caller, callee in calls:
        out[caller].append(callee)

    starts = list(dict.fromkeys(span.service for span in trace.tops)) or order[:1]
    layer = _longest_path_layers([*starts, *order], out)

    columns: dict[int, list[str]] = defaultdict(list)
    for service in order:
        columns[layer[service]].append(service)
    position: dict[str, float] = {}
    callers: dict[str, list[str]] = defaultdict(list)
    for caller, callee in calls:
        callers[callee].append(caller)
    first_seen = {service: i for i, service in enumerate(order)}
    for index in sorted(columns):
        column = columns[index]
        if index > 0:
            # Barycentre of already-placed callers; first-appearance order breaks ties.
            def weight(service: str) -> tuple[float, int]:
                placed = [position[c] for c in callers[service] if c in position]
                centre = sum(placed) / len(placed) if placed else float("inf")
                return (centre, first_seen[service])

            column.sort(key=weight)
        for row, service in enumerate(column):
            # Columns are drawn centred, so compare positions relative to each column's middle.
            position[service] = row - (len(column) - 1) / 2

    tallest = max((len(c) for c in columns.values()), default=0)
    height_of = tallest * NODE_H + max(0, tallest - 1) * ROW_GAP
    nodes = {}
    for index, column in columns.items():
        column_height = len(column) * NODE_H + (len(column) - 1) * ROW_GAP
        top = PAD + (height_of - column_height) / 2
        for row, service in enumerate(column):
            nodes[service] = MapNode(
                service=service,
                layer=index,
                x=PAD + index * (NODE_W + COL_GAP),
                y=top + row * (NODE_H + ROW_GAP),
                spans=spans_per[service],
                errors=errors_per[service],
            )
    layers = max(columns, default=-1) + 1
    width = 2 * PAD + layers * NODE_W + max(0, layers - 1) * COL_GAP
    # Room under the boxes for back-edge curves.
    height = 2 * PAD + height_of + (40 if any(_is_back(nodes, e) for e in edges) else 0)
    return ServiceMap(nodes, edges, max(width, 2 * PAD), max(height, 2 * PAD))


def _is_back(nodes: dict[str, MapNode], edge: MapEdge) -> bool:
    return nodes[edge.callee].layer <= nodes[edge.caller].layer


def render_service_map(trace: Trace) -> str:
    """The SVG markup (an inline `<svg>` element) of the trace's service map."""
    smap = build_service_map(trace)
    if not smap.nodes:
        return '<p class="empty">no spans, no service map</p>'
    marker = f"arrow-{trace.trace_id[:16]}"
    parts = [
        f'<svg class="service-map" xmlns="http://www.w3.org/2000/svg" width="{smap.width:.0f}" '
        f'height="{smap.height:.0f}" viewBox="0 0 {smap.width:.0f} {smap.height:.0f}" '
        'role="img" aria-label="service map">',
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
        "</marker></defs>",
    ]
    bottom = max(n.y + NODE_H for n in smap.nodes.values())
    # Several calls into one service arrive at different heights, so their labels stay apart.
    incoming: dict[str, list[str]] = defaultdict(list)
    for edge in smap.edges:
        if not _is_back(smap.nodes, edge):
            incoming[edge.callee].append(edge.caller)
    for callers in incoming.values():
        callers.sort(key=lambda c: smap.nodes[c].y)
    for edge in smap.edges:
        a, b = smap.nodes[edge.caller], smap.nodes[edge.callee]
        label = f"{edge.calls}× {'/'.join(edge.kinds) or 'call'}"
        title = escape(f"{_label(edge.caller)} → {_label(edge.callee)}: {label}")
        dashed = ' stroke-dasharray="5,3"' if "messaging" in edge.kinds else ""
        if _is_back(smap.nodes, edge):
            x1, y1 = a.x + NODE_W / 2, a.y + NODE_H
            x2, y2 = b.x + NODE_W / 2, b.y + NODE_H
            low = bottom + 30
            path = f"M{x1:.1f},{y1:.1f} C{x1:.1f},{low:.1f} {x2:.1f},{low:.1f} {x2:.1f},{y2:.1f}"
            lx, ly = (x1 + x2) / 2, low - 4
            anchor = "middle"
        else:
            x1, y1 = a.x + NODE_W, a.y + NODE_H / 2
            arrivals = incoming[edge.callee]
            slot = arrivals.index(edge.caller)
            x2, y2 = b.x, b.y + NODE_H * (slot + 1) / (len(arrivals) + 1)
            mid = (x1 + x2) / 2
            path = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            # Label at the arrow's head: fanned-out edges share a start but not an end.
            lx, ly = x2 - 8, y2 - 5 - 12 * (len(arrivals) - 1 - slot)
            anchor = "end"
        parts.append(
            f'<g class="edge" data-caller="{escape(edge.caller)}" data-callee="{escape(edge.callee)}">'
            f"<title>{title}</title>"
            f'<path d="{path}" fill="none" stroke="#555" stroke-width="1.3"{dashed} '
            f'marker-end="url(#{marker})"/>'
            f'<text x="{lx:.1f}" y="{ly:.1f}" class="edge-label" text-anchor="{anchor}">'
            f"{escape(label)}</text></g>"
        )
    for node in smap.nodes.values():
        name = _label(node.service)
        shown = name if len(name) <= 20 else name[:19] + "…"
        error_class = " error" if node.errors else ""
        title = f"{name}: {node.spans} spans" + (f", {node.errors} errors" if node.errors else "")
        parts.append(
            f'<g class="node{error_class}" data-service="{escape(node.service)}">'
            f"<title>{escape(title)}</title>"
            f'<rect x="{node.x:.1f}" y="{node.y:.1f}" width="{NODE_W}" height="{NODE_H}" rx="6" '
            f'fill="{service_color(node.service)}" '
            f'stroke="{"#c00" if node.errors else "#333"}" stroke-width="{2.5 if node.errors else 1}"/>'
            f'<text x="{node.x + NODE_W / 2:.1f}" y="{node.y + NODE_H / 2 + 4:.1f}" '
            f'text-anchor="middle" class="node-label">{escape(shown)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
