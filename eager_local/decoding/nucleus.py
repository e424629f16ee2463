"""The exact top-p nucleus of a wide row in one or two passes, without sorting the row.

A row's top-p cut depends on its mass Z; the draw (scaled by the nucleus's own
mass) and the top-K entropy do not. So the row's mass is only bounded,
``z_lo ≤ Z ≤ z_hi``, and the cut is proved when both ends put it at the same
token (as ``sampling._grouped`` does). Two bounds, chosen by how flat the row is:

* **Window** (a sure row): one pass finds the tokens within ``WINDOW_BOUND_NATS``
  (after temperature) of the best; their float64 weights are exact, and each
  token left out weighs less than e^-D of the best, so Z lies in
  [S, S + (V − n)·e^-D]. Cheap when few tokens are near the best.
* **Flat** (many tokens near the best): one float32 pass of weights over the
  row and their sum, within ``F32_RTOL`` of the float64 mass.

Either way only the tokens above a threshold (estimated from a strided sample of
the weights, checked on the selection) are sorted: the nucleus and a margin of
about three standard deviations of the estimate. Their weights are then
recomputed in float64 exactly as the full-row reference does, so the listed
tokens, the entropy (to ~1e-15) and the draws equal the reference's; rows whose
cut the bounds cannot place return None (the caller takes the reference).
"""

from __future__ import annotations

import math

import numpy as np

#: Nats (after temperature) below the best token that the window bound gathers.
WINDOW_BOUND_NATS = 20.0
#: The window bound is used while at most this share of the vocabulary is in the window.
WINDOW_MAX_SHARE = 1 / 8
#: Relative error bound of a float32 pass's row mass (exp, 1/τ rounding, pairwise sum).
F32_RTOL = 1e-5
#: Relative slack when comparing cumulative masses (float64 rounding of the cut).
_SLACK = 1e-9
#: Stride of the sample that estimates the nucleus threshold.
_STRIDE = 64


def cut(row: np.ndarray, best: float, tau: float, k: int, top_p: float, need: int,
        scratch: np.ndarray) -> tuple[np.ndarray, np.ndarray, int, float, float] | None:
    """(ids best first, their float64 weights relative to the best, how many of them
    to list, z_lo, z_hi) for the proved nucleus of ``row``, or None.

    ``best``: the row's maximum; ``scratch``: float64 of the row's length (overwritten).
    The row's mass lies in [z_lo, z_hi]; the first ``n`` ids reach the cut and
    ``need``; the weights may go on past them (the top-K entropy uses them)."""
    V = len(row)
    inv = 1.0 / tau
    # 1. the window: tokens within D nats of the best, their exact weights
    near = row >= best - WINDOW_BOUND_NATS * tau
    if np.count_nonzero(near) <= V * WINDOW_MAX_SHARE:
        ids = np.flatnonzero(near)
        a = np.exp((row[ids].astype(np.float64) - best) * inv)
        z = float(a.sum())
        left = (V - len(ids)) * math.exp(-(WINDOW_BOUND_NATS - 1e-3))  # bound of the rest
    else:  # 2. a flat row: one float32 pass of weights and their sum
        ids, a = None, scratch.view(np.float32)[:V]
        np.subtract(row, np.float32(best), out=a)
        np.multiply(a, np.float32(inv), out=a)
        np.exp(a, out=a)
        z = float(a.sum(dtype=np.float64))
        left = z * F32_RTOL  # error bound of the float32 weights (refined below)
    # 3. the tokens above a threshold that holds the nucleus (a superset, upward closed)
    sel = _above(a, top_p * (z + left) * (1 + F32_RTOL), need)
    if sel is None:
        return None
    head = float(a[sel].sum(dtype=np.float64))
    sel = ids[sel] if ids is not None else sel
    # 4. sort only those, best first (ties: lower id first); exact float64 weights
    order = by_value_desc(row[sel], sel)
    w = np.exp((row[order].astype(np.float64) - best) * inv)
    # 5. the row's mass: the selection's exactly, the rest within its bound
    rest = z - head
    z_lo, z_hi = (w.sum() + rest, w.sum() + rest + left) if ids is not None else \
        (w.sum() + rest * (1 - F32_RTOL), w.sum() + rest * (1 + F32_RTOL))
    # 6. the cut must fall at the same token for both ends of the mass; where it does
    #    not, the row's exact mass (one float64 pass, as the reference computes it)
    cdf = np.cumsum(w)
    keep_lo = int(np.searchsorted(cdf, top_p * z_lo * (1 - _SLACK))) + 1
    keep_hi = int(np.searchsorted(cdf, top_p * z_hi * (1 + _SLACK))) + 1
    if keep_lo != keep_hi:
        z_lo = z_hi = exact_mass(row, best, tau, scratch)
        keep_hi = int(np.searchsorted(cdf, top_p * z_lo)) + 1
    if keep_hi > len(w) or len(w) < need:
        return None
    return order, w, min(len(w), max(keep_hi, need)), float(z_lo), float(z_hi)


def exact_mass(row: np.ndarray, best: float, tau: float, scratch: np.ndarray) -> float:
    """The row's mass relative to its best token, in float64 (``scratch``: float64)."""
    np.subtract(row, best, out=scratch, dtype=np.float64)
    np.multiply(scratch, 1.0 / tau, out=scratch)
    np.exp(scratch, out=scratch)
    return float(scratch.sum())


def _above(a: np.ndarray, target: float, need: int) -> np.ndarray | None:
    """Indices of ``a``'s largest entries (all those ≥ a threshold) whose sum reaches
    ``target`` and that number at least ``need``; None if even all of ``a`` does not."""
    if len(a) <= 4 * _STRIDE:
        return np.arange(len(a)) if float(a.sum()) >= target and len(a) >= need else None
    sample = np.sort(a[::_STRIDE])[::-1]
    # the head (about the 9 × stride best tokens) exactly: a sample misses a heavy best token
    j = min(8, len(sample) - 1)
    while j < len(sample):
        sel = np.flatnonzero(a >= sample[j])
        mass = float(a[sel].sum())
        if len(sel) >= need and mass >= target:
            return sel
        # the rest from the sample beyond j, plus ~3 standard deviations of that count
        more = int(np.searchsorted(np.cumsum(sample[j + 1 :]) * _STRIDE, target - mass)) + 1
        j += max(more + 3 * math.isqrt(more) + 4, -(-(need - len(sel)) // _STRIDE))
    sel = np.flatnonzero(a > 0)
    return sel if len(sel) >= need and float(a[sel].sum()) >= target else None


def by_value_desc(v: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """``ids`` ordered by descending ``v`` (float32), ties by lower id, in one int64 sort:
    the float's bits made monotone, shifted above the id."""
    b = (np.negative(v, dtype=np.float32) + np.float32(0.0)).view(np.int32)  # + 0.0: no -0.0
    key = (b ^ ((b >> 31) & 0x7FFFFFFF)).astype(np.int64) << 32
    key |= ids
    return np.sort(key) & 0xFFFFFFFF
