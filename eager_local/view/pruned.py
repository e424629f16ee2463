"""How the faces show a pruned sequence: its mark, and the window whose confidence fell
below the threshold s (the last W tokens it generated, since it ended there)."""

from __future__ import annotations

from ..method.pruning import window_confidence
from ..settings import Settings

PRUNE_MARK = "✂"
"""The mark of a sequence that online pruning ended."""


def pruned_window(n_tokens: int, s: Settings) -> tuple[int, int]:
    """The generated-token positions [start, end) of the window that fell below s."""
    return max(0, n_tokens - s.prune_window), n_tokens


def prune_note(entropies, s: Settings, threshold: float | None) -> str:
    """``tokens 12–27: confidence 1.43 < s 1.61`` for a pruned sequence."""
    start, end = pruned_window(len(entropies), s)
    c = window_confidence(list(entropies), s.top_k_entropy, s.prune_window)
    below = "" if threshold is None else f" < s {threshold:.2f}"
    conf = "" if c is None else f": confidence {c:.2f}{below}"
    return f"tokens {start}–{end - 1}{conf}"
