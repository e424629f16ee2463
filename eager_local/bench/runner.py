"""``eager bench``: wall-clock time against the llama.cpp ceiling and against the alternatives.

Six measurements in one process, on one model, with fixed prompts and seeds:

1. ceiling   bare ``llama_decode`` loops (1, 8, 32 rows, logits requested, never read)
2. engine    full parallel sampling through the controller at the same shapes: tokens/s
             and the share of each step spent outside ``llama_decode``
S. sampling  old path (full logits to the host, ``eager_local.decoding.sampling``) against new
             (llama.cpp's backend top-N candidates), M = 32, τ 0.6 and 1.2, interleaved
3. baseline  llama-cpp-python's high-level ``Llama``, the same M samples one after
             another (prompt cache on), against our full parallel and EAGer-init
4. EAGER     EAGer-init vs full parallel on a slice of MAWPS SingleOp (calibrated θ):
             generated and decoded tokens, wall time, Pass@k
5. memory    M sequences forked from a long shared prompt, in a context far smaller
             than M × (prompt + suffix): peak KV cells and process RSS
6. eval throughput  prompts decoded together vs one at a time (eager_local.bench.throughput)
P. prefix cache  a chat's next turns warm vs cold, and against ``Llama`` (eager_local.bench.prefix_cache)

The machine is shared and noisy, so every comparison is a ratio of figures taken
side by side in the same run (measurements of 1 and 2, and of S, are interleaved;
medians). Nothing here imports llama_cpp: the baselines use public engine
functions (engine.llama). The figures and their table are in bench.figures.
"""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..decoding import prefix_cache
from . import prefix_cache as bench_prefix_cache
from . import throughput
from .common import calibrate, load_average
from .figures import (EagerFigures, Figures, HighLevelFigures, MemoryFigures,
                            ShapeFigures, format_table, write_json)
from ..decoding.controller import collect
from .sampling_section import sampling_paths as _sampling_paths
from .sampling_section import steps as _steps

__all__ = ["BenchConfig", "Figures", "format_table", "run_bench", "write_json"]

#: Shown when the dataset is missing, for sections 1–3 and 5.
FALLBACK_QUESTION = "Tom has 15 marbles. He gives 6 of them to Ann. How many marbles does Tom have left?"


@dataclass(frozen=True)
class BenchConfig:
    """What ``eager bench`` measures, and how much of it."""

    quick: bool = False
    data: str = "../shared/data/mawps_singleop_dev.jsonl"
    """MAWPS SingleOp JSONL (id, question, answer); section 4 is skipped without it."""
    items: int = 24
    """Items of section 4 (the first of the file; calibration uses others)."""
    highlevel_items: int = 2
    """Of those, how many also run through the high-level ``Llama`` (section 3)."""
    max_seqs: int = 32
    max_new_tokens: int = 64
    steps: int = 24
    """Decode steps per measurement of sections 1–2."""
    rounds: int = 3
    """Interleaved repetitions of sections 1–2 (medians reported)."""
    calibration_items: int = 12
    calibration_offset: int = 200
    target_seqs: float = 8.0
    """θ is calibrated so that EAGer-init creates about this many sequences per prompt."""
    long_prompt_tokens: int = 1500
    suffix_tokens: int = 32
    seed: int = 0
    sampling_taus: tuple = (0.6, 1.2)
    """Temperatures of section S (old vs new sampling path)."""

    @staticmethod
    def quick_config(**kw) -> "BenchConfig":
        base = dict(quick=True, items=4, highlevel_items=1, max_new_tokens=40, steps=8,
                     rounds=2, calibration_items=4, long_prompt_tokens=400, suffix_tokens=16)
        base.update(kw)
        return BenchConfig(**base)


def run_bench(model, cfg: BenchConfig, log=None) -> Figures:
    """Run every section on ``model`` (an ``api.Model``); ``log`` gets progress lines."""
    from ..engine import llama as L

    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0, load0 = time.perf_counter(), load_average()
    e = model.engine
    cache, e.prefix_cache = prefix_cache.of(e), None  # sections 1-5 decode every prompt whole
    notes: list[str] = []
    items, fmt, checker = _dataset(model, cfg, notes)
    first = fmt.render(items[0]) if items else _fallback_prompt()
    prompt_ids = e.prompt_tokens(first)

    # 1 + 2: ceiling and engine at the same shapes, interleaved
    shapes = []
    for M in sorted({1, 8, cfg.max_seqs}):
        log(f"[1-2] M={M}: bare llama_decode vs full parallel, {cfg.rounds} × {cfg.steps} steps")
        bare, eng = [], []
        s = model.settings(method="parallel", max_seqs=M, max_new_tokens=cfg.steps + 1,
                           seed=cfg.seed, stop=())
        for _ in range(cfg.rounds):
            bare.append(L.bare_decode_loop(e, prompt_ids, M, cfg.steps) / cfg.steps)
            eng.extend(_steps(e, first, s, M))
        shapes.append(_shape_row(M, bare, eng))

    # S: the old sampling path against the new one, same shapes, interleaved
    samp = _sampling_paths(model, cfg, first, len(prompt_ids), notes, log)

    # 4 (before 3, whose comparison reuses its runs): EAGER vs full parallel
    runs, eager = [], None
    if items:
        theta = calibrate(model, cfg, fmt, log)
        log(f"[4] θ = {theta:.3f}; {len(items)} items × (parallel, eager) at M={cfg.max_seqs}")
        runs = _eager_vs_parallel(model, cfg, items, fmt, checker, theta, log)
        eager = _eager_row(runs, theta, cfg)

    # 3: the high-level Llama, same M samples one after another
    hl_prompts = [fmt.render(it) for it in items[: cfg.highlevel_items]] if items else [first]
    stop = fmt.stop if items else ("\n\n",)
    highlevel = _highlevel(model, cfg, hl_prompts, stop, runs, log)

    # 5: memory
    log(f"[5] memory: M={cfg.max_seqs} from a ~{cfg.long_prompt_tokens}-token shared prompt")
    memory = _memory(model, cfg)
    e.prefix_cache = cache
    # 6: eval throughput, with section 4's θ
    section6 = throughput.eval_throughput(model, cfg, eager.theta, log) if eager else None
    # P: the prefix cache (skipped with --no-prefix-cache)
    section_p = bench_prefix_cache.prefix_cache_section(model, log) if cache is not None else None
    return Figures(config=asdict(cfg), model=str(model.info.path), n_threads=e.n_threads,
                   shapes=tuple(shapes), sampling=tuple(samp), highlevel=highlevel, eager=eager,
                   memory=memory, throughput=section6, prefix_cache=section_p, notes=tuple(notes),
                   wall_s=time.perf_counter() - t0, load_average=(load0, load_average()))


def run_prefix_cache(model, cfg: BenchConfig, log=None) -> Figures:
    """Only section P (``eager bench --only prefix-cache``)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    t0, load0 = time.perf_counter(), load_average()
    fig = bench_prefix_cache.prefix_cache_section(model, log)
    return Figures(config=asdict(cfg), model=str(model.info.path), n_threads=model.engine.n_threads,
                   prefix_cache=fig, wall_s=time.perf_counter() - t0, load_average=(load0, load_average()))


# sections --------------------------------------------------------------------


def _dataset(model, cfg, notes):
    path = Path(cfg.data).expanduser()
    if not path.is_file():
        notes.append(f"no dataset at {path}: section 4 skipped (--data PATH)")
        return [], None, None
    from ..evaluation.answers import Checker
    from ..evaluation.datasets import load_dataset
    from ..evaluation.prompts import choose_format

    ds = load_dataset(str(path), limit=cfg.items)
    fmt = choose_format(ds, model.spec.prompt_format)
    return list(ds.items), fmt, Checker(ds.kind)


def _fallback_prompt() -> str:
    return f"Question: {FALLBACK_QUESTION}\nAnswer:"


def _shape_row(M, bare, eng) -> dict:
    step = statistics.median(t for t, _, _ in eng) if eng else float("nan")
    dec = statistics.median(d for _, d, _ in eng) if eng else float("nan")
    outside = statistics.median(t - d for t, d, _ in eng) if eng else float("nan")
    cpu = statistics.median(c for _, _, c in eng) if eng else float("nan")
    ceiling = statistics.median(bare)
    return ShapeFigures(
        M=M, ceiling_step_ms=1e3 * ceiling, ceiling_tok_s=M / ceiling, engine_step_ms=1e3 * step,
        engine_decode_ms=1e3 * dec, engine_outside_ms=1e3 * outside, engine_outside_cpu_ms=1e3 * cpu,
        engine_tok_s=M / step, overhead_share=outside / step if step > 0 else None,
        engine_vs_ceiling=ceiling / step if step > 0 else None, steps_measured=len(eng),
    )


def _run(model, prompt, item_seed, cfg, fmt, method, theta):
    s = model.settings(method=method, theta=theta, max_seqs=cfg.max_seqs,
                       max_new_tokens=cfg.max_new_tokens, seed=item_seed, stop=fmt.stop)
    return collect(model.stream(prompt, s))


def _eager_vs_parallel(model, cfg, items, fmt, checker, theta, log) -> list[dict]:
    out = []
    for i, it in enumerate(items):
        prompt, seed = fmt.render(it), cfg.seed + 1000 + i
        row = {"id": it.id}
        order = ("parallel", "eager") if i % 2 == 0 else ("eager", "parallel")  # drift cancels
        for method in order:
            r = _run(model, prompt, seed, cfg, fmt, method, theta)
            ok = [checker.check(it, q.text).correct for q in r.sequences]
            row[method] = {
                "wall_s": r.stats.wall_s,
                "decode_s": r.stats.decode_s,
                "generated": r.stats.generated_tokens,
                "decoded": r.stats.decoded_tokens,
                "sequences": r.stats.n_sequences,
                "correct": sum(ok),
                "pass": any(ok),
            }
        log(f"    {it.id}: parallel {row['parallel']['wall_s']:.1f}s {row['parallel']['pass']}, "
            f"eager {row['eager']['wall_s']:.1f}s {row['eager']['sequences']} seqs {row['eager']['pass']}")
        out.append(row)
    return out


def _eager_row(runs, theta, cfg) -> EagerFigures:
    from ..evaluation.metrics import paired_bootstrap

    tot = {m: {k: sum(r[m][k] for r in runs) for k in ("wall_s", "decode_s", "generated", "decoded", "sequences")}
           for m in ("parallel", "eager")}
    pp = [float(r["parallel"]["pass"]) for r in runs]
    pe = [float(r["eager"]["pass"]) for r in runs]
    d = paired_bootstrap(pp, pe, metric="pass@k", seed=cfg.seed)
    return EagerFigures(
        theta=theta, items=len(runs), totals=tot,
        speedup_wall=tot["parallel"]["wall_s"] / tot["eager"]["wall_s"],
        token_ratio=tot["eager"]["generated"] / max(1, tot["parallel"]["generated"]),
        decoded_ratio=tot["eager"]["decoded"] / max(1, tot["parallel"]["decoded"]),
        seqs_per_prompt_eager=tot["eager"]["sequences"] / len(runs),
        passk_parallel=sum(pp) / len(pp), passk_eager=sum(pe) / len(pe),
        passk_diff=d.value, passk_diff_ci95=[d.low, d.high], runs=runs,
    )


def _highlevel(model, cfg, prompts, stop, runs, log) -> HighLevelFigures:
    from ..engine import llama as L

    e = model.engine
    hl_s, hl_tokens, ours_par, ours_eager = 0.0, 0, 0.0, 0.0
    for i, prompt in enumerate(prompts):
        log(f"[3] high-level Llama: {cfg.max_seqs} samples one after another (prompt {i + 1}/{len(prompts)})")
        n_ctx = len(e.prompt_tokens(prompt)) + cfg.max_new_tokens + 16
        _, counts, sec = L.highlevel_samples(
            e.path, prompt, cfg.max_seqs, max_tokens=cfg.max_new_tokens, temperature=0.6, top_p=0.95,
            seed=cfg.seed + 1000 + i, n_ctx=n_ctx, n_threads=e.n_threads,
            n_gpu_layers=e.n_gpu_layers, stop=stop,
        )
        hl_s += sec
        hl_tokens += sum(counts)
        if i < len(runs):
            ours_par += runs[i]["parallel"]["wall_s"]
            ours_eager += runs[i]["eager"]["wall_s"]
        else:  # no dataset: run ours here
            s = model.settings(method="parallel", max_seqs=cfg.max_seqs,
                               max_new_tokens=cfg.max_new_tokens, seed=cfg.seed, stop=tuple(stop))
            ours_par += collect(model.stream(prompt, s)).stats.wall_s
    return HighLevelFigures(
        prompts=len(prompts), highlevel_wall_s=hl_s, highlevel_tokens=hl_tokens, parallel_wall_s=ours_par,
        eager_wall_s=ours_eager or None, speedup_parallel=hl_s / ours_par if ours_par else None,
        speedup_eager=hl_s / ours_eager if ours_eager else None,
        sampler="library defaults (top_k=40, min_p=0.05) with temperature 0.6, top_p 0.95",
    )


def _memory(model, cfg) -> MemoryFigures:
    from ..api import load

    e = model.engine
    unit = e.prompt_tokens(" " + _fallback_prompt() + " The answer is 9.\n\n")
    reps = max(1, cfg.long_prompt_tokens // max(1, len(unit)))
    prompt = (" " + _fallback_prompt() + " The answer is 9.\n\n") * reps + "Question: How many?\nAnswer:"
    P = len(e.prompt_tokens(prompt))
    M, S = cfg.max_seqs, cfg.suffix_tokens
    naive = M * (P + S)
    n_ctx = P + M * S + 64  # far below naive: only shared prefixes fit
    rss0 = _rss_kib()
    small = load(str(e.path), n_ctx=n_ctx, n_threads=e.n_threads, n_gpu_layers=e.n_gpu_layers,
                 n_seq_max=max(M, 1), hash_file=False)
    try:
        rss1 = _rss_kib()
        s = small.settings(method="parallel", max_seqs=M, max_new_tokens=S, seed=cfg.seed, stop=())
        r = collect(small.stream(prompt, s))
        rss2 = _rss_kib()
    finally:
        small.close()
    reasons = [q.finish_reason for q in r.sequences]
    return MemoryFigures(
        prompt_tokens=P, sequences=M, suffix_tokens=S, n_ctx=n_ctx, peak_kv_cells=r.stats.peak_kv_cells,
        naive_kv_cells=naive, kv_ratio_naive_vs_peak=naive / max(1, r.stats.peak_kv_cells),
        generated_tokens=r.stats.generated_tokens, context_full=reasons.count("context_full"),
        rss_before_load_mib=rss0 / 1024 if rss0 else None, rss_loaded_mib=rss1 / 1024 if rss1 else None,
        rss_after_run_mib=rss2 / 1024 if rss2 else None,
        rss_run_growth_mib=(rss2 - rss1) / 1024 if rss1 and rss2 else None,
        rss_peak_mib=(_rss_kib("VmHWM") or 0) / 1024 or None,
    )


def _rss_kib(key: str = "VmRSS") -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None
