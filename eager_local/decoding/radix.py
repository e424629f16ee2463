"""A token radix tree: the cached prefixes by their tokens, for the longest-match lookup.

Each key (a cache entry) is a token sequence; a node's edge is a run of tokens and a
node knows every key whose sequence passes through all of it (edges are split where a
key ends or two keys part), so the longest prefix of a prompt that some key shares is
found by one walk down the tree, whatever the number of keys.
"""

from __future__ import annotations

from typing import Sequence


class _Node:
    """One node: the tokens on the edge into it, its children by first token, its keys."""

    __slots__ = ("edge", "children", "through", "ends")

    def __init__(self, edge: tuple[int, ...]) -> None:
        self.edge = edge
        self.children: dict[int, _Node] = {}
        self.through: set[int] = set()
        """Keys whose tokens cover this node's edge."""
        self.ends: set[int] = set()
        """Keys whose tokens end at this node."""


def _common(edge: tuple[int, ...], tokens: Sequence[int], start: int) -> int:
    """Length of the common prefix of ``edge`` and ``tokens[start:]``."""
    k, n = 0, min(len(edge), len(tokens) - start)
    while k < n and edge[k] == tokens[start + k]:
        k += 1
    return k


class RadixTree:
    """Keys (ints) by token sequence; the longest shared prefix of a query in one walk."""

    def __init__(self) -> None:
        self.root = _Node(())

    def insert(self, tokens: Sequence[int], key: int) -> None:
        """Add ``key`` for ``tokens`` (edges split so that ``key`` ends at a node)."""
        node, i = self.root, 0
        while i < len(tokens):
            child = node.children.get(tokens[i])
            if child is None:
                child = node.children[tokens[i]] = _Node(tuple(tokens[i:]))
            k = _common(child.edge, tokens, i)
            if k < len(child.edge):  # split: a middle node ends where the key parts or ends
                mid = _Node(child.edge[:k])
                mid.through = set(child.through)
                child.edge = child.edge[k:]
                mid.children[child.edge[0]] = child
                node.children[tokens[i]] = child = mid
            child.through.add(key)
            node, i = child, i + k
        node.ends.add(key)

    def remove(self, tokens: Sequence[int], key: int) -> None:
        """Drop ``key`` (inserted with ``tokens``); nodes left without keys go."""
        node, i = self.root, 0
        while i < len(tokens):
            child = node.children[tokens[i]]
            child.through.discard(key)
            if not child.through:
                del node.children[tokens[i]]
                return
            node, i = child, i + len(child.edge)
        node.ends.discard(key)

    def longest(self, tokens: Sequence[int]) -> tuple[int, set[int]]:
        """(n, keys): the most leading tokens of ``tokens`` that some key shares, and the
        keys that share them (n = 0: none)."""
        node, i, best = self.root, 0, (0, set())
        while i < len(tokens):
            child = node.children.get(tokens[i])
            if child is None:
                break
            k = _common(child.edge, tokens, i)
            best = (i + k, child.through)
            if k < len(child.edge):
                break
            node, i = child, i + k
        return best

    def prefixes(self, tokens: Sequence[int]) -> list[int]:
        """Keys whose whole token sequence is a prefix of ``tokens`` (``tokens`` included)."""
        node, i, out = self.root, 0, []
        while True:
            out.extend(node.ends)
            child = node.children.get(tokens[i]) if i < len(tokens) else None
            if child is None or _common(child.edge, tokens, i) < len(child.edge):
                return out
            node, i = child, i + len(child.edge)
