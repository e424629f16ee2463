"""Pass@k, Cons@k, the unbiased estimator and paired bootstrap intervals."""

from itertools import combinations
from math import comb

import numpy as np
import pytest

from eager_local.evaluation.metrics import fixed_ks, paired_bootstrap, pass_at_k, score_prompt, summarize


@pytest.mark.parametrize("n, c", [(16, 0), (16, 1), (16, 5), (8, 8), (5, 2), (40, 3)])
def test_unbiased_estimator_matches_its_definition(n, c):
    for k in fixed_ks(n):
        assert pass_at_k(n, c, k) == pytest.approx(1 - comb(n - c, k) / comb(n, k))


def test_unbiased_estimator_is_the_share_of_passing_k_subsets():
    flags = [1, 0, 0, 1, 0, 0]
    subsets = list(combinations(flags, 3))
    assert pass_at_k(6, 2, 3) == pytest.approx(np.mean([any(s) for s in subsets]))
    with pytest.raises(ValueError):
        pass_at_k(3, 1, 4)


def test_fixed_ks():
    assert fixed_ks(1) == [1] and fixed_ks(16) == [1, 2, 4, 8, 16] and fixed_ks(12) == [1, 2, 4, 8]


def test_score_prompt_majority_and_ties():
    s = score_prompt(["3", "4", "4", None, "3", "4"], [True, False, False, False, True, False])
    assert (s.n, s.correct, s.pass_any, s.cons) == (6, 2, True, False)
    assert s.pass_rate == pytest.approx(2 / 6)
    tie = score_prompt(["5", "4", "4", "5"], [True, False, False, True])
    assert tie.cons  # tie broken by the answer seen first
    assert not score_prompt([None, None], [False, False]).cons


def test_summarize():
    rows = [
        dict(n=4, correct=1, pass_any=True, cons=False, generated_tokens=10, decoded_tokens=30, wall_s=1.0),
        dict(n=2, correct=0, pass_any=False, cons=False, generated_tokens=6, decoded_tokens=20, wall_s=0.5),
    ]
    s = summarize(rows)
    assert s.pass_k == 0.5 and s.pass_rate == pytest.approx(0.125) and s.seqs_per_prompt == 3
    assert s.generated_tokens == 16 and s.decoded_tokens == 50 and s.wall_s == 1.5
    assert set(s.unbiased) == {1, 2} and s.unbiased[1] == pytest.approx(0.125)


def test_paired_bootstrap():
    a = [0, 1, 0, 1, 0, 0, 1, 0]
    same = paired_bootstrap(a, a, metric="Pass@k")
    assert (same.value, same.low, same.high) == (0, 0, 0)
    b = [1, 1, 1, 1, 0, 1, 1, 0]
    d = paired_bootstrap(a, b, metric="Pass@k")
    assert d.value == pytest.approx(3 / 8) and d.low <= d.value <= d.high and d.low > 0
    r = paired_bootstrap([10, 20, 30], [5, 10, 15], metric="tokens", relative=True)
    assert r.value == pytest.approx(-0.5) and r.low == pytest.approx(-0.5) and r.high == pytest.approx(-0.5)
    with pytest.raises(ValueError):
        paired_bootstrap([1], [1, 2], metric="x")
