"""Sampling: the fast cuts give what the full reference gives.

``distributions(..., top_p=1.0)`` keeps every candidate (the reference cut);
with top_p < 1 a large vocabulary goes through the group bound, which lists
only the leading tokens. Both must agree on tokens, entropies and draws.
"""

import numpy as np
import pytest

from eager_local.decoding import sampling

V = 64 * 512  # large enough for the group bound


def rows(seed, n=12, vocab=V):
    """Logit rows from peaked to flat, like a model that is sure, unsure or lost."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, vocab)).astype(np.float32) * rng.uniform(0.5, 4.0, (n, 1))
    for i in range(n):
        hot = rng.choice(vocab, size=rng.integers(1, 6), replace=False)
        x[i, hot] += rng.uniform(0.0, 25.0, len(hot)).astype(np.float32)
    return x.astype(np.float32)


def agree(fast, full, row, tau, k, top_p, rtol=1e-5):
    # the reference drops tokens more than WINDOW_NATS below the best; a cut list may not
    n = min(len(fast.ids), len(full.ids))
    assert len(fast.ids) >= 2
    assert np.array_equal(fast.ids[:n], full.ids[:n])
    np.testing.assert_allclose(fast.probs[:n], full.probs[:n], rtol=rtol)
    assert fast.entropy == pytest.approx(full.entropy, abs=1e-9)
    assert fast.entropy == pytest.approx(sampling.topk_entropy(row, tau, k), abs=1e-5)
    for seed in range(20):
        a = sampling.sample_top_p(fast, top_p, np.random.default_rng(seed))
        b = sampling.sample_top_p(full, top_p, np.random.default_rng(seed))
        assert a == b


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tau,top_p", [(0.6, 0.95), (1.0, 0.9), (0.3, 0.5)])
def test_fast_cut_matches_reference(seed, tau, top_p):
    x = rows(seed)
    fast = sampling.distributions(x, tau, 20, top_p=top_p)
    full = sampling.distributions(x, tau, 20)
    assert all(d.cover == 1.0 for d in full)
    for f, r, row in zip(fast, full, x):
        agree(f, r, row, tau, 20, top_p)
    assert any(f.cover < 1.0 for f in fast)  # the fast path was taken
    # bounded probabilities: same draws, probabilities close
    for f, r, row in zip(sampling.distributions(x, tau, 20, top_p=top_p, exact_probs=False), full, x):
        agree(f, r, row, tau, 20, top_p, rtol=1e-2)


def test_group_bound_lists_only_certain_tokens():
    x = rows(7, n=8)
    for d, row in zip(sampling._grouped(x, 0.6, 20, 0.95, 20), x):
        if d is None:
            continue
        order = np.lexsort((np.arange(V), -row))  # full sort, ties by lower id
        assert np.array_equal(d.ids, order[: len(d.ids)])


def test_ties_take_the_lower_id_first():
    x = np.full((3, V), -5.0, dtype=np.float32)
    x[:, [900, 40, 7000, 41]] = 10.0  # four-way tie at the top
    x[1, 5] = 10.0
    fast = sampling.distributions(x, 0.6, 20, top_p=0.95)
    full = sampling.distributions(x, 0.6, 20)
    for f, r, row in zip(fast, full, x):
        agree(f, r, row, 0.6, 20, 0.95)
        assert list(f.ids[:2]) == sorted(np.flatnonzero(row == 10.0))[:2]


def test_flat_row_falls_back_and_still_agrees():
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, V)) * 0.05).astype(np.float32)  # nucleus of thousands
    fast = sampling.distributions(x, 0.6, 20, top_p=0.95)
    full = sampling.distributions(x, 0.6, 20)
    for f, r, row in zip(fast, full, x):
        # beyond the groups: the exact nucleus lists the cut, not the whole window
        assert f.cover == 0.95 and len(f.ids) < len(r.ids)
        agree(f, r, row, 0.6, 20, 0.95)


def test_wide_nucleus_uses_a_sorted_head():
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((1, V)) * 3.0).astype(np.float32)
    x[0, :100] = 12.0 + 0.1 * rng.standard_normal(100)  # a nucleus of ~95 tokens: beyond the groups, within the head
    (fast,) = sampling.distributions(x, 0.6, 20, top_p=0.95)
    (full,) = sampling.distributions(x, 0.6, 20)
    assert fast.cover == 0.95 and 24 < len(fast.ids) < len(full.ids)
    agree(fast, full, x[0], 0.6, 20, 0.95)


def test_minus_infinity_and_one_dimensional_input():
    x = rows(9, n=1)[0]
    x[::3] = -np.inf
    (fast,) = sampling.distributions(x, 0.6, 20, top_p=0.95)
    (full,) = sampling.distributions(x, 0.6, 20)
    agree(fast, full, x, 0.6, 20, 0.95)


def test_more_listed_candidates_on_request():
    x = rows(11, n=4)
    for d in sampling.distributions(x, 0.6, 20, top_p=0.95, need=40):
        assert len(d.ids) >= 40


def test_a_cut_list_refuses_a_wider_top_p():
    (d,) = sampling.distributions(rows(1, n=1), 0.6, 20, top_p=0.9)
    assert d.cover == 0.9
    with pytest.raises(ValueError):
        sampling.sample_top_p(d, 0.95, np.random.default_rng(0))


def test_small_vocabulary_keeps_every_candidate():
    x = rows(2, n=3, vocab=300)
    for f, r in zip(sampling.distributions(x, 0.6, 20, top_p=0.95), sampling.distributions(x, 0.6, 20)):
        assert f.cover == 1.0 and np.array_equal(f.ids, r.ids)


def test_greedy_rows_need_no_nucleus():
    x = rows(5, n=6)
    for d, row in zip(sampling.distributions(x, 1.0, 20, top_p=0.0), x):
        assert sampling.top_two(d, row)[0] == int(np.argmax(row))


@pytest.mark.parametrize("tau", [1.2, 1.5])
def test_flat_rows_at_high_temperature_match_the_reference(tau):
    """Where the group bound cannot prove its cut: the exact nucleus, no full sort."""
    rng = np.random.default_rng(8)
    x = (rng.standard_normal((3, V)) * np.array([[0.5], [1.5], [3.0]])).astype(np.float32)
    fast = sampling.distributions(x, tau, 20, top_p=0.95)
    full = sampling.distributions(x, tau, 20)
    for f, r, row in zip(fast, full, x):
        assert f.cover == 0.95 and len(f.ids) < len(r.ids)
        agree(f, r, row, tau, 20, 0.95)


def candidates_of(x, n):
    """What llama.cpp's top_k(n) hands back: the n best of each row, in no order."""
    R = x.shape[0]
    rng = np.random.default_rng(0)
    top = np.argpartition(x, x.shape[1] - n, axis=1)[:, x.shape[1] - n:]
    top = np.take_along_axis(top, rng.permuted(np.tile(np.arange(n), (R, 1)), axis=1), axis=1)
    return sampling.Candidates.from_unsorted(top.astype(np.int64), np.take_along_axis(x, top, axis=1),
                                             x.shape[1])


@pytest.mark.parametrize("tau", [0.3, 0.6, 1.2])
def test_candidates_give_exact_entropy_and_top_two(tau):
    x = rows(12)
    c = candidates_of(x, 64)
    for d, full, row, i in zip(sampling.distributions(c, tau, 20, top_p=0.95),
                               sampling.distributions(x, tau, 20), x, range(len(x))):
        assert d.entropy == pytest.approx(full.entropy, abs=1e-9)
        assert sampling.top_two(d, c[i]) == sampling.top_two(full, row)
        if d.exact:  # the nucleus is proved: the same draws as the full row
            for seed in range(10):
                assert sampling.sample_top_p(d, 0.95, np.random.default_rng(seed)) == \
                    sampling.sample_top_p(full, 0.95, np.random.default_rng(seed))


def test_candidates_that_cannot_hold_the_nucleus_are_marked():
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((2, V)) * 0.3).astype(np.float32)  # flat: the nucleus has thousands
    x[1, 7] = 40.0  # sure: the nucleus is one token
    d = sampling.distributions(candidates_of(x, 64), 0.6, 20, top_p=0.95)
    assert not d[0].exact and d[0].cover == 1.0
    assert d[1].exact and sampling.sample_top_p(d[1], 0.95, np.random.default_rng(0)) == 7
    # the policy: top-p of the candidates' own mass
    tok = sampling.sample_top_p(d[0], 0.95, np.random.default_rng(0))
    assert tok in set(d[0].ids.tolist())


def test_candidates_index_like_rows():
    c = candidates_of(rows(3, n=4), 32)
    assert c.shape == (4, 32) and len(c[-1]) == 1 and c[-1][None, :] is not None
    assert np.array_equal(c[2].ids[0], c.ids[2])
    assert (np.diff(c.logits, axis=1) <= 0).all()
    with pytest.raises(Exception):
        sampling.distributions(c, 0.6, 40, top_p=0.95)  # K above the candidates
