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
from dataclasses import asdict

from .common import calibrate, load_average
from .figures import Figures, MethodFigures, Pass, ThroughputFigures

EAGER_M = 16
PARALLEL_M = 8
MIN_ITEMS = 16


def eval_throughput(model, cfg, theta: float, log) -> ThroughputFigures:
    """Both methods at both concurrencies."""
    from ..evaluation.answers import Checker
    from ..evaluation.datasets import load_dataset
    from ..evaluation.prompts import choose_format

    ds = load_dataset(cfg.data, limit=max(MIN_ITEMS, cfg.items))
    fmt = choose_format(ds, model.spec.prompt_format)
    checker = Checker(ds.kind)
    out = {}
    for method, M, th in (("eager", EAGER_M, theta), ("parallel", PARALLEL_M, None)):
        log(f"[6] eval throughput: {method} M={M} over {len(ds.items)} items, concurrency 1 and auto")
        out[method] = _method(model, cfg, ds.items, fmt, checker, method, M, th)
    return ThroughputFigures(len(ds.items), cfg.max_new_tokens, **out)


def _method(model, cfg, items, fmt, checker, method, M, theta) -> MethodFigures:
    from ..evaluation.metrics import paired_bootstrap

    prompts = [fmt.render(it) for it in items]
    extra = {} if theta is None else {"theta": theta}
    settings = [model.settings(method=method, max_seqs=M, max_new_tokens=cfg.max_new_tokens,
                               seed=cfg.seed + 1000 + i, stop=fmt.stop, **extra)
                for i in range(len(items))]
    passes, results = {}, {}
    for c in (1, "auto", "auto, unshared"):
        model.engine.clear()  # each pass starts with nothing cached
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
    from ..events import RunFinished
    from ..decoding.scheduler import AUTO_ROWS, Scheduler

    scheduler = Scheduler(model.engine, target_rows=AUTO_ROWS, share_prefixes=False)
    ids = [model.submit(scheduler, p, s) for p, s in zip(prompts, settings)]
    done = {rid: ev.result for rid, ev in scheduler.events() if isinstance(ev, RunFinished)}
    return [done[rid] for rid in ids]


def run_section(model, cfg, log=None):
    """Only this section (``eager bench --only eval-throughput``), θ calibrated as section 4 does."""
    import sys

    from ..evaluation.datasets import load_dataset
    from ..evaluation.prompts import choose_format

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0, load0 = time.perf_counter(), load_average()
    fmt = choose_format(load_dataset(cfg.data, limit=1), model.spec.prompt_format)
    theta = calibrate(model, cfg, fmt, log)
    throughput = eval_throughput(model, cfg, theta, log)
    return Figures(config=asdict(cfg), model=str(model.info.path), n_threads=model.engine.n_threads,
                   throughput=throughput, wall_s=time.perf_counter() - t0, load_average=(load0, load_average()))
