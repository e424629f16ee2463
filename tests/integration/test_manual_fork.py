"""A fork by hand on the real llama.cpp (tiny GGUF): the new sequence shares the prefix,
takes the chosen token, is marked manual, and the KV accounting matches llama.cpp."""

import pytest
from kv_probe import free_cells, run_checking_kv

from eager_local.decoding.controller import collect, fork_by_hand, generate
from eager_local.engine.llama import LlamaEngine
from eager_local.errors import SettingsError
from eager_local.events import RunFinished, StepFinished
from eager_local.result import RunResult
from eager_local.settings import Settings


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    e = LlamaEngine(tiny_gguf, n_ctx=192, n_threads=1)
    yield e
    e.close()


@pytest.mark.parametrize("seq_of, pos", [("root", 5), ("child", "own"), ("child", "shared")])
def test_manual_fork_shares_the_prefix_and_its_kv_is_accounted(engine, seq_of, pos):
    s = Settings(method="eager", theta=0.6, max_seqs=3, max_new_tokens=24, seed=2, temperature=1.0)
    first = collect(generate(engine, "the cat", s))
    child = next(q for q in first.sequences if q.parent is not None)
    seq = 0 if seq_of == "root" else child.id
    at = {"own": child.fork_pos + 2, "shared": max(child.fork_pos - 2, 0)}.get(pos, pos)
    q = first.sequences[seq]
    token = next(t for t in (7, 8, 9) if t != q.tokens[at])
    checked, result = 0, None
    for ev in fork_by_hand(engine, first, seq, at, token):
        if isinstance(ev, StepFinished) and ev.step == 2:
            assert engine.n_ctx - free_cells(engine) == ev.kv_cells, f"step {ev.step}"
            checked += 1
        if isinstance(ev, RunFinished):
            result = ev.result
    assert checked >= 1
    assert free_cells(engine) == engine.n_ctx  # cleared after the run
    assert len(result.sequences) == len(first.sequences) + 1
    assert result.sequences[: len(first.sequences)] == first.sequences  # the others untouched
    new = result.sequences[-1]
    f = result.forks[-1]
    assert f.manual and f.child == new.id and f.pos == at and f.child_token == token
    assert new.fork_pos == at and new.tokens[:at] == q.tokens[:at] and new.tokens[at] == token
    assert new.finish_reason in ("eog", "length", "stop")
    doc = result.to_json()
    assert doc["branches"][-1]["manual"] is True and "manual" not in doc["branches"][0]
    assert RunResult.from_json(doc).forks[-1].manual


def test_forking_on_the_token_taken_is_refused(engine):
    s = Settings(method="eager", theta=9.0, max_seqs=2, max_new_tokens=8, seed=1)
    first = collect(generate(engine, "the cat", s))
    with pytest.raises(SettingsError, match="already took"):
        collect(fork_by_hand(engine, first, 0, 3, first.sequences[0].tokens[3]))
    with pytest.raises(SettingsError, match="no token 99"):
        collect(fork_by_hand(engine, first, 0, 99, 5))
    assert free_cells(engine) == engine.n_ctx


def test_manual_fork_on_backend_sampling_matches_full_rows(tiny_gguf):
    """The fork's decode takes llama.cpp's backend top-N (``sampling.Candidates``) as it
    takes full rows: greedy after the fork, both engines write the same new sequence."""
    from eager_local.engine.llama import backend_sampling_available

    if not backend_sampling_available():
        pytest.skip("this llama.cpp build has no backend sampling")
    s = Settings(method="greedy", max_new_tokens=12, record_candidates=4)
    new = {}
    for mode in ("backend", "host"):
        e = LlamaEngine(tiny_gguf, n_ctx=192, n_threads=1, sampling=mode, top_n=32)
        try:
            assert e.sampling == mode
            first = collect(generate(e, "the cat", s))
            token = next(t for t in (7, 8, 9) if t != first.sequences[0].tokens[3])
            result = collect(fork_by_hand(e, first, 0, 3, token))
        finally:
            e.close()
        assert result.forks[-1].manual and RunResult.from_json(result.to_json()).forks[-1].manual
        new[mode] = result.sequences[-1]
    assert new["backend"].tokens == new["host"].tokens and new["backend"].tokens[3] in (7, 8, 9)
    assert [c[0][0] for c in new["backend"].candidates[4:]] == list(new["backend"].tokens[4:])


def test_a_fork_by_hand_shares_a_batch_and_the_kv_count_holds(engine):
    """A fork by hand decoded in one batch with a fresh run: at every checked step the
    scheduler's count of cells in use is what llama.cpp holds; the cache is empty after."""
    from eager_local.decoding.manual_fork import manual_settings, manual_start
    from eager_local.decoding.scheduler import Scheduler

    s = Settings(method="eager", theta=0.6, max_seqs=3, max_new_tokens=24, seed=2, temperature=1.0)
    first = collect(generate(engine, "the cat", s))
    token = next(t for t in (7, 8, 9) if t != first.sequences[0].tokens[4])
    sched = Scheduler(engine)
    sched.add(first.prompt, manual_settings(first), resume=first, start_from=manual_start(0, 4, token))
    sched.add("a dog ran home", Settings(method="parallel", max_seqs=2, max_new_tokens=16, seed=3))
    checked, together, results = run_checking_kv(sched, engine, (2, 5))
    assert checked >= 2 and together == 2
    assert results[0].forks[-1].manual and results[0].sequences[-1].tokens[4] == token
    assert results[1].stats.n_sequences == 2
    assert free_cells(engine) == engine.n_ctx
