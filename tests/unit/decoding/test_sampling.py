"""Sampling: the fast cuts give what the full reference gives.

``distributions(..., top_p=1.0)`` keeps every candidate (the reference cut);
with top_p < 1 a large vocabulary goes through the group bound, which lists
only the leading tokens. Both must agree on tokens, entropies and draws.
"""

import numpy as np
import pytest

from eager_local.decoding import nucleus, sampling

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


# ---- flat rows of a 262,144-token vocabulary (the default model's), issue 21 ----

BIG_V = 262_144


def flat_rows(seed, n=4):
    """Rows shaped like gemma-3 270M's on an open-ended prompt (std ≈ 5, max 6–8 logits
    above the 99.99th percentile): a normal body and a few tokens above it."""
    rng = np.random.default_rng(seed)
    x = rng.normal(rng.uniform(-3.0, 1.0, (n, 1)), 5.0, (n, BIG_V)).astype(np.float32)
    for i in range(n):
        hot = rng.choice(BIG_V, size=int(rng.integers(1, 8)), replace=False)
        x[i, hot] = np.percentile(x[i], 99.99) + rng.uniform(0.0, 8.0, len(hot))
    return x


@pytest.fixture(scope="module")
def flat():
    return flat_rows(21)


def same_as_reference(fast, ref, row, tau, top_p=0.95, seeds=30):
    n = min(len(fast.ids), len(ref.ids))
    assert np.array_equal(fast.ids[:n], ref.ids[:n])
    assert fast.entropy == pytest.approx(ref.entropy, abs=1e-9)
    assert fast.entropy == pytest.approx(sampling.topk_entropy(row, tau, 20), abs=1e-6)
    assert fast.exact and fast.cover == top_p
    for seed in range(seeds):
        assert sampling.sample_top_p(fast, top_p, np.random.default_rng(seed)) == \
            sampling.sample_top_p(ref, top_p, np.random.default_rng(seed))


@pytest.mark.parametrize("tau", [0.6, 1.2, 1.5])
def test_flat_rows_of_a_large_vocabulary_equal_the_full_row_reference(flat, tau):
    ref = sampling.reference_rows(flat, tau, 20, 0.95)
    for exact_probs in (True, False):
        fast = sampling.distributions(flat, tau, 20, top_p=0.95, exact_probs=exact_probs)
        for f, r, row in zip(fast, ref, flat):
            same_as_reference(f, r, row, tau)
            n = min(len(f.ids), len(r.ids))
            np.testing.assert_allclose(f.probs[:n], r.probs[:n], rtol=1e-6 if exact_probs else 1e-4)
    # the nucleus is wide (hundreds to thousands of tokens at τ ≥ 1.2), and the cut is
    # proved on the selection alone: no row falls back to the reference
    scratch = np.empty(BIG_V)
    cuts = [nucleus.cut(row, float(row.max()), tau, 20, 0.95, 20, scratch) for row in flat]
    assert all(c is not None for c in cuts)
    if tau >= 1.2:
        assert max(c[2] for c in cuts) > 300


def test_both_bounds_are_taken_and_agree(flat):
    """A sure row takes the window bound, a flat one the float32 pass; a bound too loose
    to place the cut falls back to the row's exact mass, with the same result."""
    sure = flat[:1].copy()
    sure[0, 12345] = sure[0].max() + 12.0
    for x, tau in ((sure, 0.6), (flat, 1.5)):
        ref = sampling.reference_rows(x, tau, 20, 0.95)
        for f, r, row in zip(sampling.distributions(x, tau, 20, top_p=0.95), ref, x):
            same_as_reference(f, r, row, tau)
    assert np.count_nonzero(sure[0] >= sure[0].max() - nucleus.WINDOW_BOUND_NATS * 0.6) <= BIG_V / 8
    assert np.count_nonzero(flat[0] >= flat[0].max() - nucleus.WINDOW_BOUND_NATS * 1.5) > BIG_V / 8


@pytest.mark.parametrize("tau", [1.2, 1.5])
def test_an_undecided_bound_takes_the_exact_mass(flat, tau, monkeypatch):
    monkeypatch.setattr(nucleus, "WINDOW_MAX_SHARE", 0.0)  # every row takes the float32 pass
    monkeypatch.setattr(nucleus, "F32_RTOL", 0.02)  # a bound too loose to place most cuts
    calls = []
    exact = nucleus.exact_mass
    monkeypatch.setattr(nucleus, "exact_mass", lambda *a: calls.append(1) or exact(*a))
    ref = sampling.reference_rows(flat, tau, 20, 0.95)
    for f, r, row in zip(sampling.distributions(flat, tau, 20, top_p=0.95, exact_probs=False), ref, flat):
        same_as_reference(f, r, row, tau)
    assert len(calls) >= 2


def test_ties_and_infinities_in_a_large_vocabulary():
    x = np.full((2, BIG_V), -np.inf, dtype=np.float32)
    x[0, [7, 3, 90000]] = 5.0  # a three-way tie, the rest impossible
    x[1] = np.tile(np.float32([1.0, 0.5]), BIG_V // 2)  # 131,072 ties at the top
    for tau in (0.6, 1.2):
        ref = sampling.reference_rows(x, tau, 20, 0.95)
        for f, r, row in zip(sampling.distributions(x, tau, 20, top_p=0.95), ref, x):
            same_as_reference(f, r, row, tau, seeds=10)
        assert list(sampling.distributions(x, tau, 20, top_p=0.95)[0].ids[:3]) == [3, 7, 90000]


@pytest.mark.parametrize("tau", [0.6, 1.2, 1.5])
def test_backend_candidates_of_flat_rows_are_marked_where_not_proved(flat, tau):
    ref = sampling.reference_rows(flat, tau, 20, 0.95)
    d = sampling.distributions(candidates_of(flat, 1024), tau, 20, top_p=0.95)
    for c, r in zip(d, ref):
        assert c.entropy == pytest.approx(r.entropy, abs=1e-9)
        nucleus_fits = len(r.ids) <= 1024 and r.probs[: len(r.ids)].sum() >= 0.95 - 1e-9
        if c.exact:  # proved: the same draws as the full row
            assert nucleus_fits
            for seed in range(10):
                assert sampling.sample_top_p(c, 0.95, np.random.default_rng(seed)) == \
                    sampling.sample_top_p(r, 0.95, np.random.default_rng(seed))
        if not nucleus_fits:
            assert not c.exact and c.cover == 1.0
    if tau >= 1.2:
        assert not all(c.exact for c in d)
