"""The real llama.cpp engine on the tiny GGUF: forks, batches and KV accounting."""

import numpy as np
import pytest
from kv_probe import free_cells, run_checking_kv

from eager_local.decoding.controller import generate
from eager_local.engine.llama import LlamaEngine
from eager_local.events import RunFinished, StepFinished
from eager_local.settings import Settings


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    e = LlamaEngine(tiny_gguf, n_ctx=512, n_threads=2)
    yield e
    e.close()


def test_context_is_built_as_asked(engine):
    assert engine.n_ctx == 512
    assert engine.n_seq_max == 256
    assert engine.n_batch == 512
    assert engine.n_vocab == 289


def test_a_forked_sequence_continues_exactly_like_a_fresh_one(engine):
    """seq_cp shares the prefix: the child's logits equal a from-scratch decode."""
    prompt = engine.tokenize("the cat is on the mat")
    n = len(prompt)
    engine.clear()
    engine.decode([0] * n, prompt, list(range(n)), [False] * n)
    engine.copy_seq(0, 1, n)
    forked = engine.decode([0, 1], [20, 30], [n, n], [True, True]).copy()
    engine.clear()
    engine.decode([3] * n, prompt, list(range(n)), [False] * n)
    scratch = engine.decode([3], [30], [n], [True]).copy()
    engine.clear()
    np.testing.assert_allclose(forked[1], scratch[0], rtol=1e-3, atol=1e-3)
    assert not np.allclose(forked[0], forked[1])  # the two branches really differ


@pytest.mark.parametrize("method", ["eager", "parallel"])
def test_kv_accounting_matches_llama_cpp(engine, method):
    """Mid-run, the controller's count of KV cells in use is what llama.cpp holds."""
    s = Settings(method=method, theta=0.5, max_seqs=6, max_new_tokens=24, seed=2, temperature=1.0)
    checked = 0
    peak_seen = 0
    for ev in generate(engine, "the cat", s):
        if isinstance(ev, StepFinished) and ev.step in (3, 9, 15):
            used = engine.n_ctx - free_cells(engine)
            assert used == ev.kv_cells, f"step {ev.step}"
            checked += 1
        if isinstance(ev, StepFinished):
            peak_seen = max(peak_seen, ev.kv_cells)
        if isinstance(ev, RunFinished):
            result = ev.result
    assert checked >= 2
    assert result.stats.peak_kv_cells >= peak_seen
    assert free_cells(engine) == engine.n_ctx  # cleared after the run


def test_branches_share_cells_instead_of_copying(engine):
    s = Settings(theta=0.3, max_seqs=8, max_new_tokens=20, seed=4, temperature=1.0)
    r = [ev for ev in generate(engine, "one two three four five six", s)][-1].result
    assert r.stats.n_sequences > 2
    full_copies = r.stats.n_sequences * r.stats.prompt_tokens
    assert r.stats.peak_kv_cells <= r.stats.prompt_tokens + r.stats.generated_tokens
    assert r.stats.peak_kv_cells < full_copies + r.stats.generated_tokens


def test_kv_accounting_matches_llama_cpp_with_three_concurrent_runs(engine):
    """Three runs share the cache: at every step the scheduler's count of cells in use
    (each run's tree, or its prompt so far) is what llama.cpp holds."""
    from eager_local.decoding.scheduler import Scheduler

    sched = Scheduler(engine)
    sched.add("the cat", Settings(method="eager", theta=0.5, max_seqs=4, max_new_tokens=16,
                                  seed=2, temperature=1.0))
    sched.add("a dog ran home", Settings(method="parallel", max_seqs=3, max_new_tokens=16, seed=3))
    sched.add("one two three", Settings(method="greedy", max_new_tokens=16))
    checked, together, results = run_checking_kv(sched, engine, (2, 6, 11))
    assert checked >= 6 and together == 3
    assert sorted(results) == [0, 1, 2]
    assert results[1].stats.n_sequences == 3 and results[2].stats.n_sequences == 1
    assert free_cells(engine) == engine.n_ctx  # every run left the cache empty


def test_kv_accounting_matches_llama_cpp_when_runs_share_a_prompt_prefix(engine):
    """Three prompts that begin alike: the later two copy the first one's prefix cells.
    At every step the scheduler counts the shared cells once, as llama.cpp holds them,
    also after the run that decoded them has finished (its copies keep them)."""
    from eager_local.decoding.prefix import MIN_SHARED_PREFIX
    from eager_local.decoding.scheduler import Scheduler

    base = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
    prompts = [base + "the cat", base + "a dog ran home", base + "one two three"]
    settings = [Settings(method="greedy", max_new_tokens=4),  # finishes first: the donor leaves
                Settings(method="eager", theta=0.5, max_seqs=3, max_new_tokens=16, seed=2, temperature=1.0),
                Settings(method="parallel", max_seqs=2, max_new_tokens=16, seed=3)]  # all fit in 512 cells
    totals = {}
    for share in (True, False):
        sched = Scheduler(engine, share_prefixes=share)
        for p, s in zip(prompts, settings):
            sched.add(p, s)
        checked, together, results = run_checking_kv(sched, engine, range(1, 30))
        assert checked >= 15 and together == 3
        assert free_cells(engine) == engine.n_ctx  # every run left the cache empty
        totals[share] = sum(r.stats.decoded_tokens for r in results.values())
    shared = len(engine.prompt_tokens(base))
    assert shared > MIN_SHARED_PREFIX
    assert totals[False] - totals[True] >= 2 * (shared - 2)  # two runs copied the prefix
