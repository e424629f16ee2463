"""EAGer-init, parallel and greedy against a scripted fake engine."""

import numpy as np
import pytest

from eager_local.decoding.continuation import missed_forks
from eager_local.decoding.controller import collect, generate
from eager_local.engine.fake import FakeEngine, flat, hashed_script, peaked
from eager_local.events import Forked, RunFinished, SequenceFinished, TokenSampled
from eager_local.settings import Settings

V = 32
PROMPT = "hi"  # fake tokenizer: BOS + 2 bytes = 3 tokens


def script_by_step(high_steps, eog_at=None, width=4):
    """Entropy ln(width) at generated indices in high_steps, ~0 elsewhere; EOG at eog_at."""
    P = 3

    def script(history):
        i = len(history) - P  # index of the token about to be generated
        if eog_at is not None and i >= eog_at:
            return peaked(V, 1)
        if i in high_steps:
            return flat(V, range(10, 10 + width))
        return peaked(V, 5 + (i % 3))

    return script


def run(engine, **kw):
    events = list(generate(engine, PROMPT, Settings(**kw)))
    return events, events[-1].result


def test_branch_exactly_at_high_entropy_step():
    e = FakeEngine(script_by_step({3}, eog_at=8), vocab=V)
    events, r = run(e, theta=1.0, max_seqs=8, max_new_tokens=20)
    br = [ev for ev in events if isinstance(ev, Forked)]
    assert [(b.parent, b.child, b.pos) for b in br] == [(0, 1, 3)]
    assert r.stats.n_sequences == 2
    assert br[0].entropy == pytest.approx(np.log(4), abs=1e-6)
    # parent takes the most likely, child the second (ties: lowest id first)
    s0, s1 = r.sequences
    assert s0.tokens[3] == br[0].parent_token and s1.tokens[3] == br[0].child_token
    assert s0.tokens[3] != s1.tokens[3]
    assert s1.parent == 0 and s1.fork_pos == 3 and s1.tokens[:3] == s0.tokens[:3]
    assert {s.finish_reason for s in r.sequences} == {"eog"}


def test_every_sequence_branches_at_a_shared_high_step():
    # index 2 and 5 are uncertain for everyone: 1 → 2 at index 2, then 2 → 4 at index 5
    e = FakeEngine(script_by_step({2, 5}, eog_at=9), vocab=V)
    _, r = run(e, theta=1.0, max_seqs=8, max_new_tokens=20)
    assert r.stats.n_sequences == 4
    assert sorted((b.parent, b.child, b.pos) for b in r.forks) == [(0, 1, 2), (0, 2, 5), (1, 3, 5)]


def test_cap_counts_every_created_sequence():
    e = FakeEngine(script_by_step({1, 2, 3, 4, 5}, eog_at=9), vocab=V)
    _, r = run(e, theta=1.0, max_seqs=5, max_new_tokens=20)
    assert r.stats.n_sequences == 5
    assert len(r.forks) == 4


def test_below_threshold_never_branches():
    e = FakeEngine(script_by_step({3}, eog_at=8), vocab=V)
    _, r = run(e, theta=np.log(4) + 0.01, max_seqs=8, max_new_tokens=20)
    assert r.stats.n_sequences == 1 and not r.forks


def test_threshold_is_inclusive():
    e = FakeEngine(script_by_step({3}, eog_at=8, width=2), vocab=V)
    h = float(np.log(2))
    _, r = run(e, theta=h - 1e-9, max_seqs=8, max_new_tokens=20)
    assert r.stats.n_sequences == 2


def test_monitoring_halt_after_window():
    e = FakeEngine(script_by_step({2, 12}, eog_at=15), vocab=V)
    _, r = run(e, theta=1.0, max_seqs=8, max_new_tokens=20, monitor_window=6)
    # index 2 branches (2 < 6); at index 12 both are 10 tokens past their last branch
    assert [(b.parent, b.pos) for b in r.forks] == [(0, 2)]


def test_parallel_shares_the_prompt_and_samples_m():
    e = FakeEngine(hashed_script(V, 1.0), vocab=V)
    _, r = run(e, method="parallel", max_seqs=6, max_new_tokens=10)
    assert r.stats.n_sequences == 6 and not r.forks
    assert all(s.parent is None and s.fork_pos == 0 for s in r.sequences)
    gen = sum(len(s.tokens) for s in r.sequences)
    assert r.stats.generated_tokens == gen
    # the prompt is decoded once, not six times
    assert r.stats.decoded_tokens == 3 + gen - sum(1 for s in r.sequences)
    assert e.used_cells == 0  # engine cleared


def test_greedy_is_argmax():
    e = FakeEngine(hashed_script(V), vocab=V)
    _, r = run(e, method="greedy", max_new_tokens=12)
    (s,) = r.sequences
    hist = list(e.tokenize(PROMPT))
    for t in s.tokens:
        assert t == int(np.argmax(hashed_script(V)(tuple(hist))))
        hist.append(t)


def test_generated_tokens_count_shared_prefix_once():
    e = FakeEngine(hashed_script(V, 1.0), vocab=V)
    _, r = run(e, theta=0.8, max_seqs=8, max_new_tokens=16, seed=3)
    assert r.stats.n_sequences > 1
    assert r.stats.generated_tokens == sum(len(s.tokens) - s.fork_pos for s in r.sequences)
    for s in r.sequences[1:]:
        parent = r.sequences[s.parent]
        assert s.tokens[: s.fork_pos] == parent.tokens[: s.fork_pos]


def test_kv_accounting_matches_the_simulated_cache():
    """peak_kv_cells equals the fake engine's real count of occupied cells."""
    e = FakeEngine(hashed_script(V, 1.0), vocab=V)
    peak = 0
    orig = e.decode

    def spy(*a):
        nonlocal peak
        out = orig(*a)
        peak = max(peak, e.used_cells)
        return out

    e.decode = spy
    _, r = run(e, theta=0.8, max_seqs=12, max_new_tokens=24, seed=5)
    assert r.stats.n_sequences > 3
    assert r.stats.peak_kv_cells == peak


def test_same_seed_same_sequences_other_seed_differs():
    mk = lambda: FakeEngine(hashed_script(V, 1.0), vocab=V)
    _, a = run(mk(), theta=0.8, max_seqs=8, max_new_tokens=16, seed=11)
    _, b = run(mk(), theta=0.8, max_seqs=8, max_new_tokens=16, seed=11)
    _, c = run(mk(), method="parallel", max_seqs=8, max_new_tokens=16, seed=12)
    _, d = run(mk(), method="parallel", max_seqs=8, max_new_tokens=16, seed=13)
    assert [s.tokens for s in a.sequences] == [s.tokens for s in b.sequences]
    assert [s.tokens for s in c.sequences] != [s.tokens for s in d.sequences]


def test_stop_string_cuts_text_and_finishes():
    pieces = {5: b"ab", 6: b"c\n", 7: b"Q:"}
    e = FakeEngine(lambda h: peaked(V, 5 + (len(h) % 3)), vocab=V, pieces=pieces)
    _, r = run(e, method="greedy", max_new_tokens=20, stop=("\nQ:",))
    (s,) = r.sequences
    assert s.finish_reason == "stop"
    assert "Q:" not in s.text and s.text.endswith("c")


def test_length_finish():
    e = FakeEngine(lambda h: peaked(V, 5), vocab=V)
    _, r = run(e, method="greedy", max_new_tokens=7)
    assert r.sequences[0].finish_reason == "length" and len(r.sequences[0].tokens) == 7


def test_context_full_ends_sequences_and_engine_stays_usable():
    e = FakeEngine(hashed_script(V, 1.0), vocab=V, n_ctx=40, eog=())
    events, r = run(e, method="parallel", max_seqs=4, max_new_tokens=30)
    reasons = [s.finish_reason for s in r.sequences]
    assert "context_full" in reasons
    assert r.stats.peak_kv_cells <= 40
    assert e.used_cells == 0
    _, again = run(e, method="greedy", max_new_tokens=5)
    assert again.sequences[0].finish_reason == "length"


def test_cancel_stops_all_live_sequences():
    import threading

    stop = threading.Event()
    e = FakeEngine(lambda h: peaked(V, 5), vocab=V)
    gen = generate(e, PROMPT, Settings(method="parallel", max_seqs=3, max_new_tokens=100), cancel=stop)
    seen = []
    for ev in gen:
        seen.append(ev)
        if isinstance(ev, TokenSampled) and ev.index == 4:
            stop.set()
    fin = [ev for ev in seen if isinstance(ev, SequenceFinished)]
    assert len(fin) == 3 and {f.reason for f in fin} == {"cancelled"}
    assert isinstance(seen[-1], RunFinished)
    assert e.used_cells == 0


def test_resume_continues_at_missed_forks():
    e = FakeEngine(script_by_step({2, 4, 6}, eog_at=10), vocab=V)
    _, first = run(e, theta=1.0, max_seqs=2, max_new_tokens=20)
    assert first.stats.n_sequences == 2
    missed = missed_forks(first, 1.0)
    assert missed[0] == (0, 4) and (1, 4) in missed
    events = list(generate(e, PROMPT, Settings(theta=1.0, max_seqs=6, max_new_tokens=20), resume=first))
    r = events[-1].result
    assert r.stats.n_sequences == 6
    assert r.sequences[:2] == first.sequences
    for s in r.sequences[2:]:
        parent = r.sequences[s.parent]
        assert s.tokens[: s.fork_pos] == parent.tokens[: s.fork_pos]
        assert s.tokens[s.fork_pos] != parent.tokens[s.fork_pos]
        assert s.finish_reason == "eog"
    assert r.stats.decoded_tokens > first.stats.decoded_tokens
    assert e.used_cells == 0


@pytest.mark.parametrize("first_records", [True, False])
def test_resume_with_candidates_recorded_writes_json(first_records):
    """Children of missed forks never hold placeholder candidates: the document is written
    (whether or not the first run recorded them) and read back."""
    from eager_local.result import RunResult

    e = FakeEngine(script_by_step({2, 4, 6}, eog_at=10), vocab=V)
    _, first = run(e, theta=1.0, max_seqs=2, max_new_tokens=20, record_candidates=3 if first_records else 0)
    s = Settings(theta=1.0, max_seqs=6, max_new_tokens=20, record_candidates=3)
    r = collect(generate(e, PROMPT, s, resume=first))
    assert r.stats.n_sequences == 6
    doc = r.to_json()
    back = RunResult.from_json(doc)
    for rec in back.sequences:
        if first_records:
            assert rec.candidates is not None and len(rec.candidates) == len(rec.tokens)
            assert all(c is not None for c in rec.candidates)
        elif rec.candidates is not None:  # none before the fork were recorded: no half list
            assert len(rec.candidates) == len(rec.tokens)
    if first_records:
        assert r.sequences[:2] == first.sequences  # kept whole, candidates included
        for rec in back.sequences[2:]:
            parent = back.sequences[rec.parent]
            assert rec.candidates[: rec.fork_pos + 1] == parent.candidates[: rec.fork_pos + 1]
