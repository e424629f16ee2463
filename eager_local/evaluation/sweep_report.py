"""A sweep, read back: full parallel's curve, each configuration against it, the plot.

Parallel's curve is, per prompt, the unbiased pass@k for k = 1…M (and Cons@k of
its first k sequences, which are as random as any k of them), at k × parallel's
generated tokens per sequence. A configuration spending x tokens per prompt is
compared with the curve at k* = x / (tokens per sequence), interpolated between
the integers around it, prompt by prompt, with a paired bootstrap interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import OutputError
from .eval_record import EvalRecord
from .metrics import Difference, mean_interval, paired_bootstrap, pass_at_k
from .report import RunSummary
from .voting import Ballot, majority

METRICS = (("Pass@k", "pass_any"), ("Cons@k", "cons"))


@dataclass(frozen=True)
class Curve:
    """Full parallel's per-prompt values for k = 1…M."""

    tokens_per_sequence: float
    """Parallel's generated tokens per prompt / M."""
    per_prompt: dict
    """{metric: {id: [value at k = 1, …, M]}}."""

    @property
    def m(self) -> int:
        return len(next(iter(self.per_prompt["Pass@k"].values()), []))

    def mean(self, metric: str) -> list[float]:
        rows = list(self.per_prompt[metric].values())
        return [float(np.mean([r[k] for r in rows])) for k in range(self.m)]

    def at(self, metric: str, rid: str, k: float) -> float:
        """One prompt's value at a fractional k (1 ≤ k ≤ M), linear between integers."""
        v = self.per_prompt[metric][rid]
        lo = min(int(math.floor(k)), self.m)
        hi = min(lo + 1, self.m)
        return v[lo - 1] + (k - lo) * (v[hi - 1] - v[lo - 1])


def parallel_curve(par: RunSummary) -> Curve:
    m = int(par.settings["max_seqs"])
    tps = par.summary.generated_tokens / max(par.summary.prompts, 1) / m
    values = {"Pass@k": {}, "Cons@k": {}}
    for r in par.rows:
        values["Pass@k"][r.id] = [pass_at_k(r.n_sequences, r.correct, min(k, r.n_sequences))
                                  if r.n_sequences else 0.0 for k in range(1, m + 1)]
        ballots = [Ballot(s.answer, s.correct, 1.0) for s in r.sequences]
        values["Cons@k"][r.id] = [float(majority(ballots[:k])) for k in range(1, m + 1)]
    return Curve(tps, values)


@dataclass(frozen=True)
class Placement:
    """One configuration against parallel's curve, for one metric."""

    label: str
    metric: str
    tokens: float
    """Its generated tokens per prompt."""
    value: float
    """Its mean metric."""
    interval: tuple[float, float]
    """Bootstrap interval of ``value``."""
    k: float | None
    """Parallel's k at the same tokens; None when outside 1…M."""
    above: Difference | None
    """Its value − the curve's at k, paired over prompts; None outside the curve."""


def _value(r: EvalRecord, key: str) -> float:
    return float(getattr(r, key))


def place(curve: Curve, run: RunSummary, metric: str, key: str) -> Placement:
    tok = run.summary.generated_tokens / max(run.summary.prompts, 1)
    ys = [_value(r, key) for r in run.rows]
    k = tok / curve.tokens_per_sequence if curve.tokens_per_sequence > 0 else 0.0
    diff = None
    shared = [r for r in run.rows if r.id in curve.per_prompt[metric]]
    if 1.0 <= k <= curve.m and shared:
        diff = paired_bootstrap([curve.at(metric, r.id, k) for r in shared], [_value(r, key) for r in shared],
                                metric=metric)
    return Placement(run.label, metric, tok, float(np.mean(ys)), mean_interval(ys),
                     k if 1.0 <= k <= curve.m else None, diff)


def placements(runs: list[RunSummary]) -> list[Placement]:
    """Every non-parallel run, for Pass@k and Cons@k (``runs[0]`` is parallel)."""
    curve = parallel_curve(runs[0])
    return [place(curve, r, m, key) for r in runs[1:] for m, key in METRICS]


def sentences(runs: list[RunSummary], places: list[Placement]) -> list[str]:
    """What the sweep says, one line per metric."""
    out = []
    for metric, _ in METRICS:
        mine = [p for p in places if p.metric == metric]
        above = [p for p in mine if p.above and p.above.low > 0]
        below = [p for p in mine if p.above and p.above.high < 0]
        level = [p for p in mine if p.above and p.above.low <= 0 <= p.above.high]
        outside = [p for p in mine if p.above is None]
        parts = []
        for word, group in (("above", above), ("below", below), ("level with (interval spans 0)", level)):
            if group:
                parts.append(f"{word}: " + "; ".join(
                    f"{p.label} {p.above.value:+.3f} [{p.above.low:+.3f}, {p.above.high:+.3f}] at k≈{p.k:.1f}"
                    for p in group))
        if outside:
            parts.append("off the curve's token range: " + ", ".join(p.label for p in outside))
        out.append(f"{metric} against parallel's curve at the same generated tokens per prompt "
                   f"({runs[0].summary.prompts} prompts, 95% paired bootstrap): " + (" | ".join(parts) or "nothing to compare"))
    return out


def plot(runs: list[RunSummary], places: list[Placement], paths: list[str]) -> None:
    """Pass@k and Cons@k against generated tokens per prompt, written to each of ``paths``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curve = parallel_curve(runs[0])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
    for ax, (metric, _) in zip(axes, METRICS):
        xs = [k * curve.tokens_per_sequence for k in range(1, curve.m + 1)]
        ax.plot(xs, curve.mean(metric), "-", color="0.4", marker=".",
                label=f"parallel, k = 1…{curve.m} ({'unbiased pass@k' if metric == 'Pass@k' else 'first k'})")
        for i, p in enumerate(q for q in places if q.metric == metric):
            lo, hi = p.interval
            ax.errorbar([p.tokens], [p.value], yerr=[[p.value - lo], [hi - p.value]], fmt="o", ms=7,
                        capsize=4, color=f"C{i}", label=p.label, zorder=3)
        ax.set_xlabel("generated tokens per prompt (shared prefixes once)")
        ax.set_ylabel(metric)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="best")
    from .report import header_lines

    fig.suptitle("\n".join(header_lines(runs)[:2]) + "\nbars: 95% bootstrap interval over prompts", fontsize=7)
    fig.tight_layout()
    try:
        for path in paths:
            target = Path(path)
            fig.savefig(target, dpi=90 if target.suffix == ".png" else None)
    except OSError as e:
        raise OutputError(f"cannot write plot {path}: {e.strerror}") from None
    finally:
        plt.close(fig)
