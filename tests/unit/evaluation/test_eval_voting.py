"""Confidence measures and voting rules against hand-computed cases."""

from __future__ import annotations

import math

import pytest

from eager_local.method.confidence import sequence_confidence, token_confidences
from eager_local.evaluation.eval_record import ScoredSequence
from eager_local.evaluation.voting import (Ballot, deepconf, majority, most_confident,
                                           weighted_majority, winner)


def test_token_confidence_is_ln_k_minus_entropy():
    c = token_confidences([0.0, math.log(4), 1.0], 4)
    assert c.tolist() == pytest.approx([math.log(4), 0.0, math.log(4) - 1.0])


def test_lowest_window_by_hand():
    k = 20  # ln 20 = 2.9957
    h = [0.0, 0.0, 3.0, 2.0, 0.0, 0.0]  # c = [2.9957, 2.9957, 0 (clipped), 0.9957, 2.9957, 2.9957]
    c = sequence_confidence(h, k, window=2)
    # window means: 2.9957, 1.4979, 0.4979, 1.9957, 2.9957 -> lowest 0.4979
    assert c.lowest_window == pytest.approx(0.4979, abs=1e-4)
    assert c.mean == pytest.approx((4 * 2.9957 + 0.9957) / 6, abs=1e-4)


def test_a_sequence_shorter_than_the_window_is_one_window():
    c = sequence_confidence([1.0, 2.0], 20, window=16)
    assert c.lowest_window == pytest.approx(c.mean, abs=1e-4)
    assert sequence_confidence([], 20) == sequence_confidence([], 20, window=3)


def B(answer, correct, weight):
    return Ballot(answer, correct, weight)


def test_majority_and_weighted_disagree_by_hand():
    # "3" x3 with low confidence 0.1 each (sum 0.3); "4" x2 with 0.5 each (sum 1.0)
    ballots = [B("3", False, 0.1), B("4", True, 0.5), B("3", False, 0.1), B("4", True, 0.5), B("3", False, 0.1)]
    assert winner(ballots, weighted=False) == "3" and majority(ballots) is False
    assert winner(ballots, weighted=True) == "4" and weighted_majority(ballots) is True


def test_deepconf_keeps_the_most_confident_half():
    # 6 ballots -> keep 3: weights 0.9 ("5"), 0.8 ("5"), 0.7 ("6"); "6" has the larger total weight overall
    ballots = [B("6", True, 0.7), B("6", True, 0.6), B("5", False, 0.9), B("6", True, 0.5),
               B("5", False, 0.8), B(None, False, 0.95)]
    kept = most_confident(ballots, keep=0.5)
    assert [b.weight for b in kept] == [0.9, 0.8, 0.95]  # sequence order; the answer-less one is kept but cannot vote
    assert weighted_majority(ballots) is True   # 6: 1.8 vs 5: 1.7
    assert deepconf(ballots, keep=0.5) is False  # among the kept: 5: 1.7, 6: —
    assert deepconf(ballots, keep=1.0) is True


def test_ties_go_to_the_answer_seen_first_and_no_vote_is_wrong():
    assert winner([B("2", True, 0.5), B("1", False, 0.5)], weighted=True) == "2"
    assert winner([B("1", False, 0.5), B("2", True, 0.5)], weighted=False) == "1"
    assert majority([B(None, True, 1.0)]) is False
    assert deepconf([]) is False
    assert most_confident([B("1", True, 0.0)], keep=0.01) == [B("1", True, 0.0)]  # at least one


def test_scored_sequence_reads_old_lines_and_writes_confidence_only_when_known():
    old = {"id": 0, "parent": None, "fork_pos": 0, "origin": "init", "text": "x", "answer": "1",
           "correct": True, "check": "", "finish_reason": "eog", "n_tokens": 3, "n_own": 3}
    s = ScoredSequence.from_json(old, "s.")
    assert s.confidence is None and s.to_json() == old
    new = dict(old, confidence=1.5, lowest_window=0.25)
    assert ScoredSequence.from_json(new, "s.").to_json() == new


def test_old_records_get_their_confidence_from_the_run_document():
    from types import SimpleNamespace

    from eager_local.evaluation.voting import record_ballots

    old = dict(id=0, parent=None, fork_pos=0, origin="init", text="x", answer="1", correct=True,
               check="", finish_reason="eog", n_tokens=2, n_own=2)
    seqs = (ScoredSequence.from_json(old, "s."), ScoredSequence.from_json(dict(old, id=1, answer="2", correct=False), "s."))
    run = {"params": {"top_k_entropy": 4}, "sequences": [{"entropies": [0.0, 0.0]}, {"entropies": [1.0, 1.0]}]}
    ballots = record_ballots(SimpleNamespace(sequences=seqs, run=run, settings={"top_k_entropy": 20}))
    assert [b.weight for b in ballots] == pytest.approx([math.log(4), math.log(4) - 1.0], abs=1e-4)
    stored = tuple(ScoredSequence.from_json(dict(old, confidence=0.5, lowest_window=0.25), "s.") for _ in range(2))
    assert [b.weight for b in record_ballots(SimpleNamespace(sequences=stored, run=None, settings={}))] == [0.25, 0.25]


@pytest.mark.parametrize("key, value", [("confidence", "high"), ("confidence", True),
                                        ("lowest_window", float("nan")), ("lowest_window", [1.0])])
def test_a_stored_confidence_of_the_wrong_kind_is_named(key, value):
    old = dict(id=0, parent=None, fork_pos=0, origin="init", text="x", answer="1", correct=True,
               check="", finish_reason="eog", n_tokens=2, n_own=2, confidence=1.0, lowest_window=0.5)
    with pytest.raises(Exception, match=f"sequences.0.{key}"):
        ScoredSequence.from_json(dict(old, **{key: value}), "sequences.0.")
