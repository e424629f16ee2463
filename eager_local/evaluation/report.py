"""Side-by-side comparison of run files: a rich table and a PNG plot.

Every report names the model (alias and sha256), the dataset and how many of
its items were used, and the settings of each run, so a reader can rerun it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import OutputError
from .eval_record import EvalRecord
from .metrics import Difference, Summary, mean_interval, paired_bootstrap, summarize
from .records import final_records, read_records
from .voting import KEEP, deepconf, record_ballots, weighted_majority


@dataclass(frozen=True)
class RunSummary:
    """One run file, scored."""

    path: str
    label: str
    """Method, with θ for EAGER methods."""
    method: str
    model: dict
    dataset: dict
    settings: dict
    """Phase-1 settings (the user's, with the model's and format's stop strings)."""
    prompt_format: dict
    summary: Summary
    rows: tuple[EvalRecord, ...]
    """Final records, in item order."""
    init: Summary | None
    """EAGer-init's share of a two-phase run."""

    @classmethod
    def from_records(cls, path: str, records: list[EvalRecord]) -> "RunSummary":
        recs = sorted(final_records(records), key=lambda r: r.index)
        if not recs:
            raise OutputError(f"{path} holds no finished prompts yet (run eager eval, or --resume it)")
        first = recs[0]
        method = first.method
        s = first.run_config["settings"]
        name = method + ("+prune" if s.get("prune", "none") != "none" else "")
        label = name if method in ("parallel", "greedy") else f"{name} θ={s['theta']:g}"
        init = None
        if all(r.init is not None for r in recs):
            init = summarize([r.init | {"n": r.init["n_sequences"]} for r in recs])
        return cls(
            path, label, method, first.model or {}, first.dataset, s,
            first.run_config.get("format", {}),
            summarize([_row(r) for r in recs]), tuple(recs), init,
        )

    @classmethod
    def load(cls, path: str) -> "RunSummary":
        return cls.from_records(path, read_records(path))


def _row(r: EvalRecord) -> dict:
    ballots = record_ballots(r)
    return {
        "n": r.n_sequences, "correct": r.correct, "pass_any": r.pass_any, "cons": r.cons,
        "generated_tokens": r.generated_tokens, "decoded_tokens": r.decoded_tokens,
        "wall_s": r.wall_s, "cons_weighted": weighted_majority(ballots), "deepconf": deepconf(ballots),
    }


#: Per-prompt values compared by ``compare`` (name, value of a record, relative change).
COMPARED = (
    ("Pass@k", lambda r: float(r.pass_any), False),
    ("Cons@k", lambda r: float(r.cons), False),
    ("Cons@k weighted", lambda r: float(weighted_majority(record_ballots(r))), False),
    ("DeepConf@k", lambda r: float(deepconf(record_ballots(r))), False),
    ("pass rate", lambda r: r.pass_rate, False),
    ("generated tokens", lambda r: float(r.generated_tokens), True),
    ("wall time", lambda r: r.wall_s, True),
)


def compare(base: RunSummary, other: RunSummary, seed: int = 0) -> list[Difference]:
    """Paired differences other − base over the prompts both hold."""
    a = {r.id: r for r in base.rows}
    pairs = [(a[r.id], r) for r in other.rows if r.id in a]
    if not pairs:
        return []
    return [paired_bootstrap([value(x) for x, _ in pairs], [value(y) for _, y in pairs],
                             metric=name, relative=rel, seed=seed)
            for name, value, rel in COMPARED]


def header_lines(runs: list[RunSummary]) -> list[str]:
    """What a reader needs to reproduce the runs."""
    lines = []
    for key, what in (("model", "model"), ("dataset", "dataset")):
        seen = {_describe(key, getattr(r, what)) for r in runs}
        lines.append(f"{what}: " + " | ".join(sorted(seen)) + ("  (differs between runs!)" if len(seen) > 1 else ""))
    for r in runs:
        s, f = r.settings, r.prompt_format
        shots = f"{len(f.get('exemplars', []))}-shot from {Path(f.get('exemplar_source') or '-').name}" \
            if f.get("style") == "fewshot" else f.get("style", "?")
        stop = ", ".join(repr(x) for x in s.get("stop", []))
        theta = "" if r.method in ("parallel", "greedy") else f"θ={s['theta']:g} "
        lines.append(
            f"{r.label}: M={s['max_seqs']} {theta}τ={s['temperature']:g} top-p={s['top_p']:g} "
            f"K={s['top_k_entropy']} T={s['max_new_tokens']} seed={s['seed']} prompt={shots} "
            f"stop=[{stop}]{_prune_words(s)}  ({r.path})"
        )
    return lines


def _prune_words(s: dict) -> str:
    """The pruning settings of a run, as the header says them ('' without pruning)."""
    if s.get("prune", "none") == "none":
        return ""
    s_fixed = s.get("prune_threshold")
    rule = f"s={s_fixed:g}" if s_fixed is not None else f"keep={s.get('prune_keep', 90):g}%"
    stop = f" consensus={s['stop_on_consensus']:g}" if s.get("stop_on_consensus") is not None else ""
    return f" prune: W={s.get('prune_window')} N_init={s.get('prune_warmup')} {rule}{stop}"


def pruning_rows(runs: list[RunSummary]) -> list[tuple[str, list[str]]]:
    """Table rows of the runs' pruning: sequences stopped early and tokens saved per prompt."""
    if not any(r.settings.get("prune", "none") != "none" for r in runs):
        return []

    def per_prompt(r: RunSummary, key: str) -> str:
        vals = [getattr(x, key) for x in r.rows if getattr(x, key) is not None]
        return f"{sum(vals) / len(r.rows):.2f}" if vals else "–"

    return [("pruned sequences / prompt", [per_prompt(r, "pruned") for r in runs]),
            ("tokens saved / prompt (est.)", [per_prompt(r, "tokens_saved") for r in runs])]


def _describe(key: str, d: dict) -> str:
    if key == "model":
        sha = (d.get("sha256") or "?")[:12]
        return f"{d.get('alias') or Path(d.get('path', '?')).name} (sha256 {sha}…)"
    first = d.get("offset", 0)
    span = f"items {first}–{first + d.get('items', 0) - 1}" if first else f"first {d.get('items')}"
    return f"{d.get('name')} ({span} of {d.get('total')} items, {d.get('kind')}; {d.get('path')})"


def print_table(runs: list[RunSummary], console=None) -> None:
    """The side-by-side table (first run = the baseline of the differences)."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=200)
    for line in header_lines(runs):
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    t = Table(show_header=True, header_style="bold")
    t.add_column("metric")
    for r in runs:
        t.add_column(r.label, justify="right")
    ks = sorted(set.intersection(*(set(r.summary.unbiased) for r in runs)))
    rows = [
        ("prompts", lambda s: f"{s.prompts}"),
        ("Pass@k", lambda s: f"{s.pass_k:.3f}"),
        *[(f"pass@{k} unbiased", (lambda k: lambda s: f"{s.unbiased[k]:.3f}")(k)) for k in ks],
        ("Cons@k", lambda s: f"{s.cons_k:.3f}"),
        ("Cons@k weighted", lambda s: f"{s.cons_weighted:.3f}"),
        (f"DeepConf@k (top {KEEP:.0%})", lambda s: f"{s.deepconf:.3f}"),
        ("pass rate", lambda s: f"{s.pass_rate:.3f}"),
        ("sequences / prompt", lambda s: f"{s.seqs_per_prompt:.2f}"),
        ("generated tokens", lambda s: f"{s.generated_tokens:,}"),
        ("generated tokens / prompt", lambda s: f"{s.generated_tokens / max(s.prompts, 1):.1f}"),
        ("decoded tokens", lambda s: f"{s.decoded_tokens:,}"),
        ("decoded tokens / prompt", lambda s: f"{s.decoded_tokens / max(s.prompts, 1):.1f}"),
        ("wall time (s)", lambda s: f"{s.wall_s:.1f}"),
    ]
    for name, fmt in rows:
        t.add_row(name, *[fmt(r.summary) for r in runs])
    for name, cells in pruning_rows(runs):
        t.add_row(name, *cells)
    if any(r.init for r in runs):
        t.add_row("EAGer-init part: Pass@k / tokens", *[
            f"{r.init.pass_k:.3f} / {r.init.generated_tokens:,}" if r.init else "" for r in runs])
    if len(runs) > 1:
        diffs = [compare(runs[0], r) for r in runs[1:]]
        for i, name in enumerate(d.metric for d in diffs[0]) if diffs[0] else []:
            rel = name in ("generated tokens", "wall time")
            cells = [""] + [_fmt_diff(d[i], rel) if d else "" for d in diffs]
            t.add_row(f"Δ {name} [95% CI]", *cells)
    console.print(t)
    if len(runs) > 1:
        console.print(f"Δ: paired bootstrap over shared prompts (2000 resamples) against {runs[0].label}; "
                      "tokens and time as relative change.", markup=False, highlight=False)
    console.print("Cons@k weighted: each answer scores its sequences' lowest window confidence; "
                  f"DeepConf@k: the same vote over the {KEEP:.0%} most confident sequences "
                  "(docs/evaluation.md, Confidence).", markup=False, highlight=False)


def _fmt_diff(d: Difference, relative: bool) -> str:
    if relative:
        return f"{d.value:+.1%} [{d.low:+.1%}, {d.high:+.1%}]"
    return f"{d.value:+.3f} [{d.low:+.3f}, {d.high:+.3f}]"


def plot(runs: list[RunSummary], path: str) -> None:
    """PNG: Pass@k against generated tokens per prompt, and sequences per prompt."""
    from ..extras import require

    require("matplotlib", "⟨plot⟩")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, hx) = plt.subplots(1, 2, figsize=(12, 4.8))
    for i, r in enumerate(runs):
        s = r.summary
        color = f"C{i}"
        tok = s.generated_tokens / s.prompts
        lo, hi = mean_interval([float(x.pass_any) for x in r.rows])
        ax.errorbar([tok], [s.pass_k], yerr=[[s.pass_k - lo], [hi - s.pass_k]], fmt="o", ms=8, color=color,
                    capsize=4, label=f"{r.label}: Pass@k (95% bootstrap interval)", zorder=3)
        if r.method == "parallel" and s.unbiased:
            # the fixed-k curve: k samples cost about k × tokens per sequence
            per_seq = tok / s.seqs_per_prompt
            ks = sorted(s.unbiased)
            ax.plot([k * per_seq for k in ks], [s.unbiased[k] for k in ks], "--", color=color,
                    marker=".", label=f"{r.label}: unbiased pass@k, k={ks[0]}…{ks[-1]}")
        if r.init is not None:
            itok = r.init.generated_tokens / r.init.prompts
            ax.scatter([itok], [r.init.pass_k], s=40, marker="x", color=color,
                       label=f"{r.label}: its EAGer-init phase")
    ax.set_xlabel("generated tokens per prompt (shared prefixes once)")
    ax.set_ylabel("Pass@k (share of prompts with a correct sequence)")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")
    top = max(max(x.n_sequences for x in r.rows) for r in runs)
    width = 1 if top <= 64 else int(np.ceil(top / 64))
    edges = np.arange(1, top + width + 1, width)
    bar = 0.8 * width / len(runs)
    for i, r in enumerate(runs):
        counts, _ = np.histogram([x.n_sequences for x in r.rows], bins=edges)
        hx.bar(edges[:-1] + i * bar - 0.4 * width + bar / 2 + (width - 1) / 2, counts, width=bar,
               color=f"C{i}", label=r.label)
    hx.set_xlabel("sequences per prompt")
    hx.set_ylabel("prompts")
    hx.legend(fontsize=7)
    hx.grid(alpha=0.3)
    fig.suptitle("\n".join(header_lines(runs)[:2]), fontsize=8)
    fig.tight_layout()
    target = Path(path).expanduser()
    if not target.parent.is_dir():
        raise OutputError(f"plot directory {target.parent} does not exist: create it first")
    try:
        fig.savefig(target, dpi=120)
    except OSError as e:
        raise OutputError(f"cannot write plot {target}: {e.strerror}") from None
    finally:
        plt.close(fig)
