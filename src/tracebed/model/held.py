"""What the log and metric indexes hold: items by sequence number, oldest first, each left in
the batch it arrived in (protobuf, for the receivers) and decoded only when a query wants it.

Per item, ingest costs an append of its head (what the index reads: ids, times, series) and
of its place in the batch; no object is made for it until it is asked for.
"""

from __future__ import annotations

import bisect
from typing import Generic, Protocol, TypeVar

H = TypeVar("H")  # an item's head
T = TypeVar("T", covariant=True)  # what an item decodes to


class Batch(Protocol[T]):
    def materialize(self, index: int) -> T: ...


V = TypeVar("V")

COMPACT_AFTER = 4096  # evicted heads dropped in one go, not one at a time


class Held(Generic[H, V]):
    """Items `oldest .. next_seq - 1`; evicted oldest first. Not locked (the store's lock)."""

    def __init__(self) -> None:
        self.next_seq = 0
        self.oldest = 0
        self._heads: list[H] = []  # head of seq `_base + i`
        self._base = 0
        self._firsts: list[int] = []  # first seq of each batch held
        self._batches: list[tuple[Batch[V], list[int]]] = []  # batch, indexes of its items held
        self._decoded: dict[int, V] = {}

    def __len__(self) -> int:
        return self.next_seq - self.oldest

    def open(self, batch: Batch[V]) -> tuple[list[H], list[int]]:
        """Start storing items of `batch`: append each one's head and batch index to the two
        lists returned (in step), then `close` with how many were appended."""
        indexes: list[int] = []
        self._firsts.append(self.next_seq)
        self._batches.append((batch, indexes))
        return self._heads, indexes

    def close(self, stored: int) -> None:
        self.next_seq += stored
        if not stored:  # nothing of the batch was new
            self._firsts.pop()
            self._batches.pop()

    def head(self, seq: int) -> H:
        return self._heads[seq - self._base]

    def get(self, seq: int) -> V:
        """Item `seq`, decoded (once)."""
        item = self._decoded.get(seq)
        if item is None:
            at = bisect.bisect_right(self._firsts, seq) - 1
            batch, indexes = self._batches[at]
            item = self._decoded[seq] = batch.materialize(indexes[seq - self._firsts[at]])
        return item

    def seqs(self, since: int = 0) -> range:
        return range(max(since, self.oldest), self.next_seq)

    def pop_oldest(self) -> tuple[int, H]:
        seq = self.oldest
        head = self.head(seq)
        self.oldest += 1
        self._decoded.pop(seq, None)
        firsts = self._firsts
        while firsts and firsts[0] + len(self._batches[0][1]) <= self.oldest:
            del firsts[0], self._batches[0]  # every item of the oldest batch is gone
        dropped = self.oldest - self._base
        if dropped >= COMPACT_AFTER and dropped * 2 >= len(self._heads):
            del self._heads[:dropped]
            self._base = self.oldest
        return seq, head

    def clear(self) -> None:
        self._heads.clear()
        self._firsts.clear()
        self._batches.clear()
        self._decoded.clear()
        self.oldest = self._base = self.next_seq
