"""The branch tree as nested values: branch points inside, sequences at the leaves.

A branch point splits one line of decoding in two: the parent keeps going (it
took the most likely token) and the child starts (it took the second). Both
the tree widget and the HTML export draw this same structure.
"""

from __future__ import annotations

from dataclasses import dataclass

from .live_run import BranchPoint, LiveRun


@dataclass(frozen=True)
class Leaf:
    """A sequence from its last branch point to its end."""

    seq: int


@dataclass(frozen=True)
class Fork:
    """A branch point and the two lines of decoding that leave it."""

    branch: BranchPoint
    kept: "Node"
    """The parent's continuation (it took the most likely token)."""
    taken: "Node"
    """The child's line (it took the second most likely token)."""


Node = Leaf | Fork


def build(run: LiveRun) -> tuple[Node, ...]:
    """One subtree per root sequence, in sequence order."""
    by_parent: dict[int, list[BranchPoint]] = {}
    for b in run.branches:
        by_parent.setdefault(b.parent, []).append(b)
    for bs in by_parent.values():
        bs.sort(key=lambda b: b.pos)

    def line(seq: int, after: int) -> Node:
        for b in by_parent.get(seq, ()):
            if b.pos > after:
                return Fork(b, line(seq, b.pos), line(b.child, b.pos))
        return Leaf(seq)

    return tuple(line(s.id, -1) for s in run.seqs if s.parent is None)


def leaves(node: Node) -> list[int]:
    """Sequence ids under ``node``, top to bottom."""
    if isinstance(node, Leaf):
        return [node.seq]
    return leaves(node.kept) + leaves(node.taken)
