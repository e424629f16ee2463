"""The prefix cache: finished runs' prompts and sequences kept in the KV cache for later runs.

When a sequence finishes, its cells (prompt + generated tokens) stay in the cache under an
engine sequence id of their own (an *entry*) instead of being dropped; a later run whose
prompt begins like an entry copies those cells (``seq_cp``: shared, not duplicated) and
prefills only the rest (decoding/prefix.py). One cache per engine (``attach``), shared by
every scheduler made on it, so it outlives a scheduler's ``events()``.

Entries give way to live runs: the scheduler evicts the least recently used one when a run
needs its sequence id or its cells (decoding/scheduler.py). Each entry names its cells as
spans ``(owner, first, end)``, the same names the scheduler gives a run's cells, so the
cells that entries and runs share are counted once.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Iterator

from .radix import RadixTree

MIN_SHARED_PREFIX = 16
"""Prompt tokens a run must share with an entry or another run before it copies them (fewer: not worth it)."""

OWNERS = itertools.count()
"""Names of cell owners, unique in the process (schedulers' run ids are not)."""

Span = tuple[object, int, int]
"""Cells of one owner at positions [first, end)."""


@dataclass(eq=False)
class Entry:
    """One cached prefix."""

    seq: int
    """The engine sequence id holding its cells."""
    tokens: tuple[int, ...]
    """Its tokens: the cells at positions 0 … len - 1."""
    spans: list[Span]
    """Its cells by owner (see module docstring)."""
    used: int
    """When it was last made or copied (larger: more recent)."""


class PrefixCache:
    """Cached prefixes of one engine, by token prefix (a radix tree), evicted LRU."""

    def __init__(self, max_cells: int | None = None) -> None:
        self.max_cells = max_cells
        """Most cells the entries may hold beyond the live runs' (None: what the context has spare)."""
        self.entries: dict[int, Entry] = {}
        """Entries by engine sequence id."""
        self.tree = RadixTree()
        self._clock = itertools.count(1)

    def ids(self) -> set[int]:
        """Engine sequence ids the entries hold."""
        return set(self.entries)

    def lookup(self, tokens: list[int], limit: int) -> tuple[Entry | None, int]:
        """The entry sharing the most leading tokens of ``tokens`` (at most ``limit``) and
        how many; (None, 0) under MIN_SHARED_PREFIX. The entry counts as used."""
        n, keys = self.tree.longest(tokens)
        n = min(n, limit)
        if n < MIN_SHARED_PREFIX or not keys:
            return None, 0
        entry = self.entries[max(keys, key=lambda s: self.entries[s].used)]
        entry.used = next(self._clock)
        return entry, n

    def holds(self, tokens: list[int]) -> bool:
        """True when an entry already holds all of ``tokens`` (it counts as used)."""
        entry, n = self.lookup(tokens, len(tokens))
        return entry is not None and n == len(tokens)

    def add(self, seq: int, tokens: list[int], spans: list[Span]) -> list[int]:
        """Record the entry held by ``seq``; entries it makes redundant (their tokens a prefix
        of its own) leave the index. Returns those entries' sequence ids (to free)."""
        gone = [s for s in self.tree.prefixes(tokens)]
        for s in gone:
            self.drop(s)
        self.entries[seq] = Entry(seq, tuple(tokens), spans, next(self._clock))
        self.tree.insert(tokens, seq)
        return gone

    def drop(self, seq: int) -> None:
        """Forget the entry held by ``seq`` (the caller frees the engine's sequence)."""
        entry = self.entries.pop(seq)
        self.tree.remove(entry.tokens, seq)

    def oldest(self) -> int | None:
        """The least recently used entry's sequence id (None: empty)."""
        return min(self.entries, key=lambda s: self.entries[s].used, default=None)

    def spans(self) -> Iterator[Span]:
        """Every entry's cells."""
        for entry in self.entries.values():
            yield from entry.spans

    def forget(self) -> None:
        """Drop every entry (the engine's memory was cleared)."""
        self.entries.clear()
        self.tree = RadixTree()


def attach(engine, max_cells: int | None = None) -> PrefixCache:
    """Give ``engine`` a prefix cache that its schedulers use (see ``of``)."""
    engine.prefix_cache = PrefixCache(max_cells)
    return engine.prefix_cache


def of(engine) -> PrefixCache | None:
    """The engine's prefix cache (None: none attached)."""
    return getattr(engine, "prefix_cache", None)


def generated_spans(tree, n_prompt: int, owner: int, seqs=None) -> list[Span]:
    """The generated cells that ``seqs`` (default: every sequence in the cache) hold, as
    spans named ``(owner, kind, sequence id)``. A sequence owns its cells from ``kv_base``
    to ``decoded`` and shares its ``kv_parent``'s below (tree.kv_cells)."""
    scaffolds = {id(s) for s in tree.scaffolds}  # a continued tree's: ids of their own
    spans = []
    for q in (tree.sequences + tree.scaffolds) if seqs is None else seqs:
        if seqs is None and q.slot < 0:
            continue
        node, upto = q, q.decoded
        while node is not None:
            if upto > node.kv_base:
                kind = "scaffold" if id(node) in scaffolds else "sequence"
                spans.append(((owner, kind, node.id), n_prompt + node.kv_base, n_prompt + upto))
            node, upto = node.kv_parent, node.kv_base
    return spans
