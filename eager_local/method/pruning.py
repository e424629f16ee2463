"""Online confidence pruning (DeepConf-online) as pure rules: the window confidence of a
live sequence, the threshold learned from the warm-up sequences, the consensus share.

The confidences are ``confidence.py``'s, so what ends a sequence online is exactly
what the votes read after the fact: the token confidence c_t = ln K − H_t, and a
window's confidence is the mean c_t over its W tokens (``sequence_confidence`` over
those W tokens, rounded alike). A live sequence is pruned at the first token where
its last W tokens' confidence is below the threshold s; its lowest-window confidence
so far is then below s too, and never rises again.
"""

from __future__ import annotations

import re

import numpy as np

from .confidence import sequence_confidence
from .final_answer import answer_part, final_answer

#: Finish reasons of a sequence that ended on its own (a warm-up sequence, a voter).
NATURAL = ("eog", "stop", "length")
#: Finish reasons of a sequence stopped early by this rule: it gives no answer and casts no vote.
STOPPED = ("pruned", "consensus")

_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def window_confidence(entropies, k: int, window: int) -> float | None:
    """Mean token confidence of the last ``window`` tokens; None while there are fewer."""
    if len(entropies) < window:
        return None
    return sequence_confidence(entropies[-window:], k, window).lowest_window


def learned_threshold(lowest_windows, keep: float) -> float:
    """s such that ``keep`` percent of the warm-up sequences' lowest-window confidences
    are at or above it: their (100 − keep)-th percentile (linear between ranks)."""
    values = np.asarray(list(lowest_windows), dtype=float)
    if values.size == 0:
        raise ValueError("no warm-up sequence to learn the threshold from")
    return round(float(np.percentile(values, 100.0 - keep)), 4)


def consensus_share(ballots) -> float:
    """The weighted vote's top share among (answer, weight) pairs; 0 with no vote.

    Answers that are None cast no vote; the weights are lowest-window confidences.
    """
    totals: dict[str, float] = {}
    for answer, weight in ballots:
        if answer is not None:
            totals[answer] = totals.get(answer, 0.0) + weight
    whole = sum(totals.values())
    if whole <= 0:
        # every vote weighs nothing: count heads instead of weights
        counts = [sum(1 for a, _ in ballots if a == x) for x in totals]
        return max(counts) / sum(counts) if counts else 0.0
    return max(totals.values()) / whole


def vote_answer(text: str, think: tuple[str, ...] | None) -> str | None:
    """A sequence's answer for the consensus vote: the last ``\\boxed{}`` (``final_answer``),
    else the last number after the think block (few-shot answers such as "The answer
    is 15."), commas dropped; None when there is neither."""
    boxed = final_answer(text, think)
    if boxed is not None:
        return boxed
    numbers = _NUMBER.findall(answer_part(text, think) or "")
    return numbers[-1].replace(",", "") if numbers else None


def tokens_saved(pruned_lengths, natural_lengths, max_new_tokens: int) -> int:
    """An estimate of the tokens pruning saved on one prompt: each pruned sequence would
    have run to the mean length of the sequences that ended on their own (T when none
    did), so it saved that minus what it had."""
    natural = list(natural_lengths)
    full = sum(natural) / len(natural) if natural else max_new_tokens
    return round(sum(max(0.0, full - n) for n in pruned_lengths))
