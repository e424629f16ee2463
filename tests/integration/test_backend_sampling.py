"""llama.cpp's backend sampling on the CPU backend (tiny GGUF) against the full-logits path.

The backend engine hands back the N best logits of each row (``Candidates``);
the host engine the full rows. Both decode the same rows, so the candidates,
entropies and top two must be the same; the fallback is forced by hiding the
API from llama_cpp.
"""

from __future__ import annotations

import llama_cpp
import numpy as np
import pytest

from eager_local.decoding import sampling
from eager_local.decoding.controller import collect
from eager_local.engine import native
from eager_local.engine.llama import LlamaEngine
from eager_local.errors import ContextError, SettingsError
from eager_local.settings import Settings

N = 32


@pytest.fixture(scope="module")
def pair(tiny_gguf):
    backend = LlamaEngine(tiny_gguf, n_ctx=512, n_seq_max=16, n_threads=1, sampling="backend", top_n=N)
    host = LlamaEngine(tiny_gguf, n_ctx=512, n_seq_max=16, n_threads=1, sampling="host")
    yield backend, host
    backend.close()
    host.close()


def same_rows(engine, prompt):
    """The prompt once, forked to 6 sequences, then one different token each: 6 rows."""
    engine.clear()
    n = len(prompt)
    engine.decode([0] * n, prompt, list(range(n)), [False] * n)
    for s in range(1, 6):
        engine.copy_seq(0, s, n)
    out = engine.decode(list(range(6)), [20, 30, 40, 50, 60, 288], [n] * 6, [True] * 6)
    out = out.copy()
    engine.clear()
    return out


def test_the_backend_is_used_and_returns_candidates(pair):
    backend, host = pair
    assert backend.sampling == "backend" and backend.top_n == N
    assert host.sampling == "host" and host.top_n == 0
    c = same_rows(backend, backend.tokenize("the cat is on the mat"))
    assert isinstance(c, sampling.Candidates) and c.shape == (6, N)


@pytest.mark.parametrize("tau", [0.6, 1.0, 1.2])
def test_candidates_entropies_and_top_two_equal_the_full_logits(pair, tau):
    backend, host = pair
    prompt = backend.tokenize("one two three four five six")
    c, x = same_rows(backend, prompt), same_rows(host, prompt)
    for i in range(6):  # the backend's candidates are the row's best N, with the same logits
        best = np.lexsort((np.arange(x.shape[1]), -x[i]))[:N]
        assert np.array_equal(c.ids[i], best)
        np.testing.assert_array_equal(c.logits[i], x[i][best])
    for k in (2, 20, N):
        dc = sampling.distributions(c, tau, k, top_p=0.95)
        dx = sampling.distributions(x, tau, k, top_p=0.95)
        for i, (a, b) in enumerate(zip(dc, dx)):
            assert a.entropy == pytest.approx(b.entropy, abs=1e-12)
            assert a.entropy == pytest.approx(sampling.topk_entropy(x[i], tau, k), abs=1e-9)
            assert sampling.top_two(a, c[i]) == sampling.top_two(b, x[i])
            if a.exact:  # the nucleus is proved inside the candidates: the same draws
                for seed in range(5):
                    assert sampling.sample_top_p(a, 0.95, np.random.default_rng(seed)) == \
                        sampling.sample_top_p(b, 0.95, np.random.default_rng(seed))


def test_a_run_on_backend_sampling_is_reproducible(pair):
    backend, _ = pair
    s = Settings(method="eager", theta=0.5, max_seqs=6, max_new_tokens=16, seed=3, temperature=1.0)
    a = collect(backend_run(backend, s))
    b = collect(backend_run(backend, s))
    assert a.stats.n_sequences > 1
    assert [q.tokens for q in a.sequences] == [q.tokens for q in b.sequences]
    assert [q.entropies for q in a.sequences] == [q.entropies for q in b.sequences]


def test_parallel_and_greedy_runs_on_backend_sampling(pair):
    backend, _ = pair
    par = collect(backend_run(backend, Settings(method="parallel", max_seqs=5, max_new_tokens=8, seed=1)))
    assert par.stats.n_sequences == 5 and all(len(q.tokens) >= 1 for q in par.sequences)
    greedy = collect(backend_run(backend, Settings(method="greedy", max_new_tokens=8)))
    assert greedy.sequences[0].tokens


def backend_run(engine, s):
    from eager_local.decoding.controller import generate

    return generate(engine, "the cat", s)


def test_backend_refuses_two_outputs_of_one_sequence(pair):
    backend, _ = pair
    backend.clear()
    with pytest.raises(ValueError, match="one output row per sequence"):
        backend.decode([0, 0], [10, 11], [0, 1], [True, True])
    assert backend.decode([0, 0], [10, 11], [0, 1], [False, True]).shape == (1, N)
    backend.clear()


def test_without_backend_sampling_the_host_path_is_used(tiny_gguf, monkeypatch):
    """A llama-cpp-python without the API: auto falls back, backend is refused with a hint."""
    monkeypatch.delattr(llama_cpp, "llama_get_sampled_candidates_ith")
    assert not native.backend_sampling_available()
    e = LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, sampling="auto", top_n=N)
    try:
        assert e.sampling == "host"
        x = e.decode([0, 0, 0], [1, 10, 11], [0, 1, 2], [False, False, True])
        assert isinstance(x, np.ndarray) and x.shape == (1, e.n_vocab)
    finally:
        e.close()
    with pytest.raises(SettingsError, match='sampling="host"'):
        LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, sampling="backend", top_n=N)


def test_environment_forces_the_host_path(tiny_gguf, monkeypatch):
    monkeypatch.setenv("EAGER_LOCAL_SAMPLING", "host")
    with LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, top_n=N) as e:
        assert e.sampling == "host"
    monkeypatch.setenv("EAGER_LOCAL_SAMPLING", "backend")
    with LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, top_n=N) as e:
        assert e.sampling == "backend"
    with LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, top_n=1024) as e:
        assert e.sampling == "host"  # a wish, not an order: 1024 candidates of 289 tokens cannot be
    monkeypatch.setenv("EAGER_LOCAL_SAMPLING", "gpu")
    with pytest.raises(SettingsError, match="EAGER_LOCAL_SAMPLING"):
        LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, top_n=N)


def test_auto_keeps_the_host_path_on_the_cpu_and_for_small_vocabularies(tiny_gguf, monkeypatch):
    monkeypatch.delenv("EAGER_LOCAL_SAMPLING", raising=False)
    with LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1, top_n=N) as e:  # CPU: host
        assert e.sampling == "host"
    with LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=4, n_threads=1) as e:  # 289 tokens, top_n 1024
        assert e.sampling == "host"


def closes(monkeypatch):
    """Record every native close() in order."""
    order = []
    for cls in (native.NativeModel, native.SamplerChain, native.Context, native.Batch):
        orig = cls.close

        def spy(self, _orig=orig, _name=cls.__name__):
            if getattr(self, "ptr", None) or getattr(self, "_live", False):
                order.append(_name)
            _orig(self)

        monkeypatch.setattr(cls, "close", spy)
    return order


def test_close_frees_in_reverse_order(tiny_gguf, monkeypatch):
    order = closes(monkeypatch)
    e = LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=3, n_threads=1, sampling="backend", top_n=N)
    e.close()
    e.close()  # twice is harmless
    assert order == ["Batch", "Context", "SamplerChain", "SamplerChain", "SamplerChain", "NativeModel"]


def test_a_failure_half_way_frees_what_was_built(tiny_gguf, monkeypatch):
    order = closes(monkeypatch)

    def refuse(self, model, params, chains=()):
        raise ContextError("no context today")

    monkeypatch.setattr(native.Context, "__init__", refuse)
    with pytest.raises(ContextError, match="no context today"):
        LlamaEngine(tiny_gguf, n_ctx=256, n_seq_max=2, n_threads=1, sampling="backend", top_n=N)
    assert order == ["SamplerChain", "SamplerChain", "NativeModel"]
