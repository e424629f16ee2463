"""The prefix cache against the fake engine: cached runs equal cold ones, cells are
counted exactly, and cached prefixes give way to live runs."""

from __future__ import annotations

import random

import pytest

from eager_local.decoding import prefix_cache
from eager_local.decoding.controller import generate
from eager_local.decoding.radix import RadixTree
from eager_local.decoding.scheduler import Scheduler
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.events import RunFinished, SequenceFinished, StepFinished

from dataclasses import replace

V = 32
HISTORY = "system: you answer sums. user: one plus one? assistant: two. user: two plus two? "
S = dict(theta=1.0, max_seqs=4, max_new_tokens=12)


def comparable(ev):
    """An event without what a cached prompt changes: times, rows decoded, tokens copied."""
    if isinstance(ev, StepFinished):
        return replace(ev, elapsed_s=0.0, decode_s=0.0, decoded_tokens=0)
    if isinstance(ev, RunFinished):
        st = replace(ev.result.stats, wall_s=0.0, decode_s=0.0, decoded_tokens=0, cached_prompt_tokens=0)
        return replace(ev, result=replace(ev.result, stats=st))
    return ev


def per_run(pairs):
    out: dict[int, list] = {}
    for rid, ev in pairs:
        out.setdefault(rid, []).append(ev)
    return out


def fake(**kw) -> FakeEngine:
    """A fake engine whose token pieces tokenize back to the same tokens (a chat's history)."""
    return FakeEngine(hashed_script(V), vocab=V, pieces={t: bytes([t + 55]) for t in range(3, V)}, **kw)


def cached_engine(max_cells=None, **kw) -> FakeEngine:
    eng = fake(**kw)
    prefix_cache.attach(eng, max_cells)
    return eng


def same(events):
    return [comparable(ev) for ev in events]


def run(eng, prompt, **kw):
    from eager_local.settings import Settings

    return list(generate(eng, prompt, Settings(**{**S, **kw})))


def checked(sched, eng):
    """Drain ``sched`` asserting the scheduler's count of cells is the engine's at every step."""
    out = []
    for rid, ev in sched.events():
        if isinstance(ev, StepFinished):
            assert eng.used_cells == sched.kv_cells()
        out.append((rid, ev))
    assert eng.used_cells == sched.kv_cells()  # the cached prefixes alone
    return per_run(out)


def test_the_radix_tree_finds_the_longest_shared_prefix_as_a_scan_would():
    rnd = random.Random(3)
    tree, keys = RadixTree(), {}
    for k in range(60):
        if keys and rnd.random() < 0.3:  # remove one
            gone = rnd.choice(sorted(keys))
            tree.remove(keys.pop(gone), gone)
            continue
        base = rnd.choice(list(keys.values())) if keys and rnd.random() < 0.6 else []
        toks = base[: rnd.randint(0, len(base))] + [rnd.randint(0, 3) for _ in range(rnd.randint(1, 6))]
        tree.insert(toks, k)
        keys[k] = toks
        for _ in range(10):
            q = rnd.choice(list(keys.values()))[:] + [rnd.randint(0, 3) for _ in range(rnd.randint(0, 3))]
            q = q[: rnd.randint(0, len(q))]

            def common(t):
                return next((i for i, (x, y) in enumerate(zip(q, t)) if x != y), min(len(q), len(t)))
            best = max(common(t) for t in keys.values())
            n, found = tree.longest(q)
            assert n == best
            if best:
                assert found == {key for key, t in keys.items() if common(t) >= best}
            assert sorted(tree.prefixes(q)) == sorted(key for key, t in keys.items() if q[: len(t)] == t)


def test_a_cached_run_is_its_cold_run_and_decodes_one_prompt_token():
    prompt = HISTORY + "user: three?"
    cold = run(fake(), prompt, method="eager")
    eng = cached_engine()
    first = run(eng, prompt, method="eager")
    assert same(first) == same(cold)
    assert eng.used_cells > 0 and prefix_cache.of(eng).entries  # the run's cells stayed
    rows = eng.decoded_rows
    again = run(eng, prompt, method="eager")
    assert same(again) == same(cold)
    stats = again[-1].result.stats
    n = len(eng.prompt_tokens(prompt))
    assert stats.cached_prompt_tokens == n - 1 and first[-1].result.stats.cached_prompt_tokens == 0
    assert stats.decoded_tokens == cold[-1].result.stats.decoded_tokens - (n - 1)
    assert eng.decoded_rows - rows == stats.decoded_tokens


def test_a_next_chat_turn_finds_the_history_and_the_chosen_answer():
    eng = cached_engine()
    first = run(eng, HISTORY, method="eager")[-1].result
    answer = max(first.sequences, key=lambda s: len(s.tokens))
    turn2 = HISTORY + answer.text + " user: and three plus three?"
    assert eng.prompt_tokens(turn2)[: first.stats.prompt_tokens + len(answer.tokens) - 1] == \
        eng.prompt_tokens(HISTORY) + list(answer.tokens[:-1])  # the fake tokenizer round-trips
    second = run(eng, turn2, method="greedy")
    assert same(second) == same(run(fake(), turn2,
                                                          method="greedy"))
    # the prompt and every decoded answer token (its last one never went through the model)
    assert second[-1].result.stats.cached_prompt_tokens == first.stats.prompt_tokens + len(answer.tokens) - 1


def test_cells_are_counted_exactly_with_cached_prefixes_present():
    from eager_local.settings import Settings

    eng = cached_engine()
    for round_ in range(3):
        sched = Scheduler(eng)
        for i, (m, q) in enumerate((("eager", "a?"), ("parallel", "b?"), ("greedy", "a?"), ("eager", "c"))):
            sched.add(HISTORY + q, Settings(method=m, seed=i + round_, **{k: v for k, v in S.items()}))
        streams = checked(sched, eng)
        assert all(isinstance(s[-1], RunFinished) for s in streams.values())
    assert len(prefix_cache.of(eng).entries) > 1


def test_cached_prefixes_give_way_to_live_runs():
    """A context that holds one run at a time: the cache never ends a live sequence
    as context_full, and every run equals its cold run."""
    from eager_local.settings import Settings

    prompts = [HISTORY + q for q in ("a?", "b? b? b?", "c", "c")]
    n_ctx = len(fake().prompt_tokens(prompts[1])) + 4 * 12 + 12
    for n_seq_max in (16, 5):  # cells under pressure; then sequence ids too
        eng = cached_engine(n_ctx=n_ctx, n_seq_max=n_seq_max)
        for i, p in enumerate(prompts):
            s = Settings(method="eager", seed=i, **S)
            sched = Scheduler(eng)
            sched.add(p, s)
            events = checked(sched, eng)[0]
            cold = list(generate(fake(n_ctx=n_ctx, n_seq_max=n_seq_max), p, s))
            assert same(events) == same(cold)
            reasons = {ev.reason for ev in events if isinstance(ev, SequenceFinished)}
            assert "context_full" not in reasons
        assert events[-1].result.stats.cached_prompt_tokens == len(eng.prompt_tokens(prompts[-1])) - 1
        first = eng.prompt_tokens(prompts[0])
        assert prefix_cache.of(eng).tree.longest(first)[0] < len(first) - 1  # its entries gave way


def test_a_bound_of_zero_keeps_nothing_and_cancelled_prefills_are_never_cached():
    eng = cached_engine(max_cells=0)
    run(eng, HISTORY)
    assert eng.used_cells == 0 and not prefix_cache.of(eng).entries
    eng = cached_engine(n_batch=16)
    calls = eng.decode_calls

    def interrupted(*a):
        if eng.decode_calls - calls == 3:
            raise KeyboardInterrupt  # Ctrl-C in the third chunk of the prompt
        return FakeEngine.decode(eng, *a)

    eng.decode = interrupted
    with pytest.raises(KeyboardInterrupt):
        run(eng, HISTORY)
    assert not prefix_cache.of(eng).entries and eng.used_cells == 0


def test_clearing_the_engine_empties_its_cache():
    eng = cached_engine()
    run(eng, HISTORY)
    eng.clear()
    assert not prefix_cache.of(eng).entries
    assert run(eng, HISTORY)[-1].result.stats.cached_prompt_tokens == 0


def test_a_fork_by_hand_and_a_continued_run_beside_cached_prefixes():
    """Resumed runs (a fork by hand) copy nothing from the cache and keep nothing in it;
    with cached prefixes filling the context, they still run as they do cold."""
    from eager_local.decoding.controller import fork_by_hand

    prompt = HISTORY + "user: nine?"
    n_ctx = len(fake().prompt_tokens(prompt)) + 4 * 12 + 8
    results = []
    for eng in (fake(n_ctx=n_ctx), cached_engine(n_ctx=n_ctx)):
        result = run(eng, prompt, method="eager")[-1].result
        run(eng, HISTORY + "user: ten?", method="parallel")  # more cached prefixes
        q = result.sequences[0]
        events = list(fork_by_hand(eng, result, q.id, 2, (q.tokens[2] + 1) % V))
        results.append(same(events))
        assert eng.used_cells == Scheduler(eng).kv_cells()  # the cached prefixes alone (or nothing)
    assert results[0] == results[1]
