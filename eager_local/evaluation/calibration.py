"""θ calibration: sample plainly, record every token's top-K entropy, propose θ.

For a target branch rate r (share of monitored tokens with H ≥ θ) the proposal
is the (1 − r) quantile of the recorded entropies. For a target number of
sequences per prompt it is found by replaying EAGer-init over the recorded
samples (``simulate_sequences``): an estimate, since a real child follows its
own continuation rather than another recorded sample.
"""

from __future__ import annotations

import heapq
import threading
from dataclasses import dataclass

import numpy as np

from ..decoding.controller import collect
from ..errors import SettingsError
from ..settings import Settings
from .datasets import Dataset
from .prompts import PromptFormat


@dataclass(frozen=True)
class Calibration:
    """Entropies of plain samples, grouped by prompt and sample."""

    paths: tuple[tuple[np.ndarray, ...], ...]
    """paths[prompt][sample] = top-K entropy of each generated token (nats)."""
    settings: Settings
    """The sampling settings (method parallel; max_seqs = samples per prompt)."""
    wall_s: float

    @property
    def entropies(self) -> np.ndarray:
        parts = [p for prompt in self.paths for p in prompt]
        return np.concatenate(parts) if parts else np.zeros(0)

    def branch_rate(self, theta: float) -> float:
        h = self.entropies
        return float(np.mean(h >= theta)) if h.size else 0.0


def sample_entropies(model, dataset: Dataset, fmt: PromptFormat, settings: Settings,
                     cancel: threading.Event | None = None, on_prompt=None) -> Calibration:
    """Plain sampling (``settings.max_seqs`` samples per prompt) over the dataset's items."""
    s = model.settings(settings.with_(method="parallel").with_stops(fmt.stop))
    paths, wall = [], 0.0
    for i, it in enumerate(dataset.items):
        r = collect(model.stream(fmt.render(it), s.with_(seed=s.seed + i), cancel=cancel))
        if cancel is not None and cancel.is_set():
            break
        paths.append(tuple(np.asarray(q.entropies, dtype=float) for q in r.sequences))
        wall += r.stats.wall_s
        if on_prompt:
            on_prompt(i + 1, len(dataset.items))
    return Calibration(tuple(paths), s, wall)


def check_target(rate: float | None, target: float | None, cap: int) -> None:
    """Refuse a branch rate outside (0, 1) or a target outside [1, cap] (before sampling)."""
    if rate is not None and not 0 < rate < 1:
        raise SettingsError(f"⟨branch_rate⟩ must be between 0 and 1 (got {rate}); try 0.02")
    if target is not None and not 1 <= target <= cap:
        raise SettingsError(f"⟨target_seqs⟩ must be between 1 and ⟨max_seqs⟩ {cap} (got {target})")


def _sampled(cal: Calibration) -> np.ndarray:
    h = cal.entropies
    if h.size == 0:
        raise SettingsError("no tokens were sampled: check the prompts and ⟨max_new_tokens⟩")
    return h


def theta_for_rate(cal: Calibration, rate: float) -> float:
    """θ such that about ``rate`` of the tokens have H ≥ θ."""
    check_target(rate, None, 1)
    h = _sampled(cal)
    return round(float(np.quantile(h, 1.0 - rate)), 3)


def simulate_sequences(paths: tuple[np.ndarray, ...], theta: float, cap: int) -> int:
    """Sequences EAGer-init would create for one prompt, replayed over its samples.

    The root follows sample 0; every position with H ≥ θ branches (earliest
    first, while fewer than ``cap`` exist) and the child follows the next sample
    from the position after the branch.
    """
    if not paths:
        return 1
    created = 1
    events: list[tuple[int, int]] = []

    def follow(j: int, start: int) -> None:
        for p in np.flatnonzero(paths[j][start:] >= theta):
            heapq.heappush(events, (start + int(p), j))

    follow(0, 0)
    while events and created < cap:
        pos, _ = heapq.heappop(events)
        j = created % len(paths)
        created += 1
        follow(j, pos + 1)
    return created


def mean_sequences(cal: Calibration, theta: float, cap: int) -> float:
    return float(np.mean([simulate_sequences(p, theta, cap) for p in cal.paths])) if cal.paths else 0.0


def theta_for_sequences(cal: Calibration, target: float, cap: int) -> float:
    """The largest θ (on a grid of entropy quantiles) whose replay reaches ``target``."""
    check_target(None, target, cap)
    h = _sampled(cal)
    grid = np.unique(np.round(np.quantile(h, np.linspace(0.5, 1.0, 201)), 3))[::-1]
    for theta in grid:  # descending θ: more branching as we go
        if mean_sequences(cal, float(theta), cap) >= target:
            return float(theta)
    return float(grid[-1])


def histogram(h: np.ndarray, width: float = 0.1, top: float | None = None):
    """(bin start, count) over [0, max] in steps of ``width`` nats."""
    top = top if top is not None else (float(h.max()) if h.size else 0.0)
    edges = np.arange(0.0, top + width + 1e-9, width)
    counts, _ = np.histogram(h, bins=edges)
    return list(zip(edges[:-1].tolist(), counts.tolist()))
