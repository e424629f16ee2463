"""``eager bench`` section "prefix cache": a chat's next turns, cold and warm, against ``Llama``.

A chat history of about 1,355 tokens (a system prompt and earlier question-and-answer turns)
ends with a question; two more requests share all of it but that last question. Each is
completed greedily (temperature 0) with max_tokens 4, one after another: the first cold
(nothing cached), the next two warm (the history is in the prefix cache). Reported per
request: time to the first token and in all, for eager-local and for llama-cpp-python's
high-level ``Llama`` doing the same three calls on the same token ids (it keeps its last
prompt's KV and decodes only what is new), and the ratios: warm against cold, and
eager-local's warm requests against ``Llama``'s.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

HISTORY_TOKENS = 1_355
"""About the length of the first prompt."""
MAX_TOKENS = 4
SYSTEM = "System: you are a careful assistant. Answer each arithmetic question with one number.\n"
QUESTIONS = ("How many apples are there in all?", "How many pears are left?", "What is seven times six?")


@dataclass(frozen=True)
class PrefixCacheFigures:
    """Three requests sharing a long history: cold, then warm twice."""

    prompt_tokens: tuple[int, ...]
    """Tokens of each request's prompt."""
    cached_tokens: tuple[int, ...]
    """Prompt tokens each request found in the prefix cache (not decoded)."""
    ttft_s: tuple[float, ...]
    """eager-local: seconds from the call to the first token, per request."""
    total_s: tuple[float, ...]
    """eager-local: seconds from the call to the result, per request."""
    llama_ttft_s: tuple[float, ...]
    """``Llama``: seconds to the first streamed token, per request."""
    llama_total_s: tuple[float, ...]
    """``Llama``: seconds per request."""
    warm_speedup: float
    """eager-local: the cold request's total over the warm ones' mean."""
    llama_warm_speedup: float
    """``Llama``: the same ratio."""
    warm_vs_llama: float
    """``Llama``'s warm mean total over eager-local's (above 1: eager-local is faster)."""


def history(engine, target: int = HISTORY_TOKENS) -> str:
    """A chat history of about ``target`` tokens: the system line and numbered earlier turns."""
    turns, text, i = [], SYSTEM, 0
    while len(engine.prompt_tokens(text)) < target - 20:
        a, b = 3 + 7 * i % 40, 2 + 5 * i % 30
        turns.append(f"User: Ann has {a} marbles and finds {b} more. How many marbles does she have?\n"
                     f"Assistant: {a + b}\n")
        text, i = SYSTEM + "".join(turns), i + 1
    return text


def prefix_cache_section(model, log) -> PrefixCacheFigures:
    """The three requests through eager-local, then through ``Llama``."""
    from ..engine import llama as L
    from ..events import RunFinished, TokenSampled

    e = model.engine
    base = history(e)
    prompts = [f"{base}User: {q}\nAssistant:" for q in QUESTIONS]
    e.clear()  # nothing cached: the first request is cold
    ours = []
    for i, p in enumerate(prompts):
        log(f"[P] prefix cache: request {i + 1}/3 through eager-local")
        t0, first = time.perf_counter(), None
        for ev in model.stream(p, method="greedy", max_new_tokens=MAX_TOKENS, stop=()):
            if isinstance(ev, TokenSampled) and first is None:
                first = time.perf_counter() - t0
            if isinstance(ev, RunFinished):
                ours.append((first, time.perf_counter() - t0, ev.result.stats))
    log("[P] prefix cache: the same three requests through the high-level Llama")
    ids = [e.prompt_tokens(p) for p in prompts]
    theirs = L.highlevel_turns(e.path, ids, max_tokens=MAX_TOKENS, n_ctx=max(map(len, ids)) + MAX_TOKENS + 16,
                               n_threads=e.n_threads, n_gpu_layers=e.n_gpu_layers)
    total = [t for _, t, _ in ours]
    llama_total = [t for _, t in theirs]
    warm, llama_warm = sum(total[1:]) / 2, sum(llama_total[1:]) / 2
    return PrefixCacheFigures(
        prompt_tokens=tuple(len(x) for x in ids), cached_tokens=tuple(s.cached_prompt_tokens for _, _, s in ours),
        ttft_s=tuple(f for f, _, _ in ours), total_s=tuple(total),
        llama_ttft_s=tuple(f for f, _ in theirs), llama_total_s=tuple(llama_total),
        warm_speedup=total[0] / warm, llama_warm_speedup=llama_total[0] / llama_warm,
        warm_vs_llama=llama_warm / warm,
    )


def prefix_cache_lines(fig: PrefixCacheFigures | None) -> list[str]:
    """The section's lines of the table (none when it did not run)."""
    if fig is None:
        return []
    lines = ["", f"P    prefix cache: a {fig.prompt_tokens[0]:,}-token chat history, then two requests "
                 f"sharing all but its last question (greedy, {MAX_TOKENS} tokens)",
             f"     {'request':<9} {'prompt':>7} {'cached':>7} {'first token s':>14} {'total s':>8} "
             f"{'Llama first s':>14} {'Llama total s':>14}"]
    for i in range(len(fig.total_s)):
        lines.append(f"     {i + 1} {'cold' if i == 0 else 'warm':<7} {fig.prompt_tokens[i]:>7,} "
                     f"{fig.cached_tokens[i]:>7,} {fig.ttft_s[i]:>14.3f} {fig.total_s[i]:>8.3f} "
                     f"{fig.llama_ttft_s[i]:>14.3f} {fig.llama_total_s[i]:>14.3f}")
    lines.append(f"     warm vs cold: {fig.warm_speedup:.1f}× faster (Llama: {fig.llama_warm_speedup:.1f}×); "
                 f"warm requests {fig.warm_vs_llama:.2f}× Llama's speed")
    return lines

