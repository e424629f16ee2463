"""Online pruning on the real llama.cpp (tiny GGUF): a pruned sequence's cells go back,
and at every step the scheduler's count of cells in use is what llama.cpp holds."""

import pytest
from kv_probe import free_cells, run_checking_kv

from eager_local.decoding.scheduler import Scheduler
from eager_local.engine.llama import LlamaEngine
from eager_local.settings import Settings


@pytest.fixture(scope="module")
def engine(tiny_gguf):
    e = LlamaEngine(tiny_gguf, n_ctx=256, n_threads=1)
    yield e
    e.close()


def test_cells_in_use_equal_the_schedulers_count_after_prunes(engine):
    # a fixed threshold above ln K: every sequence after the warm-up is pruned once its
    # window of 4 tokens is full, while the others of its run and the other run go on
    prune = dict(prune="confidence", prune_window=4, prune_warmup=2, prune_threshold=5.0)
    sched = Scheduler(engine)
    sched.add("the cat", Settings(method="parallel", max_seqs=6, max_new_tokens=12, seed=3,
                                  temperature=1.0, **prune))
    sched.add("a dog ran home", Settings(method="eager", theta=0.5, max_seqs=6, max_new_tokens=12,
                                         seed=2, temperature=1.0, **prune))
    checked, together, results = run_checking_kv(sched, engine, (8, 13, 14))
    assert checked >= 3 and together == 2
    par = results[0]
    reasons = [q.finish_reason for q in par.sequences]
    assert reasons[:2] == ["length", "length"]  # the warm-up ran to T
    assert reasons[2:] == ["pruned"] * 4  # the rest, at their first full window
    assert all(len(q.tokens) == 4 for q in par.sequences[2:])
    assert par.stats.prune_threshold == 5.0
    assert free_cells(engine) == engine.n_ctx  # every pruned sequence's cells went back
