"""Voting rules over a prompt's sequences: plain majority (Cons@k), confidence-weighted
majority, and the weighted vote over the most confident sequences (DeepConf@k).

Every rule returns whether the winning answer is correct. A sequence without an
extracted answer casts no vote; a tie goes to the tied answer seen first; no
vote at all is not correct. Weights are the sequences' lowest sliding-window
confidence (evaluation/confidence.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..method.confidence import sequence_confidence

KEEP = 0.5
"""DeepConf@k keeps this share of a prompt's sequences, the most confident (at least one)."""


@dataclass(frozen=True)
class Ballot:
    """One sequence's vote."""

    answer: str | None
    """Its extracted answer (None: no vote)."""
    correct: bool
    """The answer is right."""
    weight: float
    """Its confidence (lowest sliding-window confidence, nats)."""


def winner(ballots: list[Ballot], weighted: bool) -> str | None:
    """The answer with the most votes (or weight); ties: the one seen first."""
    totals: dict[str, float] = {}
    for b in ballots:
        if b.answer is not None:
            totals[b.answer] = totals.get(b.answer, 0.0) + (b.weight if weighted else 1.0)
    if not totals:
        return None
    top = max(totals.values())
    return next(a for a, v in totals.items() if v == top)  # dicts keep first-seen order


def _correct(ballots: list[Ballot], answer: str | None) -> bool:
    return answer is not None and any(b.correct for b in ballots if b.answer == answer)


def majority(ballots: list[Ballot]) -> bool:
    """Cons@k: one sequence, one vote."""
    return _correct(ballots, winner(ballots, weighted=False))


def weighted_majority(ballots: list[Ballot]) -> bool:
    """Each answer scores the sum of its sequences' confidence."""
    return _correct(ballots, winner(ballots, weighted=True))


def most_confident(ballots: list[Ballot], keep: float = KEEP) -> list[Ballot]:
    """The ⌈keep·n⌉ most confident ballots (ties: the earlier sequence), in their order."""
    n = max(1, math.ceil(keep * len(ballots))) if ballots else 0
    order = sorted(range(len(ballots)), key=lambda i: (-ballots[i].weight, i))[:n]
    return [ballots[i] for i in sorted(order)]


def deepconf(ballots: list[Ballot], keep: float = KEEP) -> bool:
    """DeepConf@k: the confidence-weighted vote among the most confident sequences."""
    return weighted_majority(most_confident(ballots, keep))


def record_ballots(record) -> list[Ballot]:
    """The ballots of an EvalRecord: stored confidences, or computed from its run document
    (records written before confidences were stored)."""
    seqs = record.sequences
    if all(s.lowest_window is not None for s in seqs):
        return [Ballot(s.answer, s.correct, s.lowest_window) for s in seqs]
    run = record.run or {}
    k = int((run.get("params") or record.settings).get("top_k_entropy", 20))
    docs = run.get("sequences") or []
    out = []
    for i, s in enumerate(seqs):
        ent = docs[i]["entropies"] if i < len(docs) else []
        out.append(Ballot(s.answer, s.correct, sequence_confidence(ent, k).lowest_window))
    return out
