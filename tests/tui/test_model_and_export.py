"""The TUI's plain-data parts: the live run, the tree, token layout, batching, HTML and JSON."""

from __future__ import annotations

import json
import re

import pytest

from eager_local.decoding.controller import generate
from eager_local.events import RunFinished, StepFinished, TokenSampled
from eager_local.files.run_export import RunFileError, load_run, run_document, save_html, save_json
from eager_local.view import tree_model
from eager_local.view.html_export import run_html
from eager_local.view.live_run import LiveRun
from eager_local.view.palette import entropy_hex
from tui.runner import pump
from tui.token_layout import EMPTY, NEWLINE, layout
from tui_fakes import SETTINGS, fake_engine

PROMPT = "Once upon a time"


def events(**changes):
    s = SETTINGS.with_(record_candidates=5, **changes)
    engine = fake_engine()
    return engine, list(generate(engine, PROMPT, s))


def live_from(evs, vocab=None) -> LiveRun:
    run = LiveRun()
    for ev in evs:
        run.apply(ev)
    run.vocab.update(vocab or {})
    return run


@pytest.mark.parametrize("theta", [1.5, 0.0])  # θ = 0: the root branches before its first token
def test_live_run_from_events_matches_the_result(theta):
    _, evs = events(theta=theta)
    run = live_from(evs)
    result = evs[-1].result
    assert len(result.forks) >= 2, "the fake model should branch at θ=1.5"
    assert len(run.seqs) == result.stats.n_sequences
    for q, rec in zip(run.seqs, result.sequences):
        assert (q.id, q.parent, q.fork_pos) == (rec.id, rec.parent, rec.fork_pos)
        assert tuple(q.tokens) == rec.tokens and tuple(q.pieces) == rec.pieces
        assert tuple(q.candidates) == rec.candidates
        assert q.finish_reason == rec.finish_reason
    assert [(b.parent, b.child, b.pos) for b in run.forks] == [
        (b.parent, b.child, b.pos) for b in result.forks]
    # the same run rebuilt from the saved result looks the same
    again = LiveRun.from_result(result)
    assert [(q.tokens, q.pieces, q.entropies) for q in again.seqs] == [
        (q.tokens, q.pieces, q.entropies) for q in run.seqs]


def test_fork_lookup_follows_shared_prefixes():
    _, evs = events()
    run = live_from(evs)
    b = run.forks[0]
    assert run.fork_at(b.parent, b.pos)[1] == "parent"
    assert run.fork_at(b.child, b.pos)[1] == "child"
    grandchildren = [q for q in run.seqs if q.parent == b.child]
    for g in grandchildren:  # an inherited token belongs to the ancestor's fork
        assert run.fork_at(g.id, b.pos) == (b, "child")
        assert b.pos in run.fork_positions(g.id)
    plain = next(i for i in range(len(run.seqs[0].tokens)) if i not in run.fork_positions(0))
    assert run.fork_at(0, plain) is None


def test_tree_has_every_sequence_once_and_forks_in_order():
    _, evs = events()
    run = live_from(evs)
    roots = tree_model.build(run)
    assert len(roots) == 1
    assert sorted(tree_model.leaves(roots[0])) == list(range(len(run.seqs)))
    assert isinstance(roots[0], tree_model.ForkNode)

    def check(node, seq, after):
        if isinstance(node, tree_model.Leaf):
            assert node.seq == seq
            return
        assert node.fork.parent == seq and node.fork.pos > after
        check(node.kept, seq, node.fork.pos)
        check(node.taken, node.fork.child, node.fork.pos)

    check(roots[0], 0, -1)


def test_parallel_runs_are_separate_roots():
    _, evs = events(method="parallel", max_seqs=3)
    run = live_from(evs)
    assert [tree_model.leaves(n) for n in tree_model.build(run)] == [[0], [1], [2]]


def test_layout_wraps_at_tokens_and_marks_newlines():
    lay = layout([" the", " cat", "\n", "", " sat on the mat"], width=10)
    texts = [[s.text for s in line] for line in lay.lines]
    assert texts == [[" the", " cat", NEWLINE], [EMPTY, " sat on t"], ["he mat"]]
    assert all(sum(len(s.text) for s in line) <= 10 for line in lay.lines)
    assert lay.where[1] == (0, 4)
    assert lay.hit(5, 0) == 1 and lay.hit(0, 0) == 0
    assert lay.hit(0, 99) is None


def test_pump_batches_at_step_boundaries_and_sends_each_text_once():
    engine, evs = events()
    clock = iter(range(0, 100000)).__next__  # every call advances one "second"
    batches = []
    pump(evs, engine, lambda b, v: batches.append((b, v)), interval=0.5, clock=clock)
    assert [e for b, _ in batches for e in b] == evs
    assert isinstance(batches[-1][0][-1], RunFinished)
    for b, _ in batches[:-1]:
        assert isinstance(b[-1], StepFinished)
    seen = [t for _, v in batches for t in v]
    assert len(seen) == len(set(seen))
    cands = {t for e in evs if isinstance(e, TokenSampled) for t, _ in e.candidates}
    assert cands <= set(seen)
    # with a long interval everything arrives in one batch
    one = []
    pump(evs, engine, lambda b, v: one.append(b), interval=1e9, clock=lambda: 0.0)
    assert len(one) == 1


def test_html_has_coloured_tokens_tree_and_inspector_data(tmp_path):
    engine, evs = events()
    run = live_from(evs, {t: engine.piece(t).decode() for t in range(48)})
    run.seqs[0].pieces[0] = "<script>alert(1)</script>"
    page = run_html(run)
    assert "<script>alert(1)" not in page and "&lt;script&gt;" in page
    spans = re.findall(r'<span class="tok[^"]*" data-s="(\d+)" data-i="(\d+)"[^>]*background:(#[0-9a-f]{6})', page)
    assert len(spans) == sum(len(q.tokens) for q in run.seqs)
    s, i, colour = spans[5]
    q = run.seqs[int(s)]
    assert colour == entropy_hex(q.entropies[int(i)], SETTINGS.theta, SETTINGS.top_k_entropy)
    for q in run.seqs:
        assert f'href="#seq-{q.id}"' in page
    assert page.count("⑂ token") == len(run.forks)
    data = json.loads(re.search(r'id="run-data">(.*?)</script>', page, re.S).group(1))
    assert len(data["seqs"]) == len(run.seqs)
    assert data["seqs"][0]["candidates"][1][0][2] == run.vocab[run.seqs[0].candidates[1][0][0]]
    assert "http" not in page.replace("https://", "")  # nothing to fetch: opens offline
    save_html(run, tmp_path / "run.html")
    assert (tmp_path / "run.html").read_text(encoding="utf-8") == page


def test_json_round_trips_with_vocab(tmp_path):
    engine, evs = events()
    run = live_from(evs, {t: engine.piece(t).decode() for t in range(48)})
    doc = run_document(run)
    plain = evs[-1].result.to_json()
    assert set(plain) <= set(doc) and all(doc[k] == plain[k] for k in plain)
    assert doc["vocab"]
    path = save_json(run, tmp_path / "run.json")
    loaded = load_run(path)
    assert run_document(loaded) == doc
    assert loaded.vocab == {int(k): v for k, v in doc["vocab"].items()}
    assert [b.parent_piece for b in loaded.forks] == [b.parent_piece for b in run.forks]


def test_a_cli_document_without_vocab_loads(tmp_path):
    _, evs = events()
    p = tmp_path / "cli.json"
    p.write_text(json.dumps(evs[-1].result.to_json()))
    run = load_run(p)
    assert [q.text for q in run.seqs] == [r.text for r in evs[-1].result.sequences]


@pytest.mark.parametrize("content, words", [
    (None, "not found"), ("{nope", "not a JSON run"), ('{"prompt": "x"}', "not an eager run"),
])
def test_bad_run_files_are_user_errors(tmp_path, content, words):
    p = tmp_path / "bad.json"
    if content is not None:
        p.write_text(content)
    with pytest.raises(RunFileError, match=words):
        load_run(p)


def test_unfinished_run_cannot_be_saved(tmp_path):
    from eager_local.errors import OutputError

    with pytest.raises(OutputError, match="not finished"):
        save_json(LiveRun(), tmp_path / "x.json")


def test_model_picker_lists_the_registry_and_a_given_path():
    from eager_local.models.registry import load_registry
    from tui.widgets.controls import registry_choices

    reg = load_registry()
    choices, selected, error = registry_choices("/models/mine.gguf")
    assert error is None and selected == "/models/mine.gguf"
    assert [c.spec for c in choices] == [*reg.models, "/models/mine.gguf"]
    default = choices[0].label
    assert default.startswith(reg.default) and ("MB" in default or "-" in default)
    assert registry_choices(None)[1] == reg.default


def test_help_says_whether_the_selected_token_forked():
    from tui.screens.help import help_markdown

    _, evs = events()
    run = live_from(evs)
    b = run.forks[0]
    text = help_markdown(run.settings, run, b.child, b.pos)
    assert f"sequence {b.parent} took the most likely token, sequence {b.child} the second" in text
    plain = next(i for i, h in enumerate(run.seqs[0].entropies) if h < run.settings.theta)
    assert "below θ, so no fork" in help_markdown(run.settings, run, 0, plain)


def test_inspector_keeps_one_height_for_every_token():
    from tui.widgets.inspector import inspect_text

    _, evs = events()
    run = live_from(evs)
    heights = {inspect_text(run, q.id, i, 50).plain.count("\n")
               for q in run.seqs for i in range(len(q.tokens))}
    assert heights == {4 + run.settings.record_candidates}
    b = run.forks[0]
    assert "⑂ forked here (this is the child)" in inspect_text(run, b.child, b.pos, 80).plain
