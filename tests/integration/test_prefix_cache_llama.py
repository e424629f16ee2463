"""The prefix cache on the real llama.cpp engine (tiny GGUF): llama.cpp's used cells are
the scheduler's count at every step with cached prefixes present, and cached prefixes
give way to a run that needs the whole context."""

import pytest
from kv_probe import free_cells, run_checking_kv

from eager_local import load
from eager_local.decoding import prefix_cache
from eager_local.decoding.scheduler import Scheduler
from eager_local.engine.llama import LlamaEngine
from eager_local.events import SequenceFinished
from eager_local.settings import Settings

BASE = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen "


@pytest.fixture()
def engine(tiny_gguf):
    e = LlamaEngine(tiny_gguf, n_ctx=256, n_threads=2)
    prefix_cache.attach(e)
    yield e
    e.close()


def test_cells_match_llama_cpp_with_cached_prefixes_and_later_runs_copy_them(engine):
    settings = [Settings(method="greedy", max_new_tokens=4),
                Settings(method="eager", theta=0.5, max_seqs=3, max_new_tokens=12, seed=2, temperature=1.0),
                Settings(method="parallel", max_seqs=2, max_new_tokens=12, seed=3)]
    cached = []
    for round_ in range(3):
        sched = Scheduler(engine)
        for q, s in zip(("the cat", "a dog ran home", "one two three"), settings):
            sched.add(BASE + q, s)
        checked, _, results = run_checking_kv(sched, engine, range(1, 30))
        assert checked >= 10, f"round {round_}: {checked} checks"
        used, counted = engine.n_ctx - free_cells(engine), sched.kv_cells()
        assert used == counted > 0, f"round {round_}: llama.cpp holds {used}, the scheduler counts {counted}"
        cached.append(sum(r.stats.cached_prompt_tokens for r in results.values()))
    n_base = len(engine.prompt_tokens(BASE))
    assert cached[0] >= 2 * (n_base - 2), cached  # sharing among the first round's runs
    assert cached[1] >= 3 * n_base, cached  # every later prompt finds its own earlier one


def test_cached_prefixes_give_way_to_a_run_that_needs_the_whole_context(engine):
    sched = Scheduler(engine)
    for i in range(3):
        sched.add(BASE + f"round {i}", Settings(method="parallel", max_seqs=2, max_new_tokens=20, seed=i))
    run_checking_kv(sched, engine, range(1, 30))
    assert prefix_cache.of(engine).entries
    big = Settings(method="greedy", max_new_tokens=256 - len(engine.prompt_tokens("x y")) - 1)
    sched = Scheduler(engine)
    sched.add("x y", big)
    events = [ev for _, ev in sched.events()]
    reasons = {ev.reason for ev in events if isinstance(ev, SequenceFinished)}
    assert "context_full" not in reasons
    assert engine.n_ctx - free_cells(engine) == sched.kv_cells()


def test_model_run_twice_decodes_the_prompt_once_and_the_cache_can_be_turned_off(tiny_gguf):
    prompt = BASE * 3
    for on in (True, False):
        model = load(str(tiny_gguf), n_ctx=512, n_threads=2, hash_file=False, prefix_cache=on)
        try:
            first = model.run(prompt, method="greedy", max_new_tokens=3)
            again = model.run(prompt, method="greedy", max_new_tokens=3)
        finally:
            model.close()
        n = first.stats.prompt_tokens
        assert first.stats.cached_prompt_tokens == 0
        assert again.stats.cached_prompt_tokens == (n - 1 if on else 0)
        assert again.stats.decoded_tokens == first.stats.decoded_tokens - again.stats.cached_prompt_tokens
