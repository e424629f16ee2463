"""A sequence's confidence, from what every record already holds: the top-K entropies.

DeepConf (Fu et al. 2025) scores a generated sequence by how peaked the model's
distributions were while it was written. Here the token confidence is taken
from the top-K entropy H_t that EAGER records for every token (nats, over the K
most probable tokens renormalised, K = ``top_k_entropy``):

    c_t = ln K − H_t          (0: flat over the top K; ln K: one certain token)

which is the KL divergence of the top-K distribution from the uniform one. A
sequence gets its mean token confidence and its lowest sliding-window
confidence (the smallest mean of c_t over ``WINDOW`` consecutive tokens; the
whole sequence when it is shorter). See docs/evaluation.md, "Confidence".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

WINDOW = 16
"""Tokens of the sliding window (DeepConf uses 2048 on long traces; answers here are short)."""


@dataclass(frozen=True)
class Confidence:
    """One sequence's confidence measures (nats)."""

    mean: float
    """Mean token confidence over the whole sequence (shared prefix included)."""
    lowest_window: float
    """Lowest mean token confidence over any ``WINDOW`` consecutive tokens."""


def token_confidences(entropies, k: int) -> np.ndarray:
    """c_t = ln K − H_t per token (clipped at 0 against rounding)."""
    h = np.asarray(entropies, dtype=float)
    return np.maximum(math.log(k) - h, 0.0)


def sequence_confidence(entropies, k: int, window: int = WINDOW) -> Confidence:
    """Mean and lowest sliding-window confidence of one sequence; zeros for an empty one."""
    c = token_confidences(entropies, k)
    if c.size == 0:
        return Confidence(0.0, 0.0)
    w = min(window, c.size)
    # window means by a running sum: sums[i] = c[i] + … + c[i + w − 1]
    run = np.concatenate(([0.0], np.cumsum(c)))
    lowest = float(np.min(run[w:] - run[:-w]) / w)
    return Confidence(round(float(c.mean()), 4), round(lowest, 4))
