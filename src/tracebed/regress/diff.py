"""Compare two trace shapes and list what changed, one `Change` per difference.

Spans are aligned level by level under matched parents: first by (service, name, kind);
then by (service, name), a kind change; then, among what is left in one service with
one kind, by similarity, a rename. Whatever still has no partner was added or removed
(reported once, for the whole subtree). A merged node whose spans the new release names
apart (Envoy's `ingress` becoming `GET` and `POST`) is one rename to several names.

Attribute keys are aligned the same way on each pair of spans: a key gone and a key new on
the same span, with the same value type and names that share most of their words
(`app.product.id` -> `demo.product.id`, `app.user.id` -> `user.id`), is one rename, not a
removal plus an addition. This is generic on purpose (regress knows no release); a caller
that knows the exact map (a release's rename table) passes it as `renames`.
"""

from __future__ import annotations

import copy
import enum
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from tracebed.regress.shape import EdgeShape, SpanShape, TraceShape, _merge_into


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
    ATTRIBUTE_RENAMED = "attribute renamed"
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


# An attribute rename needs this much word overlap (same type; more if the type changed too).
KEY_RENAME_OVERLAP = 0.5
KEY_RENAME_RETYPED_OVERLAP = 0.6
_WORD_SPLIT = re.compile(r"[._\-/]+|(?<=[a-z0-9])(?=[A-Z])")


def _words(key: str) -> list[str]:
    """`app.ads.contextKeys` -> [app, ad, context, key]: lower case, plurals folded."""
    words = [w.lower() for w in _WORD_SPLIT.split(key) if w]
    return [w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words]


# Semantic-convention namespaces of protocols: `rpc.method` giving way to `http.request.method`
# is a change of protocol (gRPC to HTTP), whose keys are replaced, not renamed.
PROTOCOL_NAMESPACES = frozenset(
    {"rpc", "grpc", "http", "url", "server", "client", "network", "net", "messaging", "db", "peer"}
)


def _key_similarity(a: str, b: str) -> tuple[float, float]:
    """(overlap coefficient, Jaccard) of the keys' words; the last word agreeing counts extra."""
    left, right = _words(a), _words(b)
    if left and right and left[0] != right[0] and {left[0], right[0]} <= PROTOCOL_NAMESPACES:
        return (0.0, 0.0)
    x, y = set(left), set(right)
    if not x or not y:
        return (0.0, 0.0)
    overlap = len(x & y) / min(len(x), len(y))
    if left[-1] == right[-1]:
        overlap += 0.25  # `.from`/`.to`, `.count`, `.id`: the leaf names the quantity
    return (overlap, len(x & y) / len(x | y))


def pair_renamed_keys(
    removed: Mapping[str, str],
    added: Mapping[str, str],
    renames: Mapping[str, str] | None = None,
) -> list[tuple[str, str]]:
    """(old, new) key pairs among `removed` and `added` (key -> type) that are one rename.

    An explicit `renames` map wins; then greedy best-first by word similarity, same type
    first, a type change only with a higher overlap.
    """
    left, right = dict(removed), dict(added)
    pairs: list[tuple[str, str]] = []
    for old, new in (renames or {}).items():
        if old in left and new in right:
            pairs.append((old, new))
            del left[old], right[new]
    candidates: list[tuple[bool, float, float, str, str]] = []
    for old, old_type in left.items():
        for new, new_type in right.items():
            overlap, jaccard = _key_similarity(old, new)
            same = old_type == new_type
            if overlap >= (KEY_RENAME_OVERLAP if same else KEY_RENAME_RETYPED_OVERLAP):
                candidates.append((same, overlap, jaccard, old, new))
    for _same, _o, _j, old, new in sorted(
        candidates, key=lambda c: (not c[0], -c[1], -c[2], c[3], c[4])
    ):
        if old in left and new in right:
            pairs.append((old, new))
            del left[old], right[new]
    return sorted(pairs)


def _merged(parts: list[SpanShape]) -> SpanShape:
    """One node standing for `parts` (same service and kind), named `A | B`."""
    merged = copy.deepcopy(parts[0])
    for x in parts[1:]:
        _merge_into(merged, copy.deepcopy(x))
    merged.name = " | ".join(sorted(p.name for p in parts))
    return merged


def _subtree_size(node: SpanShape) -> int:
    return sum(1 for _ in node.walk())


class _Differ:
    def __init__(
        self,
        flow: str,
        base: TraceShape,
        current: TraceShape,
        counts: bool,
        values: bool,
        renames: Mapping[str, str] | None = None,
    ):
        self.flow = flow
        self.renames = renames
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
        added = {k: cur.attributes[k] for k in cur.attributes.keys() - base.attributes.keys()}
        removed = {k: base.attributes[k] for k in base.attributes.keys() - cur.attributes.keys()}
        for old, new in pair_renamed_keys(removed, added, self.renames):
            old_type, new_type = removed.pop(old), added.pop(new)
            retyped = f", {old_type} -> {new_type}" if old_type != new_type else f" ({new_type})"
            self.add(ChangeKind.ATTRIBUTE_RENAMED, path, f"{old} -> {new}{retyped}")
        for key in sorted(added):
            self.add(ChangeKind.ATTRIBUTE_ADDED, path, f"{key} ({added[key]})")
        for key in sorted(removed):
            self.add(ChangeKind.ATTRIBUTE_REMOVED, path, f"{key} ({removed[key]})")
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
        for b, c in self._split(self._join(self._renames(left, right), left), right):
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
    def _join(
        renamed: list[tuple[SpanShape, SpanShape]], left: list[SpanShape]
    ) -> list[tuple[SpanShape, SpanShape]]:
        """The converse of `_split`: several base spans that the new release names alike (the
        3.0.0 collector names HGET, HMSET, EXPIRE all by their target) became one merged
        node (count > 1); fold the leftover base spans of that service and kind into it."""
        out = []
        for b, c in renamed:
            parts = [b]
            if c.count > 1:
                parts += [x for x in left if (x.service, x.kind) == (c.service, c.kind)]
            if len(parts) == 1:
                out.append((b, c))
                continue
            for x in parts[1:]:
                left.remove(x)
            out.append((_merged(parts), c))
        return out

    @staticmethod
    def _split(
        renamed: list[tuple[SpanShape, SpanShape]], right: list[SpanShape]
    ) -> list[tuple[SpanShape, SpanShape]]:
        """Fold leftover current spans into a renamed pair when the base node merged several
        spans (count > 1) that now carry different names in the same service and kind; the
        pair's current side becomes one node named `A | B` with their children together."""
        out = []
        for b, c in renamed:
            parts = [c]
            if b.count > 1:
                parts += [x for x in right if (x.service, x.kind) == (b.service, b.kind)]
            if len(parts) == 1:
                out.append((b, c))
                continue
            for x in parts[1:]:
                right.remove(x)
            out.append((b, _merged(parts)))
        return out

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
    renames: Mapping[str, str] | None = None,
) -> list[Change]:
    """Every difference from `base` to `current`; empty when the shapes agree.

    `counts`: also report how many times a merged span occurs (off by default: it follows
    the data a flow happens to pick, e.g. the number of cart lines).
    `values`: compare the values of stable keys (rpc.method, http.route, ...).
    `renames`: attribute keys known to be renamed (old -> new), on top of the generic pairing.
    """
    name = flow if flow is not None else (current.flow or base.flow)
    differ = _Differ(name, base, current, counts, values, renames)
    differ.changes += diff_edges(name, base.edges, current.edges)
    differ.children(base.roots, current.roots, "")
    return differ.changes


def diff_sets(
    base: Mapping[str, TraceShape],
    current: Mapping[str, TraceShape],
    *,
    counts: bool = False,
    values: bool = True,
    renames: Mapping[str, str] | None = None,
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
                base[name], current[name], flow=name, counts=counts, values=values, renames=renames
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
