"""The scheduler against the scripted fake engine: many runs, one batch per step.

The fake engine's logits depend only on a sequence's history, never on its batch
mates, so every run's events must be exactly those of the same run decoded alone.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from eager_local.decoding.controller import generate
from eager_local.engine.fake import FakeEngine, flat, hashed_script, peaked
from eager_local.events import (
    Forked,
    RunFinished,
    RunStarted,
    SequenceFinished,
    StepFinished,
    TokenSampled,
)
from eager_local.decoding.scheduler import Scheduler
from eager_local.settings import Settings

V = 32
A, B = "a", "b"  # fake tokenizer: BOS + one byte = 2 prompt tokens


def two_prompt_script(high_a, high_b, eog_at=10):
    """Run A's sequences are uncertain at generated indices ``high_a``, run B's at ``high_b``."""
    tok_a = 3 + (ord(A) % (V - 3))

    def script(history):
        i = len(history) - 2
        if i >= eog_at:
            return peaked(V, 1)
        high = high_a if history[1] == tok_a else high_b
        if i in high:
            return flat(V, range(10, 14))
        return peaked(V, 5 + (i % 3))

    return script


def engine(script, **kw):
    return FakeEngine(script, vocab=V, **kw)


def comparable(ev):
    """An event without the fields that measure time."""
    if isinstance(ev, StepFinished):
        return replace(ev, elapsed_s=0.0, decode_s=0.0)
    if isinstance(ev, RunFinished):
        r = ev.result
        return replace(ev, result=replace(r, stats=replace(r.stats, wall_s=0.0, decode_s=0.0)))
    return ev


def solo(script, prompt, settings, **kw):
    return [comparable(ev) for ev in generate(engine(script, **kw), prompt, settings)]


def per_run(pairs):
    out: dict[int, list] = {}
    for rid, ev in pairs:
        out.setdefault(rid, []).append(comparable(ev))
    return out


S = Settings(theta=1.0, max_seqs=8, max_new_tokens=20)


def test_two_runs_fork_at_their_own_steps_and_match_their_solo_runs():
    script = two_prompt_script({2}, {1, 4})
    eng = engine(script)
    sched = Scheduler(eng)
    ra, rb = sched.add(A, S), sched.add(B, S.with_(seed=7))
    streams = per_run(sched.events())
    forks = {rid: [(e.parent, e.child, e.pos) for e in evs if isinstance(e, Forked)]
             for rid, evs in streams.items()}
    assert forks[ra] == [(0, 1, 2)]
    assert forks[rb] == [(0, 1, 1), (0, 2, 4), (1, 3, 4)]
    assert streams[ra] == solo(script, A, S)
    assert streams[rb] == solo(script, B, S.with_(seed=7))
    # both runs shared the decode calls: fewer calls than the two solo runs together
    assert eng.decode_calls < 2 * 10
    assert eng.used_cells == 0


def test_every_run_starts_and_finishes_once_in_order():
    script = two_prompt_script({2}, {3})
    sched = Scheduler(engine(script))
    ids = [sched.add(p, S.with_(seed=i)) for i, p in enumerate([A, B, A, B])]
    streams = per_run(sched.events())
    assert sorted(streams) == ids
    for evs in streams.values():
        assert isinstance(evs[0], RunStarted) and isinstance(evs[-1], RunFinished)
        assert sum(isinstance(e, RunFinished) for e in evs) == 1


def test_a_waiting_run_is_admitted_when_a_run_finishes():
    script = two_prompt_script({2}, {3}, eog_at=8)
    # each run reserves 2 + 2 × 10 = 22 cells: two fit in 50, the third waits
    s = Settings(method="parallel", max_seqs=2, max_new_tokens=10)
    sched = Scheduler(engine(script, n_ctx=50))
    for i, p in enumerate([A, B, A]):
        sched.add(p, s.with_(seed=i))
    order = [(rid, type(ev).__name__) for rid, ev in sched.events()
             if isinstance(ev, (RunStarted, RunFinished))]
    assert order[:2] == [(0, "RunStarted"), (1, "RunStarted")]
    first_finish = next(i for i, (_, kind) in enumerate(order) if kind == "RunFinished")
    assert order.index((2, "RunStarted")) > first_finish


def test_max_active_one_runs_the_prompts_one_after_another():
    script = two_prompt_script({2}, {3})
    sched = Scheduler(engine(script), max_active=1)
    for p in (A, B, A):
        sched.add(p, S)
    order = [rid for rid, ev in sched.events() if isinstance(ev, (RunStarted, RunFinished))]
    assert order == [0, 0, 1, 1, 2, 2]


def test_cancelling_one_run_leaves_the_other_complete():
    script = two_prompt_script({2}, {3}, eog_at=15)
    sched = Scheduler(engine(script))
    ra, rb = sched.add(A, S), sched.add(B, S)
    streams: dict[int, list] = {}
    for rid, ev in sched.events():
        streams.setdefault(rid, []).append(comparable(ev))
        if rid == ra and isinstance(ev, StepFinished) and ev.step == 4:
            sched.cancel(ra)
    a = streams[ra][-1].result
    assert {q.finish_reason for q in a.sequences} == {"cancelled"}
    assert a.stats.steps == 4
    assert streams[rb] == solo(script, B, S)
    assert {q.finish_reason for q in streams[rb][-1].result.sequences} == {"eog"}


def test_kv_exhaustion_in_one_run_never_ends_another_runs_sequences():
    script = two_prompt_script({2}, set(), eog_at=40)
    big = Settings(method="parallel", max_seqs=4, max_new_tokens=40)  # 2 + 160 cells > 100
    small = Settings(method="greedy", max_new_tokens=6)
    eng = engine(script, n_ctx=100)
    sched = Scheduler(eng)
    ra, rb = sched.add(A, big), sched.add(B, small)
    streams = per_run(sched.events())
    reasons_a = [q.finish_reason for q in streams[ra][-1].result.sequences]
    assert "context_full" in reasons_a  # the big run ran out within itself
    assert streams[rb] == solo(script, B, small, n_ctx=100)
    assert [q.finish_reason for q in streams[rb][-1].result.sequences] == ["length"]
    assert eng.used_cells == 0


def test_a_long_prompt_is_prefilled_in_chunks_between_decode_steps():
    script = two_prompt_script(set(), set(), eog_at=30)
    eng = engine(script, n_batch=8)
    batches = []
    real = eng.decode

    def decode(seqs, toks, poss, want):
        batches.append(len(toks))
        return real(seqs, toks, poss, want)

    eng.decode = decode
    sched = Scheduler(eng)
    s = Settings(method="greedy", max_new_tokens=25)
    sched.add(A, s)
    events = []
    for rid, ev in sched.events():
        events.append((rid, ev))
        if rid == 0 and isinstance(ev, StepFinished) and ev.step == 2:
            sched.add("x" * 30, s)  # 31 prompt tokens: four chunks of at most 8 rows
    assert max(batches) <= 8
    # run 0 kept decoding while run 1's prompt went in: its steps interleave with the chunks
    steps_of_0 = [i for i, (rid, ev) in enumerate(events) if rid == 0 and isinstance(ev, StepFinished)]
    start_1 = next(i for i, (rid, ev) in enumerate(events) if rid == 1 and isinstance(ev, RunStarted))
    first_1 = next(i for i, (rid, ev) in enumerate(events) if rid == 1 and isinstance(ev, TokenSampled))
    assert sum(start_1 < i < first_1 for i in steps_of_0) >= 3
    assert per_run(events)[1] == solo(script, "x" * 30, s, n_batch=8)


def test_rows_beyond_n_batch_are_decoded_in_chunks():
    script = two_prompt_script({1}, {2})
    s = Settings(method="parallel", max_seqs=6, max_new_tokens=8)
    eng = engine(script, n_batch=8)
    sched = Scheduler(eng)
    sched.add(A, s)
    sched.add(B, s.with_(seed=3))
    streams = per_run(sched.events())
    assert streams[0] == solo(script, A, s, n_batch=8)
    assert streams[1] == solo(script, B, s.with_(seed=3), n_batch=8)


def test_continuing_a_tree_is_scheduled_beside_a_fresh_run():
    script = two_prompt_script({1, 3, 5}, {2})
    first = [ev for ev in generate(engine(script), A, S.with_(max_seqs=2))][-1].result
    more = S.with_(max_seqs=4, seed=5)
    sched = Scheduler(engine(script))
    sched.add(A, more, resume=first)
    sched.add(B, S)
    streams = per_run(sched.events())
    expected = [comparable(ev) for ev in generate(engine(script), A, more, resume=first)]
    assert streams[0] == expected
    assert streams[0][-1].result.stats.n_sequences == 4
    assert streams[1] == solo(script, B, S)


def test_a_fork_by_hand_is_scheduled_beside_a_fresh_run():
    """A fork by hand is a run like any other: a continuation whose start is
    manual_fork's; beside a fresh run its stream is the one fork_by_hand yields alone."""
    from eager_local.decoding.controller import fork_by_hand
    from eager_local.decoding.manual_fork import manual_settings, manual_start

    script = two_prompt_script({1, 3}, {2})
    first = [ev for ev in generate(engine(script), A, S.with_(max_seqs=2))][-1].result
    token = next(t for t in (7, 8, 9) if t != first.sequences[0].tokens[4])
    sched = Scheduler(engine(script))
    sched.add(A, manual_settings(first), resume=first, start_from=manual_start(0, 4, token))
    sched.add(B, S)
    streams = per_run(sched.events())
    expected = [comparable(ev) for ev in fork_by_hand(engine(script), first, 0, 4, token)]
    assert streams[0] == expected
    r = streams[0][-1].result
    assert r.stats.n_sequences == 3 and r.forks[-1].manual and r.sequences[-1].tokens[4] == token
    assert streams[1] == solo(script, B, S)


def test_bad_input_is_refused_when_added():
    sched = Scheduler(engine(two_prompt_script(set(), set())))
    with pytest.raises(Exception, match="prompt is empty"):
        sched.add("   ", S)
    with pytest.raises(Exception, match="max_seqs"):
        sched.add(A, Settings(max_seqs=0))
    assert not sched.waiting


def test_the_run_id_is_on_every_event_and_results_come_per_run():
    script = two_prompt_script({2}, {3})
    sched = Scheduler(engine(script))
    ids = [sched.add(p, S) for p in (A, B)]
    seen = {rid for rid, _ in sched.events()}
    assert seen == set(ids)
    assert np.all([isinstance(i, int) for i in ids])


@pytest.mark.parametrize("method", ["eager", "parallel", "greedy"])
def test_finished_sequences_report_once(method):
    script = two_prompt_script({2}, {3})
    sched = Scheduler(engine(script))
    for p in (A, B, A):
        sched.add(p, S.with_(method=method))
    streams = per_run(sched.events())
    for evs in streams.values():
        done = [e.seq for e in evs if isinstance(e, SequenceFinished)]
        assert sorted(done) == [q.id for q in evs[-1].result.sequences]


def test_the_runs_of_a_batch_share_its_time():
    """Each step's time is split among the runs in it: the runs' wall and decode times
    add up to at most the time of the whole batch, never to a multiple of it."""
    import time

    script = two_prompt_script({2}, {3}, eog_at=12)
    sched = Scheduler(engine(script))
    for i, p in enumerate([A, B, A, B]):
        sched.add(p, S.with_(seed=i))
    t0 = time.perf_counter()
    results = [ev.result for _, ev in sched.events() if isinstance(ev, RunFinished)]
    elapsed = time.perf_counter() - t0
    assert len(results) == 4
    assert 0 < sum(r.stats.wall_s for r in results) <= elapsed
    assert sum(r.stats.decode_s for r in results) <= sum(r.stats.wall_s for r in results)
    for r in results:
        assert 0 < r.stats.decode_s <= r.stats.wall_s


def without_decoded(events):
    """Events without the count of rows decoded and of prompt tokens copied (a shared
    prompt prefix is copied, not decoded)."""
    out = []
    for ev in events:
        if isinstance(ev, StepFinished):
            ev = replace(ev, decoded_tokens=0)
        if isinstance(ev, RunFinished):
            ev = replace(ev, result=replace(ev.result, stats=replace(ev.result.stats, decoded_tokens=0,
                                                                    cached_prompt_tokens=0)))
        out.append(ev)
    return out


def test_a_shared_prompt_prefix_is_copied_not_decoded_again():
    """Prompts that begin alike (an evaluation's few-shot exemplars): a run admitted
    while another holds the prefix copies its cells and decodes only the rest; its
    events are still those of its solo run, and every cell is given back."""
    script = hashed_script(V)
    exemplars = "q: one plus one? a: two. q: two plus two? a: four. "  # 51 bytes: 52 tokens with BOS
    prompts = [exemplars + q for q in ("q: three?", "q: four plus one?", "q: six", "q: ten minus two?")]
    settings = [Settings(method=m, theta=1.0, max_seqs=4, max_new_tokens=10, seed=i)
                for i, m in enumerate(("eager", "parallel", "greedy", "eager"))]
    eng = engine(script)
    sched = Scheduler(eng)
    ids = [sched.add(p, s) for p, s in zip(prompts, settings)]
    streams = per_run(sched.events())
    for rid, p, s in zip(ids, prompts, settings):
        assert without_decoded(streams[rid]) == without_decoded(solo(script, p, s))
    decoded = {rid: streams[rid][-1].result.stats.decoded_tokens for rid in ids}
    alone = {rid: solo(script, p, s)[-1].result.stats.decoded_tokens for rid, p, s in zip(ids, prompts, settings)}
    toks = [eng.prompt_tokens(p) for p in prompts]

    def common(a, b):
        return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))

    assert decoded[ids[0]] == alone[ids[0]]  # the first run decodes its whole prompt
    for k in range(1, len(ids)):  # the others copy the longest prefix an earlier prompt shares
        copied = max(common(toks[k], toks[j]) for j in range(k))
        assert copied >= 55  # the exemplars (52 tokens with BOS) and "q: "
        assert decoded[ids[k]] == alone[ids[k]] - copied
    assert eng.used_cells == 0


def test_prefix_sharing_can_be_switched_off():
    script = hashed_script(V)
    prompts = ["the same long beginning of two prompts, " + x for x in ("a", "b")]
    s = Settings(method="greedy", max_new_tokens=5)
    for share, copied in ((True, 41), (False, 0)):  # 40 bytes and BOS
        sched = Scheduler(engine(script), share_prefixes=share)
        ids = [sched.add(p, s) for p in prompts]
        streams = per_run(sched.events())
        d = [streams[i][-1].result.stats.decoded_tokens for i in ids]
        assert d[0] - d[1] == copied


def test_a_library_program_handles_its_own_ctrl_c():
    """startup.check raises a swallowed Ctrl-C again only in the ``eager`` command: a
    program using eager-local as a library, which caught a KeyboardInterrupt and goes
    on, is not interrupted at its next step."""
    from eager_local import startup

    assert not startup._armed  # pytest never runs the command's start-up
    startup._raised.set()
    try:
        sched = Scheduler(engine(hashed_script(V)))
        sched.add(A, Settings(method="greedy", max_new_tokens=3))
        assert isinstance(list(sched.events())[-1][1], RunFinished)
    finally:
        startup._raised.clear()
