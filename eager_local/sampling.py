"""Sampling as small pure functions over numpy arrays.

Every row of a step goes through ``distributions``: temperature, a cut to the
tokens that can matter, a stable softmax, and the top-K entropy. Sampling then
uses an explicit ``np.random.Generator`` so a seed fixes the run.

Why the cut is exact: after temperature, a token more than ``WINDOW_NATS``
below the best one has probability below e^-30 ≈ 9e-14 of the best; even
262,144 of them hold under 3e-8 of the mass. They can change neither the
top-K entropy (beyond float32 precision) nor which tokens top-p keeps, and
skipping them avoids sorting a 262k-entry vocabulary on every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Tokens further than this (in nats, after temperature) below the best are dropped.
WINDOW_NATS = 30.0


@dataclass(frozen=True)
class RowDist:
    """The candidates of one row, most probable first."""

    ids: np.ndarray
    """Token ids, descending probability."""
    probs: np.ndarray
    """Their probabilities after temperature (float64, sums to ~1)."""
    entropy: float
    """Top-K entropy in nats."""


def distributions(logits: np.ndarray, temperature: float, k: int) -> list[RowDist]:
    """One ``RowDist`` per row of ``logits`` (shape rows × vocab)."""
    x = np.asarray(logits)
    if x.ndim == 1:
        x = x[None, :]
    tau = max(float(temperature), 1e-6)  # epsilon guard: τ → 0 is argmax
    # 1. keep the tokens within WINDOW_NATS of each row's best (after temperature)
    best = x.max(axis=1)
    rows, cols = np.nonzero(x >= (best - WINDOW_NATS * tau)[:, None])
    bounds = np.searchsorted(rows, np.arange(x.shape[0] + 1))
    out = []
    for i in range(x.shape[0]):
        ids = cols[bounds[i] : bounds[i + 1]]
        # 2. temperature, then sort the survivors by score, best first
        z = x[i, ids].astype(np.float64) / tau
        order = np.argsort(-z, kind="stable")
        ids, z = ids[order], z[order]
        # 3. stable softmax over the survivors
        p = np.exp(z - z[0])
        p /= p.sum()
        out.append(RowDist(ids.astype(np.int64), p, topk_entropy_sorted(p, k)))
    return out


def topk_entropy_sorted(probs: np.ndarray, k: int) -> float:
    """Entropy (nats) of the first ``k`` of descending ``probs``, renormalised."""
    q = probs[:k]
    q = q / q.sum()
    q = q[q > 0]
    return float(-(q * np.log(q)).sum())


def topk_entropy(logits: np.ndarray, temperature: float, k: int) -> float:
    """Reference top-K entropy of one full logits row (no cut): for tests and clarity."""
    z = np.asarray(logits, dtype=np.float64) / max(float(temperature), 1e-6)
    top = np.sort(z)[::-1][:k]
    p = np.exp(top - top[0])
    p /= p.sum()
    p = p[p > 0]
    return float(-(p * np.log(p)).sum())


def sample_top_p(dist: RowDist, top_p: float, rng: np.random.Generator) -> int:
    """Draw a token from the smallest prefix of ``dist`` whose mass reaches ``top_p``."""
    cdf = np.cumsum(dist.probs)
    keep = int(np.searchsorted(cdf, top_p * cdf[-1])) + 1  # include the token that crosses top_p
    keep = min(keep, len(dist.probs))
    u = rng.random() * cdf[keep - 1]
    return int(dist.ids[min(int(np.searchsorted(cdf[:keep], u, side="right")), keep - 1)])


def top_two(dist: RowDist, logits_row: np.ndarray) -> tuple[int, int]:
    """The most and second most likely tokens (falls back to the full row if the cut kept one)."""
    if len(dist.ids) >= 2:
        return int(dist.ids[0]), int(dist.ids[1])
    row = np.asarray(logits_row)
    two = np.argpartition(row, -2)[-2:]
    a, b = (two[1], two[0]) if row[two[1]] >= row[two[0]] else (two[0], two[1])
    return int(a), int(b)


def top_candidates(dist: RowDist, n: int) -> tuple[tuple[int, float], ...]:
    """The ``n`` most likely (token, probability) pairs."""
    return tuple((int(t), float(p)) for t, p in zip(dist.ids[:n], dist.probs[:n]))


def make_rng(seed: int) -> np.random.Generator:
    """The run's generator: everything random in a run draws from it, in sequence order."""
    return np.random.Generator(np.random.PCG64(seed))
