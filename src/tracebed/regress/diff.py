"""Compare two trace shapes and list what changed, one `Change` per difference.

Spans are aligned level by level under matched parents: first by (service, name, kind);
then by (service, name), a kind change; then, among what is left in one service with
one kind, by similarity, a rename. Whatever still has no partner was added or removed
(reported once, for the whole subtree).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tracebed.regress.shape import EdgeShape, SpanShape, TraceShape


class ChangeKind(enum.StrEnum):
    FLOW_ADDED = "flow added"
    FLOW_REMOVED = "flow removed"
    EDGE_ADDED = "edge added"
    EDGE_REMOVED = "edge removed"
    SPAN_ADDED = "span added"
    SPAN_REMOVED = "span removed"
    SPAN_RENAMED = "span renamed"
    KIND_CHANGED = "kind changed"
    STATUS_CHANGED = "status changed"
    ATTRIBUTE_ADDED = "attribute added"
    ATTRIBUTE_REMOVED = "attribute removed"
    ATTRIBUTE_RETYPED = "attribute retyped"
    VALUE_CHANGED = "value changed"
    COUNT_CHANGED = "count changed"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference. `where` is the span path in the *current* tree (base for removals)."""

    flow: str
    kind: ChangeKind
    where: str
    detail: str

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.kind.value}: {self.detail}{at}"

    def as_dict(self) -> dict[str, str]:
        return {
            "flow": self.flow,
            "kind": self.kind.value,
            "where": self.where,
            "detail": self.detail,
        }


# Pair leftover spans as a rename only when they look alike at least this much (or are
# the only candidates left in their service and kind under the same parent).
RENAME_SIMILARITY = 0.5


def _similarity(a: SpanShape, b: SpanShape) -> float:
    """Jaccard overlap of attribute keys and child keys: 1.0 for identical shapes."""
    left = {("a", k) for k in a.attributes} | {("c", c.key) for c in a.children}
    right = {("a", k) for k in b.attributes} | {("c", c.key) for c in b.children}
    if not left and not right:
        return 1.0
    return len(left & right) / len(left | right)


def _subtree_size(node: SpanShape) -> int:
    return sum(1 for _ in node.walk())


class _Differ:
    def __init__(
        self, flow: str, base: TraceShape, current: TraceShape, counts: bool, values: bool
    ):
        self.flow = flow
        self.counts = counts
        self.values = values
        # Compare values only for keys both sides recorded as stable.
        self.stable = set(base.stable_keys) & set(current.stable_keys)
        self.changes: list[Change] = []

    def add(self, kind: ChangeKind, where: str, detail: str) -> None:
        self.changes.append(Change(self.flow, kind, where, detail))

    def nodes(self, base: SpanShape, cur: SpanShape, path: str) -> None:
        if base.status != cur.status:
            self.add(ChangeKind.STATUS_CHANGED, path, f"{base.status} -> {cur.status}")
        for key in sorted(cur.attributes.keys() - base.attributes.keys()):
            self.add(ChangeKind.ATTRIBUTE_ADDED, path, f"{key} ({cur.attributes[key]})")
        for key in sorted(base.attributes.keys() - cur.attributes.keys()):
            self.add(ChangeKind.ATTRIBUTE_REMOVED, path, f"{key} ({base.attributes[key]})")
        for key in sorted(base.attributes.keys() & cur.attributes.keys()):
            if base.attributes[key] != cur.attributes[key]:
                self.add(
                    ChangeKind.ATTRIBUTE_RETYPED,
                    path,
                    f"{key}: {base.attributes[key]} -> {cur.attributes[key]}",
                )
        if self.values:
            for key in sorted(self.stable & base.values.keys() & cur.values.keys()):
                if base.values[key] != cur.values[key]:
                    self.add(
                        ChangeKind.VALUE_CHANGED,
                        path,
                        f"{key}: {base.values[key]!r} -> {cur.values[key]!r}",
                    )
        if self.counts and base.count != cur.count:
            self.add(ChangeKind.COUNT_CHANGED, path, f"{base.count} -> {cur.count} spans")
        self.children(base.children, cur.children, path)

    def children(self, base: list[SpanShape], cur: list[SpanShape], path: str) -> None:
        def sub(node: SpanShape) -> str:
            return f"{path} > {node.label}" if path else node.label

        left = list(base)
        right = list(cur)
        pairs: list[tuple[SpanShape, SpanShape]] = []

        def take(
            match: Callable[[SpanShape, SpanShape], bool],
        ) -> list[tuple[SpanShape, SpanShape]]:
            found = []
            for b in list(left):
                for c in right:
                    if match(b, c):
                        found.append((b, c))
                        left.remove(b)
                        right.remove(c)
                        break
            return found

        pairs += take(lambda b, c: b.key == c.key)
        for b, c in take(lambda b, c: (b.service, b.name) == (c.service, c.name)):
            self.add(ChangeKind.KIND_CHANGED, sub(c), f"{b.kind} -> {c.kind}")
            pairs.append((b, c))
        for b, c in self._renames(left, right):
            self.add(ChangeKind.SPAN_RENAMED, sub(c), f"{b.name!r} -> {c.name!r} ({c.service})")
            pairs.append((b, c))
        for b in left:
            size = _subtree_size(b)
            extra = f" with {size - 1} descendant span(s)" if size > 1 else ""
            self.add(ChangeKind.SPAN_REMOVED, path, f"{b.label} [{b.kind}]{extra}")
        for c in right:
            size = _subtree_size(c)
            extra = f" with {size - 1} descendant span(s)" if size > 1 else ""
            self.add(ChangeKind.SPAN_ADDED, path, f"{c.label} [{c.kind}]{extra}")
        for b, c in pairs:
            self.nodes(b, c, sub(c))

    @staticmethod
    def _renames(
        left: list[SpanShape], right: list[SpanShape]
    ) -> list[tuple[SpanShape, SpanShape]]:
        """Greedy best-first pairing within (service, kind); removes pairs from both lists."""
        candidates: list[tuple[float, int, int]] = []
        for i, b in enumerate(left):
            for j, c in enumerate(right):
                if (b.service, b.kind) != (c.service, c.kind):
                    continue
                same_group_b = sum(1 for x in left if (x.service, x.kind) == (b.service, b.kind))
                same_group_c = sum(1 for x in right if (x.service, x.kind) == (c.service, c.kind))
                score = _similarity(b, c)
                if score >= RENAME_SIMILARITY or (same_group_b == 1 and same_group_c == 1):
                    candidates.append((score, i, j))
        used_b: set[int] = set()
        used_c: set[int] = set()
        pairs = []
        for _score, i, j in sorted(candidates, key=lambda t: (-t[0], t[1], t[2])):
            if i in used_b or j in used_c:
                continue
            used_b.add(i)
            used_c.add(j)
            pairs.append((left[i], right[j]))
        for b, c in pairs:
            left.remove(b)
            right.remove(c)
        return pairs


def diff_edges(flow: str, base: set[EdgeShape], current: set[EdgeShape]) -> list[Change]:
    out = [
        Change(flow, ChangeKind.EDGE_REMOVED, "", str(e))
        for e in sorted(base - current, key=EdgeShape.as_list)
    ]
    out += [
        Change(flow, ChangeKind.EDGE_ADDED, "", str(e))
        for e in sorted(current - base, key=EdgeShape.as_list)
    ]
    return out


def diff_shapes(
    base: TraceShape,
    current: TraceShape,
    *,
    flow: str | None = None,
    counts: bool = False,
    values: bool = True,
) -> list[Change]:
    """Every difference from `base` to `current`; empty when the shapes agree.

    `counts`: also report how many times a merged span occurs (off by default: it follows
    the data a flow happens to pick, e.g. the number of cart lines).
    `values`: compare the values of stable keys (rpc.method, http.route, ...).
    """
    name = flow if flow is not None else (current.flow or base.flow)
    differ = _Differ(name, base, current, counts, values)
    differ.changes += diff_edges(name, base.edges, current.edges)
    differ.children(base.roots, current.roots, "")
    return differ.changes


def diff_sets(
    base: Mapping[str, TraceShape],
    current: Mapping[str, TraceShape],
    *,
    counts: bool = False,
    values: bool = True,
) -> list[Change]:
    """Diff two sets of flow shapes, paired by flow name."""
    changes: list[Change] = []
    for name in sorted(base.keys() | current.keys()):
        if name not in current:
            changes.append(Change(name, ChangeKind.FLOW_REMOVED, "", f"no trace for flow {name!r}"))
        elif name not in base:
            changes.append(Change(name, ChangeKind.FLOW_ADDED, "", f"new flow {name!r}"))
        else:
            changes += diff_shapes(
                base[name], current[name], flow=name, counts=counts, values=values
            )
    return changes


def render_changes(changes: Iterable[Change]) -> str:
    """Human-readable report, grouped by flow."""
    by_flow: dict[str, list[Change]] = {}
    for change in changes:
        by_flow.setdefault(change.flow, []).append(change)
    if not by_flow:
        return "no differences"
    lines = []
    for flow, items in by_flow.items():
        lines.append(f"flow {flow}: {len(items)} change(s)")
        lines += [f"  {c}" for c in items]
    return "\n".join(lines)
