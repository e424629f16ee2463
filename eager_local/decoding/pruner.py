"""One prompt's online pruning state (``Settings.prune = "confidence"``): the warm-up
sequences, the threshold s they set, and the two questions ``RunState`` asks each step.

- ``finished(q)``: a sequence ended. The first ``prune_warmup`` (N_init) sequences
  that end on their own (eog, stop or length) are the warm-up; when the last of them
  ends, s is learned (``method/pruning.learned_threshold``) or taken from
  ``prune_threshold``. No sequence is pruned before then, so the warm-up never is,
  and a prompt keeps at least N_init sequences.
- ``prunes(q)``: after ``q`` took a token, is its last-W-token confidence below s?
- ``agreed(sequences)``: with ``stop_on_consensus``, does the weighted vote of the
  finished, unpruned sequences already give one answer that share?
"""

from __future__ import annotations

from ..method.confidence import sequence_confidence
from ..method.pruning import NATURAL, consensus_share, learned_threshold, vote_answer, window_confidence
from ..settings import Settings
from ..tree import LiveSequence


class Pruner:
    """The warm-up and the threshold of one prompt."""

    def __init__(self, settings: Settings, think: tuple[str, ...] | None = None) -> None:
        self.settings = settings
        self.think = think
        """The model's think markers (the consensus vote reads answers after them)."""
        self.warmup: list[float] = []
        """Lowest-window confidences of the warm-up sequences, in the order they ended."""
        self.threshold: float | None = None
        """s in nats once the warm-up has ended; None before."""
        self.voters = 0
        """Finished, unpruned sequences when the vote was last counted."""
        self.stopped = False
        """True once a consensus has ended the prompt."""

    def lowest(self, q: LiveSequence) -> float:
        s = self.settings
        return sequence_confidence(q.entropies, s.top_k_entropy, s.prune_window).lowest_window

    def finished(self, q: LiveSequence) -> None:
        """Count ``q`` into the warm-up while it is not full; learn s when it is."""
        s = self.settings
        if self.threshold is not None or q.finish_reason not in NATURAL:
            return
        self.warmup.append(self.lowest(q))
        if len(self.warmup) >= s.prune_warmup:
            fixed = s.prune_threshold
            self.threshold = fixed if fixed is not None else learned_threshold(self.warmup, s.prune_keep)

    def prunes(self, q: LiveSequence) -> bool:
        """True when ``q``'s last W tokens are less confident than s (never before s exists)."""
        if self.threshold is None:
            return False
        w = window_confidence(q.entropies, self.settings.top_k_entropy, self.settings.prune_window)
        return w is not None and w < self.threshold

    def agreed(self, sequences: list[LiveSequence]) -> bool:
        """True when the finished, unpruned sequences (at least N_init of them) already
        give one answer ``stop_on_consensus`` of the confidence-weighted vote."""
        share = self.settings.stop_on_consensus
        if share is None or self.threshold is None:
            return False
        done = [q for q in sequences if q.finish_reason in NATURAL]
        if len(done) == self.voters:  # nobody new finished: the vote has not changed
            return False
        self.voters = len(done)
        ballots = [(vote_answer(q.text, self.think), self.lowest(q)) for q in done]
        self.stopped = consensus_share(ballots) >= share
        return self.stopped
