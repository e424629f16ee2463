"""A pruned sequence is marked apart, with the window whose confidence fell below s:
in the TUI tree's leaf, in the compact view of ``eager run`` and in the plot's data."""

from eager_local.cli.tree_view import compact_tree
from eager_local.decoding.controller import generate
from eager_local.engine.fake import FakeEngine, flat, peaked
from eager_local.settings import Settings
from eager_local.view.live_run import LiveRun
from eager_local.view.pruned import PRUNE_MARK, pruned_window
from tui.widgets.sequence_tree import leaf_label

V, P = 48, 3


def script(history):
    """Two forks at indices 0 and 1; (10, 11) and (11, 10) end at 6 and 8; (10, 10) turns unsure at 10."""
    i = len(history) - P
    if i < 2:
        return flat(V, range(10, 26))
    head = tuple(history[P:P + 2])
    if i >= {(10, 11): 6, (11, 10): 8}.get(head, 22):
        return peaked(V, 1)
    if head == (10, 10) and i >= 10:
        return flat(V, range(30, 38))
    return peaked(V, 5)


def pruned_run():
    s = Settings(theta=2.5, max_seqs=4, max_new_tokens=30, prune="confidence", prune_window=4, prune_warmup=2)
    return list(generate(FakeEngine(script, vocab=V), "hi", s))[-1].result


def test_the_tree_leaf_and_the_compact_view_mark_the_pruned_sequence():
    r = pruned_run()
    assert r.sequences[0].finish_reason == "pruned"
    run = LiveRun.from_result(r)
    leaf = leaf_label(run, 0, selected=False).plain
    start, end = pruned_window(len(r.sequences[0].tokens), r.settings)
    assert leaf.startswith(PRUNE_MARK) and f"tokens {start}–{end - 1}" in leaf
    assert f"< s {r.stats.prune_threshold:.2f}" in leaf
    assert PRUNE_MARK not in leaf_label(run, 1, selected=False).plain
    lines = [t.plain for t in compact_tree(r, None, 100)]
    marked = [ln for ln in lines if PRUNE_MARK in ln]
    assert len(marked) == 1 and marked[0].startswith("seq 0") and f"tokens {start}–{end - 1}" in marked[0]
    assert (start, end) == (9, 13)  # the last W = 4 tokens, where it ended
