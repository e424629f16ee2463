"""Metrics of the paper's §5 (docs/evaluation.md), per prompt and over a run, and paired bootstrap intervals."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PromptScore:
    """One prompt's outcome."""

    n: int
    """Sequences produced."""
    correct: int
    """Correct sequences."""
    pass_any: bool
    """Pass@k with k = n: at least one sequence is correct."""
    cons: bool
    """The majority answer (ties: the one seen first) is correct."""

    @property
    def pass_rate(self) -> float:
        return self.correct / self.n if self.n else 0.0


def score_prompt(answers: list[str | None], correct: list[bool]) -> PromptScore:
    """Score a prompt from each sequence's extracted answer and correctness."""
    n, c = len(correct), sum(bool(x) for x in correct)
    votes = Counter(a for a in answers if a is not None)
    cons = False
    if votes:
        top = max(votes.values())
        winner = next(a for a in answers if a is not None and votes[a] == top)
        cons = any(ok for a, ok in zip(answers, correct) if a == winner)
    return PromptScore(n, c, c > 0, cons)


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased estimator 1 − C(n−c, k)/C(n, k) (Chen et al. 2021); needs n ≥ k."""
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples (got {n})")
    if n - c < k:
        return 1.0
    # product form of the binomial ratio, stable for large n
    return float(1.0 - np.prod(1.0 - k / np.arange(n - c + 1, n + 1)))


def fixed_ks(min_n: int) -> list[int]:
    """k = 1, 2, 4, 8, … up to the smallest sequence count of any prompt."""
    ks, k = [], 1
    while k <= min_n:
        ks.append(k)
        k *= 2
    return ks


@dataclass(frozen=True)
class Summary:
    """A run's metrics averaged over its prompts."""

    prompts: int
    """Prompts with a final record."""
    pass_k: float
    """Mean Pass@k (coverage, k = each prompt's own sequence count)."""
    cons_k: float
    """Mean Cons@k (majority vote correct)."""
    pass_rate: float
    """Mean over prompts of correct / sequences."""
    seqs_per_prompt: float
    """Mean sequences per prompt."""
    generated_tokens: int
    """Sum over prompts (shared prefixes counted once)."""
    decoded_tokens: int
    """Sum over prompts of tokens the engine decoded (prompts included)."""
    wall_s: float
    """Sum over prompts of decoding wall time (checking excluded)."""
    unbiased: dict
    """{k: mean unbiased pass@k} for k where every prompt has ≥ k sequences."""
    cons_weighted: float = 0.0
    """Mean confidence-weighted majority vote correct (evaluation/voting.py)."""
    deepconf: float = 0.0
    """Mean DeepConf@k: weighted vote of the most confident sequences correct."""


def summarize(rows: list[dict]) -> Summary:
    """``rows``: dicts with n, correct, pass_any, cons, generated_tokens, decoded_tokens, wall_s
    (and, optionally, cons_weighted and deepconf)."""
    if not rows:
        return Summary(0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0.0, {})
    votes = {k: float(np.mean([r.get(k, False) for r in rows])) for k in ("cons_weighted", "deepconf")}
    min_n = min(r["n"] for r in rows)
    unbiased = {
        k: float(np.mean([pass_at_k(r["n"], r["correct"], k) for r in rows])) for k in fixed_ks(min_n)
    }
    return Summary(
        prompts=len(rows),
        pass_k=float(np.mean([r["pass_any"] for r in rows])),
        cons_k=float(np.mean([r["cons"] for r in rows])),
        pass_rate=float(np.mean([r["correct"] / r["n"] if r["n"] else 0.0 for r in rows])),
        seqs_per_prompt=float(np.mean([r["n"] for r in rows])),
        generated_tokens=int(sum(r["generated_tokens"] for r in rows)),
        decoded_tokens=int(sum(r["decoded_tokens"] for r in rows)),
        wall_s=float(sum(r["wall_s"] for r in rows)),
        unbiased=unbiased,
        **votes,
    )


@dataclass(frozen=True)
class Difference:
    """B − A over the prompts both runs share, with a paired bootstrap interval."""

    metric: str
    """What is compared (Pass@k, Cons@k, pass rate, generated tokens, wall time)."""
    value: float
    """The difference (absolute, or relative for tokens and time)."""
    low: float
    """Lower end of the bootstrap interval."""
    high: float
    """Upper end of the bootstrap interval."""
    prompts: int
    """Prompts both runs hold (the paired sample)."""


def paired_bootstrap(
    a: list[float], b: list[float], *, metric: str, relative: bool = False,
    n_boot: int = 2000, level: float = 0.95, seed: int = 0,
) -> Difference:
    """Mean(b) − mean(a) (or mean(b)/mean(a) − 1 when ``relative``) with a percentile CI.

    Prompts are resampled with replacement, the same draw for both runs (paired).
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.size == 0:
        raise ValueError("paired bootstrap needs two equal, non-empty lists")

    def stat(xs, ys):
        if relative:
            den = xs.mean(axis=-1)
            return np.where(den > 0, ys.mean(axis=-1) / np.where(den > 0, den, 1) - 1, 0.0)
        return ys.mean(axis=-1) - xs.mean(axis=-1)

    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    boots = stat(x[idx], y[idx])
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return Difference(metric, float(stat(x, y)), float(lo), float(hi), int(x.size))


def mean_interval(values: list[float], *, n_boot: int = 2000, level: float = 0.95,
                  seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (prompts resampled)."""
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        raise ValueError("an interval needs at least one value")
    rng = np.random.default_rng(seed)
    boots = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(boots, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
