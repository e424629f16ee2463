"""The streamed deltas, from hand-made core events: stop strings never leak, forks start with
their parent's text."""

from __future__ import annotations

from eager_local.events import Forked, SequenceFinished, TokenSampled
from eager_local.result import Fork
from eager_local.server.choices import DeltaStream


def _tok(seq, i, piece):
    return TokenSampled(seq=seq, index=i, token=i, piece=piece, entropy=0.5, forked=False)


def _texts(stream, events):
    out: dict[int, str] = {}
    for ev in events:
        for d in stream.feed(ev):
            out[d.index] = out.get(d.index, "") + d.text
    return out


def test_a_stop_string_split_over_tokens_never_reaches_a_chunk():
    s = DeltaStream(("END",), piece=lambda t: b"", top_n=None, entropies=False)
    sent = []
    for i, p in enumerate(["ab", "cE", "N", "Dx"]):
        sent += [d.text for d in s.feed(_tok(0, i, p))]
    assert "".join(sent) == "abc"  # 'E', 'N' held back; 'D' completes the stop
    sent += [d.text for d in s.feed(SequenceFinished(0, "stop", 4, "abc"))]
    assert "".join(sent) == "abc"


def test_a_stop_string_inside_one_token_is_cut_where_it_starts():
    s = DeltaStream(("= ",), piece=lambda t: b"", top_n=None, entropies=False)
    got = _texts(s, [_tok(0, 0, "a "), _tok(0, 1, "= is"), SequenceFinished(0, "stop", 2, "a ")])
    assert got == {0: "a "}


def test_text_without_stop_strings_is_sent_at_once():
    s = DeltaStream((), piece=lambda t: b"", top_n=None, entropies=False)
    assert [d.text for d in s.feed(_tok(0, 0, "hello"))] == ["hello"]


def test_a_fork_opens_an_index_with_the_parents_text():
    s = DeltaStream((), piece=lambda t: b"", top_n=None, entropies=True)
    events = [
        _tok(0, 0, "The"), _tok(0, 1, " cat"),
        Forked(Fork(parent=0, child=1, pos=2, entropy=1.5, parent_token=7, child_token=8),
               parent_piece=" sat", child_piece=" ran"),
        _tok(0, 2, " sat"), _tok(1, 2, " ran"),
        SequenceFinished(0, "length", 3, "The cat sat"), SequenceFinished(1, "eog", 3, "The cat ran"),
    ]
    deltas = [d for ev in events for d in s.feed(ev)]
    opened = [d for d in deltas if d.index == 1 and d.opens]
    assert len(opened) == 1 and opened[0].parent == 0 and opened[0].fork_pos == 2
    assert opened[0].fork["entropy"] == 1.5 and opened[0].fork["child_piece"] == " ran"
    texts: dict[int, str] = {}
    for d in deltas:
        texts[d.index] = texts.get(d.index, "") + d.text
    assert texts == {0: "The cat sat", 1: "The cat ran"}
    finish = {d.index: d.finish_reason for d in deltas if d.finish_reason}
    assert finish == {0: "length", 1: "stop"}
