"""Context exhaustion mid-run on the real llama.cpp (tiny GGUF, 256 KV cells, many branches).

The run must finish: sequences that find no KV cell end as ``context_full``,
the result and its stats stay consistent, and the engine is empty and
reusable afterwards.
"""

from __future__ import annotations

from collections import Counter

import pytest

from eager_local.decoding.controller import collect, generate
from eager_local.events import RunFinished, SequenceFinished, StepFinished
from eager_local.settings import Settings

N_CTX = 256


@pytest.fixture(scope="module")
def small_engine(tiny_gguf):
    from eager_local.engine.llama import LlamaEngine

    e = LlamaEngine(tiny_gguf, n_ctx=N_CTX, n_threads=1)
    yield e
    e.close()


def assert_consistent(engine, result, events):
    """Stats and sequences agree with each other and with the event stream."""
    st = result.stats
    seqs = result.sequences
    assert st.n_sequences == len(seqs)
    assert st.peak_kv_cells <= engine.n_ctx
    for s in seqs:
        assert s.finish_reason in {"context_full", "length", "eog", "stop"}
        assert len(s.tokens) == len(s.entropies) >= 1
        assert len(s.tokens) <= result.settings.max_new_tokens
    # a child's first fork_pos tokens are its parent's: count them once
    shared = sum(s.fork_pos for s in seqs if s.parent is not None)
    assert st.generated_tokens == sum(len(s.tokens) for s in seqs) - shared
    finished = [ev for ev in events if isinstance(ev, SequenceFinished)]
    assert sorted(ev.seq for ev in finished) == [s.id for s in seqs]
    assert sum(isinstance(ev, RunFinished) for ev in events) == 1
    steps = [ev for ev in events if isinstance(ev, StepFinished)]
    assert all(ev.kv_cells <= engine.n_ctx for ev in steps)
    assert st.steps == len(steps)


def assert_empty(engine):
    """Every sequence id holds nothing (the engine's own view of the cache)."""
    assert not engine._held.any()


@pytest.mark.parametrize(
    "settings",
    [
        Settings(method="eager", theta=0.0, max_seqs=32, max_new_tokens=60, seed=1),
        Settings(method="parallel", max_seqs=48, max_new_tokens=60, seed=2),
        Settings(method="greedy", max_new_tokens=400),
    ],
    ids=["eager-theta0-M32", "parallel-M48", "greedy-long"],
)
def test_context_exhaustion_finishes_cleanly(small_engine, settings):
    events = list(generate(small_engine, "the cat", settings))
    result = events[-1].result
    reasons = Counter(s.finish_reason for s in result.sequences)
    assert reasons["context_full"] >= 1, reasons
    if settings.method != "greedy":
        assert result.stats.n_sequences == settings.max_seqs
    assert_consistent(small_engine, result, events)
    assert_empty(small_engine)


def test_engine_is_reusable_after_exhaustion(small_engine, tiny_gguf):
    """After a run that filled the cache, a run on the same engine equals one on a fresh engine."""
    from eager_local.engine.llama import LlamaEngine

    s = Settings(method="eager", theta=1.0, max_seqs=4, max_new_tokens=24, seed=5)
    collect(generate(small_engine, "the cat", Settings(method="parallel", max_seqs=64, max_new_tokens=40)))
    reused = collect(generate(small_engine, "the dog", s))
    fresh_engine = LlamaEngine(tiny_gguf, n_ctx=N_CTX, n_threads=1)
    try:
        fresh = collect(generate(fresh_engine, "the dog", s))
    finally:
        fresh_engine.close()
    assert [q.tokens for q in reused.sequences] == [q.tokens for q in fresh.sequences]
    assert not any(q.finish_reason == "context_full" for q in reused.sequences)


def test_exhaustion_ends_the_youngest_sequences_first(small_engine):
    result = collect(generate(small_engine, "the cat",
                              Settings(method="parallel", max_seqs=16, max_new_tokens=200, seed=3)))
    running = [s for s in result.sequences if s.finish_reason != "eog"]  # eog ends any age
    full = [s.id for s in running if s.finish_reason == "context_full"]
    others = [s.id for s in running if s.finish_reason != "context_full"]
    assert full and others
    assert min(full) > max(others)


def test_cancel_mid_decode_leaves_the_engine_reusable(small_engine):
    """What a TUI stop does: set the cancel event during the run, then run again."""
    import threading

    cancel = threading.Event()
    events = []
    for ev in generate(small_engine, "the cat", Settings(method="parallel", max_seqs=8,
                                                         max_new_tokens=100), cancel=cancel):
        events.append(ev)
        if isinstance(ev, StepFinished) and ev.step == 5:
            cancel.set()
    result = events[-1].result
    assert {s.finish_reason for s in result.sequences} == {"cancelled"}
    assert_empty(small_engine)
    again = collect(generate(small_engine, "the cat", Settings(method="greedy", max_new_tokens=8)))
    assert again.sequences[0].finish_reason in {"length", "eog"}


def test_abandoning_the_generator_clears_the_engine(small_engine):
    """A face that stops iterating (closes the generator) still leaves an empty cache."""
    gen = generate(small_engine, "the cat", Settings(method="parallel", max_seqs=8, max_new_tokens=100))
    for ev in gen:
        if isinstance(ev, StepFinished) and ev.step == 3:
            break
    gen.close()
    assert_empty(small_engine)
    again = collect(generate(small_engine, "the cat", Settings(method="greedy", max_new_tokens=8)))
    assert again.sequences
