"""Sampling as small pure functions over numpy arrays.

Every row of a step goes through ``distributions``: temperature, the tokens
that can matter, a stable softmax, and the top-K entropy. Sampling then uses
an explicit ``np.random.Generator`` so a seed fixes the run.

Two exact ways to find the tokens that can matter:

* The reference cut (``_row_window``): after temperature, a token more than
  ``WINDOW_NATS`` below the best has probability below e^-30 ≈ 9e-14 of the
  best; even 262,144 of them hold under 3e-8 of the mass. They change neither
  the top-K entropy (beyond float32 precision) nor which tokens top-p keeps.
  Every surviving token is sorted, which costs milliseconds per row when the
  model is unsure (thousands of survivors in a 262k vocabulary).

* Large vocabularies (≥ 16,384 tokens) with a top-p cut: ``nucleus.cut``, one
  or two passes per row: the row's mass bounded (the tokens within 20 nats of
  the best exactly and a bound for the rest, or one float32 pass over a flat
  row), only the tokens above a threshold sorted, and the cut proved for both
  ends of the bound (the row's exact float64 mass where it is not). A row
  whose nucleus outgrows the selection takes the full-row reference
  ``_row_nucleus``: float64 weights of the whole row and their sum, a threshold
  estimated from a strided sample and checked on the whole row, and a sort of
  only the tokens above it. No row sorts the vocabulary, however flat. Both
  give the same tokens, entropies (to ~1e-15) and sampled draws.

* The group bound (``_grouped``), for vocabularies of 12,288 to 16,383 tokens:
  the vocabulary is split into G = V/64 strided groups (token t is in group
  t mod G), one pass takes each group's maximum, and only the B best groups are
  gathered. Every token outside them is at most b, the best maximum left out, so
  the gathered tokens above b are exactly the row's best ones, in order. The
  mass left out lies between Σ e^(max_g) and 64·Σ e^(max_g) over the groups left
  out; when the top-p cut falls at the same place for both ends of that interval,
  the cut is the exact one; other rows take the reference cut.

* Backend candidates (``Candidates``): llama.cpp's ``top_k(N)`` hands back the
  N best logits of each row. The top-K entropy (K ≤ N) and the top two are
  exact; the top-p cut is exact when the mass left out, at most (V − N) times
  the N-th token's weight, cannot move it (``RowDist.exact``); otherwise the
  row is cut at top-p of the N candidates' own mass, as llama.cpp's
  ``top_k → top_p`` chain does. docs/sampling.md has the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
# numpy loads these two lazily, on first use: in the middle of a run, where a Ctrl-C
# that lands in their (Cython) module init is swallowed. Loaded with the engine instead.
import numpy.ma  # noqa: F401
import numpy.random  # noqa: F401

from ..engine.candidates import Candidates
from ..errors import SettingsError
from . import nucleus

#: Tokens further than this (in nats, after temperature) below the best are dropped.
WINDOW_NATS = 30.0
#: Tokens per group of the group bound; vocabularies that are a multiple of it use it.
GROUP = 64
#: Groups gathered per row (at least; more when more certain tokens are asked for).
MIN_GROUPS = 24
#: Relative slack on the left-out mass when certifying the top-p cut (float rounding).
_SLACK = 1e-5
#: Vocabularies at least this large take ``_row_nucleus`` (smaller ones are sorted).
_NUCLEUS_MIN_VOCAB = 16384
#: Stride of the sample that estimates a row's nucleus threshold.
_STRIDE = 64
#: Listed probabilities are within this relative error of the reference's.
_PROB_RTOL = 1e-6


@dataclass(frozen=True)
class RowDist:
    """The candidates of one row, most probable first."""

    ids: np.ndarray
    """Token ids, descending probability."""
    probs: np.ndarray
    """Their probabilities after temperature (float64, of the whole row)."""
    entropy: float
    """Top-K entropy in nats."""
    cover: float = 1.0
    """Largest top-p that ``sample_top_p`` may use: 1.0 means ``ids`` hold every
    token that can matter; less means the list was cut after the top-p nucleus."""
    exact: bool = True
    """False when ``ids`` are backend candidates that could not be proved to hold
    the top-p nucleus: the cut is then taken over the candidates' own mass."""


def distributions(
    logits: np.ndarray,
    temperature: float,
    k: int,
    *,
    top_p: float = 1.0,
    need: int = 2,
    exact_probs: bool = True,
) -> list[RowDist]:
    """One ``RowDist`` per row of ``logits`` (shape rows × vocab).

    ``top_p``: the nucleus ``sample_top_p`` will draw from (1.0 keeps every
    candidate, 0 when no row will be sampled); ``need``: how many leading
    candidates must be listed (at least 2, for the fork tokens);
    ``exact_probs=False``: a cut list's probabilities may be normalised by a
    lower bound of the row's mass (too high by at most 63× the mass left out,
    ~1e-6 typically); the draws of ``sample_top_p`` are exact either way.
    """
    tau = max(float(temperature), 1e-6)  # epsilon guard: τ → 0 is argmax
    if isinstance(logits, (list, tuple)) and logits and isinstance(logits[0], Candidates):
        logits = Candidates.stack(list(logits))
    if isinstance(logits, Candidates):
        return _from_candidates(logits, tau, int(k), float(top_p))
    x = np.asarray(logits)
    if x.ndim == 1:
        x = x[None, :]
    need = max(int(need), int(k), 2)
    if top_p < 1.0 and x.shape[1] >= _NUCLEUS_MIN_VOCAB:
        return _wide(x, tau, k, float(top_p), need, exact_probs)
    out: list[RowDist | None] = [None] * x.shape[0]
    if top_p < 1.0 and _grouped_ok(x.shape[1], need):
        out = _grouped(x, tau, k, float(top_p), need, exact_probs)
    return [d if d is not None else _row_window(x[i], tau, k) for i, d in enumerate(out)]


def _wide(x: np.ndarray, tau: float, k: int, top_p: float, need: int, exact_probs: bool) -> list[RowDist]:
    """Rows of a large vocabulary with a top-p cut: ``nucleus.cut`` where it proves the
    cut (one or two passes per row), the full-row reference ``_row_nucleus`` otherwise."""
    scratch = np.empty(x.shape[1], dtype=np.float64)
    out = []
    for i in range(x.shape[0]):
        best = float(x[i].max())  # row by row: the row stays in the cache for the passes below
        c = nucleus.cut(x[i], best, tau, k, top_p, need, scratch)
        if c is None:  # the nucleus outgrew the selection: the reference, on the whole row
            out.append(_row_nucleus(x[i], tau, k, top_p, need, scratch))
            continue
        ids, w, n, z_lo, z_hi = c
        if exact_probs and z_hi - z_lo > _PROB_RTOL * z_lo:  # listed probabilities of the whole row
            z_lo = nucleus.exact_mass(x[i], best, tau, scratch)
        out.append(RowDist(ids[:n], w[:n] / z_lo, _entropy_of(w, k), top_p))
    return out


def reference_rows(logits: np.ndarray, temperature: float, k: int, top_p: float) -> list[RowDist]:
    """The full-row reference of ``distributions``: every row through ``_row_nucleus``
    (a large vocabulary with a top-p cut) or ``_row_window`` (tests and benchmarks)."""
    x = np.atleast_2d(np.asarray(logits))
    tau = max(float(temperature), 1e-6)
    if top_p < 1.0 and x.shape[1] >= _NUCLEUS_MIN_VOCAB:
        scratch = np.empty(x.shape[1], dtype=np.float64)
        return [_row_nucleus(row, tau, k, top_p, max(int(k), 2), scratch) for row in x]
    return [_row_window(row, tau, k) for row in x]


def _from_candidates(c: Candidates, tau: float, k: int, top_p: float) -> list[RowDist]:
    """One ``RowDist`` per row of backend candidates (module docstring)."""
    R, n = c.ids.shape
    if k > n:
        raise SettingsError(f"top-k-entropy {k} exceeds the {n} candidates the engine keeps per row: "
                            "raise its top_n or use host sampling")
    # 1-3. temperature, weights relative to the best candidate, the proof of the cut
    w, z_lo, proved = _candidate_weights(c, tau, top_p)
    # 4. top-K entropy over the first k (exact: every one of them is a candidate)
    p = w[:, :k] / w[:, :k].sum(axis=1, keepdims=True)
    h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    probs = w / z_lo[:, None]
    out = []
    for i in range(R):
        if proved[i]:  # probabilities of the whole row, high by at most the mass left out
            out.append(RowDist(c.ids[i], probs[i], float(h[i]), top_p))
        else:  # the policy: top-p of the candidates' own mass (docs/sampling.md)
            out.append(RowDist(c.ids[i], probs[i], float(h[i]), 1.0, exact=False))
    return out


def _grouped_ok(vocab: int, need: int) -> bool:
    groups = vocab // GROUP
    return vocab % GROUP == 0 and groups >= 8 * max(MIN_GROUPS, need + 1)


def _grouped(
    x: np.ndarray, tau: float, k: int, top_p: float, need: int, exact_probs: bool = True
) -> list[RowDist | None]:
    """The group bound (module docstring); None for rows it cannot certify."""
    R, V = x.shape
    G = V // GROUP
    B = max(MIN_GROUPS, need + 1)
    # 1. each strided group's maximum: one pass over the logits, no copy of them
    gmax = x.reshape(R, GROUP, G).max(axis=1)  # gmax[r, g] = max of x[r, g + G*j]
    best = gmax.max(axis=1)
    # 2. the B best groups (their least maximum bounds every token left out)
    cut = np.partition(gmax, G - B, axis=1)[:, G - B]
    chosen = gmax >= cut[:, None]
    if np.count_nonzero(chosen) == R * B:  # no ties at the cut: B groups in every row
        top = np.nonzero(chosen)[1].reshape(R, B)
    else:
        top = np.argpartition(gmax, G - B, axis=1)[:, G - B :]
        chosen[:] = False
        chosen[np.arange(R)[:, None], top] = True
    # 3. gather their tokens and keep the B best of them, sorted (ties: lower id first)
    cols = (top[:, :, None] + G * np.arange(GROUP)[None, None, :]).reshape(R, B * GROUP)
    cand = np.take(x.reshape(-1), cols + (V * np.arange(R))[:, None])
    q = np.argpartition(cand, B * GROUP - B, axis=1)[:, B * GROUP - B :]
    qv = np.take_along_axis(cand, q, axis=1)
    qi = np.take_along_axis(cols, q, axis=1)
    order = np.lexsort((qi, -qv), axis=1)
    ids = np.take_along_axis(qi, order, axis=1)
    vals = np.take_along_axis(qv, order, axis=1)
    # the B-th best gathered value is ≥ every token left out (each chosen group gave one
    # ≥ it), so the tokens strictly above it are the row's best, in order
    certain = (vals > vals[:, -1:]).sum(axis=1)
    # 4. temperature; masses relative to the best token: exact ones in float64 for the
    #    listed tokens, float32 sums (bounded by _SLACK) for the rest of the row
    z = vals.astype(np.float64) / tau
    w = np.exp(z - z[:, :1])
    inv = np.float32(1.0 / tau)
    top_mass = np.exp((cand - best[:, None]) * inv).sum(axis=1, dtype=np.float64)
    left = np.exp((gmax - best[:, None]) * inv)
    left[chosen] = 0.0
    lo = left.sum(axis=1, dtype=np.float64)
    z_lo, z_hi = top_mass + lo, top_mass + GROUP * lo
    # exact probabilities: a row whose left-out mass is uncertain gets the exact sum
    # (one more pass over that row only)
    for i in np.flatnonzero(z_hi - z_lo > _PROB_RTOL * z_lo) if exact_probs else ():
        z_lo[i] = z_hi[i] = np.exp((x[i] - best[i]) * inv).sum(dtype=np.float64)
    probs = w / z_lo[:, None]
    z_lo, z_hi = z_lo * (1 - _SLACK), z_hi * (1 + _SLACK)
    # 5. the top-p cut must fall at the same certain token for both ends
    cdf = np.cumsum(w, axis=1)
    keep_lo = (cdf < top_p * z_lo[:, None]).sum(axis=1) + 1
    keep_hi = (cdf < top_p * z_hi[:, None]).sum(axis=1) + 1
    ok = (keep_lo == keep_hi) & (keep_hi <= certain) & (certain >= need)
    # 6. top-K entropy over the first k
    p = w[:, :k] / w[:, :k].sum(axis=1, keepdims=True)
    h = -(p * np.log(np.where(p > 0, p, 1.0))).sum(axis=1)
    return [RowDist(ids[i, : certain[i]], probs[i, : certain[i]], float(h[i]), top_p) if ok[i] else None
            for i in range(R)]


def nucleus_proved(c: Candidates, temperature: float, top_p: float) -> np.ndarray:
    """Per row: whether the candidates provably hold the top-p nucleus (``RowDist.exact``)."""
    return _candidate_weights(c, max(float(temperature), 1e-6), float(top_p))[2]


def _candidate_weights(c: Candidates, tau: float, top_p: float):
    n = c.ids.shape[1]
    # 1. temperature; weights relative to the best candidate
    z = c.logits.astype(np.float64) / tau
    w = np.exp(z - z[:, :1])
    # 2. the row's mass lies between the candidates' and that plus (V − N) × the N-th weight
    z_lo = w.sum(axis=1)
    z_hi = z_lo + (c.n_vocab - n) * w[:, -1]
    # 3. the top-p cut is proved when both ends put it at the same candidate
    cdf = np.cumsum(w, axis=1)
    keep_lo = (cdf < top_p * z_lo[:, None] * (1 - _SLACK)).sum(axis=1) + 1
    keep_hi = (cdf < top_p * z_hi[:, None] * (1 + _SLACK)).sum(axis=1) + 1
    return w, z_lo, (keep_lo == keep_hi) & (keep_hi <= n)


def _row_window(row: np.ndarray, tau: float, k: int) -> RowDist:
    """The reference cut for one row: every token within WINDOW_NATS of the best, sorted."""
    best = row.max()
    ids = np.flatnonzero(row >= best - WINDOW_NATS * tau)
    # temperature, then sort the survivors by score, best first (ties: lower id first)
    z = row[ids].astype(np.float64) / tau
    order = np.argsort(-z, kind="stable")
    ids, z = ids[order], z[order]
    # stable softmax over the survivors
    p = np.exp(z - z[0])
    p /= p.sum()
    return RowDist(ids.astype(np.int64), p, topk_entropy_sorted(p, k))


def _row_nucleus(row: np.ndarray, tau: float, k: int, top_p: float, need: int, w: np.ndarray) -> RowDist:
    """The exact top-p nucleus of one row without sorting the row (module docstring).

    ``w``: float64 scratch space of the row's length (overwritten)."""
    # 1. weights relative to the best token, in place, and the row's mass (float64: exact)
    np.subtract(row, row.max(), out=w, dtype=np.float64)
    np.multiply(w, 1.0 / tau, out=w)
    np.exp(w, out=w)
    total = float(w.sum())
    target = top_p * total
    # 2. a threshold estimated from a strided sample: the exact mass above its 8th best
    #    value, plus the rest of the sample's sorted weights scaled by the stride
    sample = np.sort(w[::_STRIDE])[::-1]
    q = min(8, len(sample) - 1)
    est = float(w[w >= sample[q]].sum()) + np.cumsum(sample[q + 1 :]) * _STRIDE
    j = q + 1 + max(int(np.searchsorted(est, target)), -(-need // _STRIDE))
    # 3. check it on the whole row; lower it until the tokens above hold the nucleus. The
    #    floor holds it surely: all tokens below it weigh less than (1 - top_p) of the mass
    floor = (1.0 - top_p) * total / len(row) / 2
    while True:
        t = max(sample[j] if j < len(sample) else floor, floor)
        ids = np.flatnonzero(w >= t)
        if t <= floor or (len(ids) >= need and float(w[ids].sum()) >= target):
            break
        j += 2 + j // 2
    if len(ids) < need:  # a sure row: the nucleus is tiny, but ``need`` tokens are listed
        ids = np.flatnonzero(w >= np.partition(w, len(w) - need)[len(w) - need])
    # 4. sort only those, best first (ties: lower id first); they are the row's best tokens
    ids = nucleus.by_value_desc(row[ids], ids)
    wl = w[ids]
    # 5. the cut: the first token where the cumulative mass reaches top_p
    keep = int(np.searchsorted(np.cumsum(wl), target)) + 1
    n = min(len(ids), max(keep, need))
    return RowDist(ids[:n], wl[:n] / total, _entropy_of(wl, k), top_p)


def _entropy_of(w: np.ndarray, k: int) -> float:
    return topk_entropy_sorted(w / w.sum(), k)


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
    if top_p > dist.cover:
        raise ValueError(f"this distribution was cut for top-p ≤ {dist.cover}, not {top_p}")
    cdf = np.cumsum(dist.probs)
    total = cdf[-1] if dist.cover >= 1.0 else 1.0  # a cut list holds less than the whole mass
    keep = int(np.searchsorted(cdf, top_p * total)) + 1  # include the token that crosses top_p
    keep = min(keep, len(dist.probs))
    u = rng.random() * cdf[keep - 1]
    return int(dist.ids[min(int(np.searchsorted(cdf[:keep], u, side="right")), keep - 1)])


def top_two(dist: RowDist, logits_row: np.ndarray) -> tuple[int, int]:
    """The most and second most likely tokens (falls back to the full row if the cut kept one)."""
    if len(dist.ids) >= 2:
        return int(dist.ids[0]), int(dist.ids[1])
    if isinstance(logits_row, Candidates):  # sorted already
        return int(logits_row.ids[0, 0]), int(logits_row.ids[0, 1])
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
