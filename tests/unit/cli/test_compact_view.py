"""`eager run`'s terminal view: the compact tree by default, every token with --full."""

import io

from rich.console import Console

from eager_local.cli.live import stream_to_terminal
from eager_local.cli.tree_view import ends
from eager_local.decoding.controller import generate
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.result import ModelInfo
from eager_local.settings import Settings

V = 32
PIECES = {i: (f" w{i}" + ("\n" if i % 7 == 0 else "")).encode() for i in range(3, V)}


def show(full, think=None, pieces=PIECES):
    engine = FakeEngine(hashed_script(V, spread=1.5), vocab=V, pieces=pieces)
    out = io.StringIO()
    console = Console(file=out, width=80, color_system=None)
    s = Settings(theta=2.2, max_seqs=8, max_new_tokens=120, temperature=1.0)
    result = stream_to_terminal(generate(engine, "x", s, model=ModelInfo(None, "f", None, think=think)),
                                ModelInfo(None, "f", None, think=think), console=console, full=full)
    return result, out.getvalue().splitlines()


def test_compact_view_fits_a_screen():
    result, lines = show(full=False)
    n = result.stats.n_sequences
    assert n >= 4
    assert len(lines) <= 4 + 3 * n  # header and summary (each may wrap once), ≤ 3 lines per sequence
    assert all(len(line) <= 80 for line in lines)
    assert f"{n} sequences ·" in " ".join(lines[-2:])
    forked = [ln for ln in lines if "⑂ seq" in ln]
    assert len(forked) == n - 1 and all("tokens" in ln for ln in forked)


def test_full_view_has_every_token():
    result, lines = show(full=True)
    text = "".join("".join(lines).split()).replace("⑂", "")  # wrapped, fork marks added
    assert all("".join(seq.text.split()) in text for seq in result.sequences)
    _, compact = show(full=False)
    assert len(lines) > len(compact)


def test_compact_view_shows_the_answer_of_a_reasoning_model():
    pieces = {**PIECES, 5: b"</think>", 6: b" \\boxed{42}"}
    result, lines = show(full=False, think=("<think>", "</think>"), pieces=pieces)
    answered = [s for s in result.sequences if "</think>" in s.text and "boxed{42}" in s.text.split("</think>")[-1]]
    assert len([ln for ln in lines if ln.strip() == "answer: 42"]) >= len(answered) > 0


def test_ends_are_first_and_last_lines_cut_to_width():
    assert ends("a\n\n b \nc", 10) == ("a", "c")
    assert ends("one", 10) == ("one", None)
    head, tail = ends("x" * 30 + "y" * 30, 20)
    assert head == "x" * 19 + "…" and tail == "…" + "y" * 19
    assert ends("  \n", 10) == ("(no text)", None)
