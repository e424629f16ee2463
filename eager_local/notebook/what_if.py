"""θ what-if in a notebook: the TUI's what-if (eager_local/method/what_if.py) as data for
several θ at once, and a figure of entropy per token with the θ lines.

Read off a finished run without decoding: the fork points are where the recorded
tokens' top-K entropy reaches θ (a lower bound of what a real run at θ would see,
since what lies past a fork that did not happen is unknown). matplotlib (the
notebook or plot extra) is imported only by ``entropy_figure``.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..method.what_if import WhatIf, what_if
from ..result import RunResult


def what_ifs(result: RunResult, thetas: Iterable[float], cap: int | None = None) -> list[WhatIf]:
    """For each θ: the fork points (sequence, token index) and the sequences EAGer-init
    would create on ``result``'s tokens, at most ``cap`` (default: the run's M)."""
    s = result.settings
    m = s.max_seqs if cap is None else cap
    return [what_if(result.sequences, result.forks, float(t), m, s.monitor_window) for t in thetas]


def what_if_rows(result: RunResult, thetas: Iterable[float], cap: int | None = None) -> list[dict]:
    """``what_ifs`` as table rows (θ, fork points, sequences, M), e.g. for ``pandas.DataFrame``."""
    return [{"theta": w.theta, "fork_points": len(w.points), "sequences": w.sequences, "M": w.cap,
             "first_points": list(w.points[:5])} for w in what_ifs(result, thetas, cap)]


def entropy_figure(result: RunResult, thetas: Iterable[float] = (), seq: int = 0, ax=None):
    """Top-K entropy of each token of sequence ``seq`` with a line per θ (the run's own θ
    dashed); the tokens' text under the axis when they fit. Returns the figure."""
    import matplotlib.pyplot as plt  # the notebook extra; lazily

    q = result.sequences[seq]
    if ax is None:
        fig, ax = plt.subplots(figsize=(10, 3.2))
    else:
        fig = ax.figure
    xs = range(len(q.entropies))
    ax.bar(xs, q.entropies, color="#6ea0e6", width=0.8, label=f"seq {seq}: H per token")
    for t in thetas:
        n = len(what_if([q], [f for f in result.forks if f.parent == q.id], t, 10**9,
                        result.settings.monitor_window).points)
        ax.axhline(t, color="#e0a030", lw=1, label=f"θ = {t:g}: {n} fork points")
    ax.axhline(result.settings.theta, color="#e05be0", lw=1.5, ls="--", label=f"run's θ = {result.settings.theta:g}")
    if q.pieces and len(q.pieces) <= 60:
        ax.set_xticks(list(xs), [repr(p)[1:-1] for p in q.pieces], rotation=90, fontsize=7)
    ax.set_xlabel("generated token")
    ax.set_ylabel("top-K entropy (nats)")
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    return fig
