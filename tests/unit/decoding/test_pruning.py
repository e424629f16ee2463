"""Online confidence pruning (DeepConf-online) against the scripted fake engine."""

import numpy as np
import pytest

from eager_local.decoding.controller import generate
from eager_local.engine.fake import FakeEngine, flat, peaked
from eager_local.events import SequenceFinished, StepFinished, TokenSampled
from eager_local.method.confidence import sequence_confidence, token_confidences
from eager_local.method.pruning import learned_threshold
from eager_local.settings import Settings

V = 48
P = 3  # the fake tokenizer: BOS + 2 bytes of "hi"
W = 4


def script(history):
    """Forks at generated indices 0 and 1 (flat over 16, above θ), then by the first two
    generated tokens: (10, 11) ends at 6 and (11, 10) at 8 (the warm-up); (10, 10) turns
    unsure from index 10 (flat over 8: below θ, so no fork, but low confidence);
    (11, 11) is sure and meets one more fork point at index 16."""
    i = len(history) - P
    if i < 2:
        return flat(V, range(10, 26))
    head = tuple(history[P:P + 2])
    end = {(10, 11): 6, (11, 10): 8}.get(head, 22)
    if i >= end:
        return peaked(V, 1)
    if head == (10, 10) and i >= 10:
        return flat(V, range(30, 38))
    if head == (11, 11) and i == 16:
        return flat(V, range(10, 26))
    return peaked(V, 5 + (i % 3))


class Recording(FakeEngine):
    """The fake engine, remembering every fork copy (src, dst) and every removal."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.copies, self.removed = [], []

    def copy_seq(self, src, dst, n_pos):
        self.copies.append((src, dst))
        super().copy_seq(src, dst, n_pos)

    def remove_seq(self, seq):
        self.removed.append(seq)
        super().remove_seq(seq)


def settings(**kw):
    base = dict(theta=2.5, max_seqs=5, max_new_tokens=30, prune="confidence",
                prune_window=W, prune_warmup=2, prune_keep=90.0)
    return Settings(**{**base, **kw})


def drive(engine, s):
    """Run to the end; at every step the fake engine's occupied cells equal the run's count."""
    events = []
    for ev in generate(engine, "hi", s):
        if isinstance(ev, StepFinished):
            assert engine.used_cells == ev.kv_cells, f"step {ev.step}"
        events.append(ev)
    return events, events[-1].result


def first_below(entropies, threshold, k=20, w=W):
    """The first generated index whose last-w-token confidence is below threshold."""
    c = token_confidences(entropies, k)
    return next(i for i in range(w - 1, len(c)) if round(c[i - w + 1:i + 1].mean(), 4) < threshold)


def test_a_confidence_drop_prunes_exactly_that_sequence_and_frees_its_id_for_a_later_fork():
    e = Recording(script, vocab=V)
    events, r = drive(e, settings())
    reasons = {q.id: q.finish_reason for q in r.sequences}
    assert reasons == {0: "pruned", 1: "eog", 2: "eog", 3: "eog", 4: "eog"}
    pruned = r.sequences[0]
    # it ends at the first token where its window fell below s, and not before
    assert len(pruned.tokens) - 1 == first_below(pruned.entropies, r.stats.prune_threshold)
    assert len(pruned.tokens) - 1 == 12  # three unsure tokens of confidence ln 2.5 in the window
    # the root held engine id 0; pruning removed it, and the fork at index 16 took it again
    assert 0 in e.removed
    late = [f for f in r.forks if f.pos == 16]
    assert [(f.parent, f.child) for f in late] == [(3, 4)]
    assert e.copies[-1][1] == 0
    ends = [ev.reason for ev in events if isinstance(ev, SequenceFinished)]
    assert ends.index("pruned") < len(ends) - 1  # the others went on after the prune
    assert e.used_cells == 0


def test_pruned_sequences_count_toward_m():
    # with M = 4 the late fork does not happen: the pruned root still counts as created
    _, r = drive(FakeEngine(script, vocab=V), settings(max_seqs=4))
    assert r.stats.n_sequences == 4 and not [f for f in r.forks if f.pos == 16]


def test_the_threshold_is_the_percentile_of_the_warm_up_minima():
    _, r = drive(FakeEngine(script, vocab=V), settings(prune_keep=60.0))
    warm = [q for q in r.sequences if q.id in (1, 2)]  # the first two to end
    minima = [sequence_confidence(q.entropies, 20, W).lowest_window for q in warm]
    assert r.stats.prune_threshold == pytest.approx(np.percentile(minima, 40.0), abs=1e-4)
    assert r.stats.prune_threshold == learned_threshold(minima, 60.0)


def test_learned_threshold_keeps_the_stated_share():
    minima = [0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0]
    assert learned_threshold(minima, 100.0) == 0.5  # keep all: the lowest
    assert learned_threshold(minima, 10.0) == pytest.approx(np.percentile(minima, 90))
    s = learned_threshold(minima, 90.0)
    assert sum(m >= s for m in minima) == 9


def test_warm_up_sequences_are_never_pruned_even_below_a_fixed_threshold():
    # a threshold above every window: only the two warm-up sequences survive
    _, r = drive(FakeEngine(script, vocab=V), settings(prune_threshold=3.5))
    kept = [q for q in r.sequences if q.finish_reason != "pruned"]
    assert sorted(q.id for q in kept) == [1, 2]
    assert all(q.finish_reason == "eog" for q in kept)
    assert r.stats.prune_threshold == 3.5


def test_without_pruning_nothing_is_pruned_and_the_tree_is_unchanged():
    _, plain = drive(FakeEngine(script, vocab=V), Settings(theta=2.5, max_seqs=5, max_new_tokens=30))
    assert all(q.finish_reason != "pruned" for q in plain.sequences)
    assert plain.stats.prune_threshold is None
    assert "prune_threshold" not in plain.to_json()["stats"]


def test_parallel_runs_the_warm_up_first_and_prunes_only_the_rest():
    def sure_or_lost(history):
        """First token 10 or 11: sure, EOG at 6; 12 or 13: lost from index 3 to EOG at 30."""
        i = len(history) - P
        if i == 0:
            return flat(V, range(10, 14))
        if history[P] < 12:
            return peaked(V, 1) if i >= 6 else peaked(V, 5)
        return peaked(V, 1) if i >= 30 else flat(V, range(30, 38))

    s = settings(method="parallel", max_seqs=8, prune_warmup=2, max_new_tokens=40, seed=3)
    events, r = drive(FakeEngine(sure_or_lost, vocab=V), s)
    first_step, warm_done, step = {}, None, 0
    for ev in events:
        if isinstance(ev, StepFinished):
            step = ev.step
        if isinstance(ev, TokenSampled):
            first_step.setdefault(ev.seq, step)
        if isinstance(ev, SequenceFinished) and ev.seq < 2 and ev.seq in first_step:
            warm_done = step
    # DeepConf-online: the two warm-up samples alone, the other six once both have ended
    assert sorted(first_step) == list(range(8))
    assert {first_step[i] for i in (0, 1)} == {0}
    assert {first_step[i] for i in range(2, 8)} == {warm_done}
    reasons = [q.finish_reason for q in r.sequences]
    assert reasons[:2] == ["eog", "eog"] and "pruned" in reasons[2:]
    for q in r.sequences:
        if q.finish_reason == "pruned":  # the lost ones, as soon as their window fell below s
            assert q.tokens[0] >= 12
            assert len(q.tokens) - 1 == first_below(q.entropies, r.stats.prune_threshold)
        else:
            assert q.tokens[0] < 12


def answering(last_of_10_11, last_of_11_10):
    """``script``, with the two warm-up sequences writing an answer token just before EOG."""

    def inner(history):
        head, i = tuple(history[P:P + 2]), len(history) - P
        if (head, i) == ((10, 11), 5):
            return peaked(V, last_of_10_11)
        if (head, i) == ((11, 10), 7):
            return peaked(V, last_of_11_10)
        return script(history)

    return inner


PIECES = {**{t: b"x" for t in range(V)}, 40: b" 7", 41: b" 9", 1: b""}


@pytest.mark.parametrize("answers, stopped", [((40, 40), True), ((40, 41), False)])
def test_stop_on_consensus_ends_the_rest_once_the_warm_up_agrees(answers, stopped):
    e = FakeEngine(answering(*answers), vocab=V, pieces=PIECES)
    _, r = drive(e, settings(stop_on_consensus=0.95))
    reasons = {q.id: q.finish_reason for q in r.sequences}
    if stopped:  # both say 7: the root and (11, 11) end at once, before the late fork
        assert reasons == {0: "consensus", 1: "eog", 2: "eog", 3: "consensus"}
        assert {len(r.sequences[i].tokens) for i in (0, 3)} == {9}
    else:  # 7 against 9: about half each, the run goes on as without it
        assert "consensus" not in reasons.values() and reasons[0] == "pruned"


def test_the_result_reads_back_with_pruned_sequences():
    from eager_local.result import RunResult

    _, r = drive(FakeEngine(script, vocab=V), settings())
    back = RunResult.from_json(r.to_json())
    assert [q.finish_reason for q in back.sequences] == [q.finish_reason for q in r.sequences]
    assert back.stats.prune_threshold == r.stats.prune_threshold
