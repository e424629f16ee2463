"""The sequence tree as nested values: forks inside, sequences at the leaves.

A fork splits one line of decoding in two: the parent keeps going (it took the
most likely token) and the child starts (it took the second). Both the tree
widget and the HTML export draw this same structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..events import Forked

from .live_run import LiveRun


@dataclass(frozen=True)
class Leaf:
    """A sequence from its last fork to its end."""

    seq: int
    """The sequence's id."""


@dataclass(frozen=True)
class ForkNode:
    """A fork and the two lines of decoding that leave it."""

    fork: Forked
    """The fork, with the text of both tokens."""
    kept: "Node"
    """The parent's continuation (it took the most likely token)."""
    taken: "Node"
    """The child's line (it took the second most likely token)."""


Node = Leaf | ForkNode


def build(run: LiveRun) -> tuple[Node, ...]:
    """One subtree per root sequence, in sequence order."""
    by_parent: dict[int, list[Forked]] = {}
    for f in run.forks:
        by_parent.setdefault(f.parent, []).append(f)
    for fs in by_parent.values():
        fs.sort(key=lambda f: (f.pos, f.child))  # two forks at one token: manual ones

    def line(seq: int, i: int) -> Node:
        """``seq`` from its i-th fork on (a child's forks all lie at or after its start)."""
        fs = by_parent.get(seq, ())
        if i < len(fs):
            return ForkNode(fs[i], line(seq, i + 1), line(fs[i].child, 0))
        return Leaf(seq)

    return tuple(line(s.id, 0) for s in run.seqs if s.parent is None)


def leaves(node: Node) -> list[int]:
    """Sequence ids under ``node``, top to bottom."""
    if isinstance(node, Leaf):
        return [node.seq]
    return leaves(node.kept) + leaves(node.taken)
