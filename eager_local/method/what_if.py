"""θ what-if: where a recorded tree would have forked at another θ, without decoding.

Every token of a recorded sequence carries the top-K entropy of the distribution
it was drawn from, so the positions where H ≥ θ' are known for any trial θ'.
Counted as the controller counts: a sequence's own tokens only (a child's first
token is its fork, already counted at the parent), within the monitoring window
after the sequence's last fork; EAGer-init would then create sequences up to the
cap M, earliest fork point first. At the run's own θ this is exactly the forks
it made plus ``continuation.missed_forks`` (tests/unit/test_what_if.py).

What lies past a fork that did not happen is unknown: the count is of the
recorded tokens, the lower bound of what a real run at θ' would see.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WhatIf:
    """A trial θ read off a recorded tree."""

    theta: float
    """The trial θ (nats)."""
    points: tuple[tuple[int, int], ...]
    """(sequence, token index) where H ≥ θ, earliest index first."""
    sequences: int
    """Sequences EAGer-init would end with on these tokens: roots + points, at most M."""
    cap: int
    """M."""

    def marks(self, seq: int) -> set[int]:
        """Token indices of ``seq``'s own tokens that would fork."""
        return {i for s, i in self.points if s == seq}


def fork_points(sequences, forks, theta: float, window: int) -> list[tuple[int, int]]:
    """(sequence, index) with H ≥ ``theta`` over every sequence's own tokens.

    ``sequences``: objects with id, parent, fork_pos, entropies (SequenceRecord or
    LiveSequence); ``forks``: objects with parent and pos (the recorded forks, which
    reset the monitoring window as they did in the run)."""
    forked: dict[int, list[int]] = {}
    for f in forks:
        forked.setdefault(f.parent, []).append(f.pos)
    out = []
    for q in sequences:
        last = q.fork_pos
        mine = sorted(forked.get(q.id, ()))
        start = q.fork_pos + (1 if q.parent is not None else 0)
        for i in range(start, len(q.entropies)):
            while mine and mine[0] <= i:
                last = mine.pop(0)
            if i - last >= window:
                break
            if q.entropies[i] >= theta:
                out.append((q.id, i))
    out.sort(key=lambda t: (t[1], t[0]))
    return out


def what_if(sequences, forks, theta: float, cap: int, window: int) -> WhatIf:
    """The fork points at ``theta`` and the sequences EAGer-init would reach (≤ ``cap``)."""
    points = fork_points(sequences, forks, theta, window)
    roots = sum(1 for q in sequences if q.parent is None) or 1
    return WhatIf(theta, tuple(points), min(cap, roots + len(points)), cap)
