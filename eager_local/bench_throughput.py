"""``eager bench`` section "eval throughput": many prompts decoded together vs one at a time.

The same N ≥ 16 MAWPS SingleOp items, the same settings and seeds, in one process:
EAGer-init (M = 16, θ calibrated as section 4 does) and full parallel sampling
(M = 8), each at concurrency 1 (one prompt at a time, as before the scheduler)
and at concurrency ``auto`` (prompts admitted while fewer than 32 sequences are
live), and at ``auto`` once more with prompt-prefix sharing off (every prompt
prefills its few-shot exemplars itself). Reported: generated tokens/s, prompts/min,
the ratios, Pass@k, how many prompts' tokens differ from their solo run (llama.cpp's
batch-shape caveat), and at ``auto`` EAGER's wall time and tokens against parallel's.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

EAGER_M = 16
PARALLEL_M = 8
MIN_ITEMS = 16


@dataclass(frozen=True)
class Pass:
    """One method over the items at one concurrency."""

    concurrency: str
    """``1`` or ``auto``."""
    wall_s: float
    """Wall time of the whole pass."""
    generated_tokens: int
    """Tokens of every tree, shared prefixes counted once."""
    tokens_per_s: float
    prompts_per_min: float
    passk: float
    """Share of prompts with at least one correct sequence."""


@dataclass(frozen=True)
class MethodFigures:
    """Concurrency 1 against auto for one method."""

    method: str
    max_seqs: int
    theta: float | None
    one: Pass
    auto: Pass
    speedup: float
    """Tokens/s at auto ÷ tokens/s at 1 (same tokens: the wall-time ratio)."""
    auto_unshared: Pass
    """``auto`` with prompt-prefix sharing off."""
    sharing_speedup: float
    """Wall time at auto without prefix sharing ÷ with it."""
    differing_prompts: int
    """Prompts whose tokens differ between the two passes (batch-shape float differences)."""
    passk_diff_ci95: tuple[float, float]
    """Paired-bootstrap 95% interval of Pass@k(auto) − Pass@k(1)."""


@dataclass(frozen=True)
class ThroughputFigures:
    """The section: both methods over the same items."""

    items: int
    """Items decoded (all the file holds when it has fewer than MIN_ITEMS)."""
    max_new_tokens: int
    eager: MethodFigures
    parallel: MethodFigures


def eval_throughput(model, cfg, theta: float, log) -> ThroughputFigures:
    """Both methods at both concurrencies."""
    from .evaluation.answers import Checker
    from .evaluation.datasets import load_dataset
    from .evaluation.prompts import choose_format

    ds = load_dataset(cfg.data, limit=max(MIN_ITEMS, cfg.items))
    fmt = choose_format(ds, model.spec.prompt_format)
    checker = Checker(ds.kind)
    out = {}
    for method, M, th in (("eager", EAGER_M, theta), ("parallel", PARALLEL_M, None)):
        log(f"[6] eval throughput: {method} M={M} over {len(ds.items)} items, concurrency 1 and auto")
        out[method] = _method(model, cfg, ds.items, fmt, checker, method, M, th)
    return ThroughputFigures(len(ds.items), cfg.max_new_tokens, **out)


def _method(model, cfg, items, fmt, checker, method, M, theta) -> MethodFigures:
    from .evaluation.metrics import paired_bootstrap

    prompts = [fmt.render(it) for it in items]
    extra = {} if theta is None else {"theta": theta}
    settings = [model.settings(method=method, max_seqs=M, max_new_tokens=cfg.max_new_tokens,
                               seed=cfg.seed + 1000 + i, stop=fmt.stop, **extra)
                for i in range(len(items))]
    passes, results = {}, {}
    for c in (1, "auto", "auto, unshared"):
        t0 = time.perf_counter()
        results[c] = _run_unshared(model, prompts, settings) if c == "auto, unshared" else \
            model.run_many(prompts, settings, concurrency=c)
        wall = time.perf_counter() - t0
        ok = [any(checker.check(it, q.text).correct for q in r.sequences)
              for it, r in zip(items, results[c])]
        gen = sum(r.stats.generated_tokens for r in results[c])
        passes[c] = Pass(str(c), wall, gen, gen / wall, 60 * len(items) / wall, sum(ok) / len(ok))
        passes[c, "ok"] = [float(x) for x in ok]
    d = paired_bootstrap(passes[1, "ok"], passes["auto", "ok"], metric="pass@k", seed=cfg.seed)
    differ = sum(
        [q.tokens for q in a.sequences] != [q.tokens for q in b.sequences]
        for a, b in zip(results[1], results["auto"])
    )
    return MethodFigures(method, M, theta, passes[1], passes["auto"],
                         passes["auto"].tokens_per_s / passes[1].tokens_per_s, passes["auto, unshared"],
                         passes["auto, unshared"].wall_s / passes["auto"].wall_s, differ, (d.low, d.high))


def _run_unshared(model, prompts, settings) -> list:
    """``run_many`` at auto with prompt-prefix sharing off."""
    from .events import RunFinished
    from .scheduler import AUTO_ROWS, Scheduler

    scheduler = Scheduler(model.engine, target_rows=AUTO_ROWS, share_prefixes=False)
    ids = [model.submit(scheduler, p, s) for p, s in zip(prompts, settings)]
    done = {rid: ev.result for rid, ev in scheduler.events() if isinstance(ev, RunFinished)}
    return [done[rid] for rid in ids]


def summary(figures: ThroughputFigures | None) -> dict:
    """The headline ratios, under the keys ``eager bench --json`` promises."""
    f = figures
    return {
        "speedup_eval_concurrency_eager": f.eager.speedup if f else None,
        "speedup_eval_concurrency_parallel": f.parallel.speedup if f else None,
        "speedup_prefix_sharing_eager": f.eager.sharing_speedup if f else None,
        "speedup_prefix_sharing_parallel": f.parallel.sharing_speedup if f else None,
        "eager_vs_parallel_wall_ratio_auto": f.parallel.auto.wall_s / f.eager.auto.wall_s if f else None,
        "eager_vs_parallel_token_ratio_auto": (f.parallel.auto.generated_tokens
                                               / max(f.eager.auto.generated_tokens, 1)) if f else None,
    }


def format_section(figures: ThroughputFigures | None) -> list[str]:
    """The section's lines of the table."""
    if not figures:
        return []
    lines = ["", f"6    eval throughput: {figures.items} MAWPS SingleOp items, T = "
                 f"{figures.max_new_tokens}, concurrency 1 vs auto (same settings and seeds)",
             f"     {'':<16} {'concurrency':>14} {'wall s':>8} {'generated':>10} {'tok/s':>8} "
             f"{'prompts/min':>12} {'Pass@k':>7}"]
    for m in (figures.eager, figures.parallel):
        name = f"{m.method} M={m.max_seqs}"
        for p in (m.one, m.auto, m.auto_unshared):
            lines.append(f"     {name:<16} {p.concurrency:>14} {p.wall_s:>8.1f} {p.generated_tokens:>10} "
                         f"{p.tokens_per_s:>8.1f} {p.prompts_per_min:>12.1f} {p.passk:>7.2f}")
        lo, hi = m.passk_diff_ci95
        lines.append(f"     {name}: {m.speedup:.2f}× the throughput at auto; Pass@k difference 95% CI "
                     f"{lo:+.2f} to {hi:+.2f}; {m.differing_prompts} of {figures.items} prompts' "
                     "tokens differ from their solo run")
        lines.append(f"     {name}: prompt-prefix sharing: {m.sharing_speedup:.2f}× less wall time at auto")
    h = summary(figures)
    lines.append(f"     at auto, EAGER took {h['eager_vs_parallel_wall_ratio_auto']:.2f}× less wall time than "
                 f"parallel for {h['eager_vs_parallel_token_ratio_auto']:.2f}× fewer generated tokens")
    return lines


def run_section(model, cfg, log=None):
    """Only this section (``eager bench --only eval-throughput``), θ calibrated as section 4 does."""
    import sys

    from .bench import _calibrate, _load
    from .bench_figures import Figures
    from .evaluation.datasets import load_dataset
    from .evaluation.prompts import choose_format

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0, load0 = time.perf_counter(), _load()
    fmt = choose_format(load_dataset(cfg.data, limit=1), model.spec.prompt_format)
    theta = _calibrate(model, cfg, fmt, log)
    throughput = eval_throughput(model, cfg, theta, log)
    return Figures(config=asdict(cfg), model=str(model.info.path), n_threads=model.engine.n_threads,
                   throughput=throughput, wall_s=time.perf_counter() - t0, load_average=(load0, _load()))
