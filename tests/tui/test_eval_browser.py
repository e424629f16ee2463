"""The TUI on an eval run file (``eager tui --load run.jsonl``), and the θ what-if keys."""

from __future__ import annotations

import pytest

from eager_local.api import Model
from eager_local.evaluation.answers import Checker
from eager_local.evaluation.datasets import Dataset, Item
from eager_local.evaluation.prompts import PromptFormat
from eager_local.evaluation.runner import Runner
from eager_local.method.what_if import what_if
from eager_local.models.registry import ModelSpec
from eager_local.result import ModelInfo
from eager_local.settings import Settings
from tui.screens.eval_browser import EvalBrowser
from tui.widgets.legend import Legend
from tui.widgets.sequence_tree import SequenceTreeView
from tui.widgets.token_view import TokenView
from tui_fakes import fake_engine, make_app

SIZE = (120, 36)
DATA = Dataset("toy", "/toy.jsonl", "numeric",
               tuple(Item(f"q{i}", f"How many birds are in tree {i}?", str(i % 3)) for i in range(5)), 5)


@pytest.fixture
def eval_file(tmp_path):
    out = tmp_path / "run.jsonl"
    model = Model(ModelSpec(alias="fake"), fake_engine(), ModelInfo("fake", "/models/fake.gguf", "0" * 64))
    Runner(model, DATA, PromptFormat("chat"), Checker("numeric"), "eager",
           Settings(theta=1.5, max_seqs=4, max_new_tokens=12), str(out)).run()
    return out


async def open_file(pilot, path):
    app = pilot.app
    app.open_run(str(path))
    await pilot.pause()


@pytest.mark.asyncio
async def test_the_browser_lists_prompts_and_opens_a_tree(eval_file):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_file(pilot, eval_file)
        assert isinstance(app.screen, EvalBrowser)
        assert len(app.eval_records) == 5
        await pilot.press("down", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, EvalBrowser)
        rec = app.eval_records[1]
        assert app.eval_current == 1 and app.live.prompt == rec.run["prompt"]
        assert len(app.live.seqs) == rec.n_sequences
        label = str(app.query_one(SequenceTreeView).root.children[0].label) if rec.n_sequences == 1 else ""
        tree_text = " ".join(str(n.label) for n in _nodes(app.query_one(SequenceTreeView).root))
        assert "conf" in tree_text and ("✓" in tree_text or "✗" in tree_text), label
        await pilot.press("f3")
        await pilot.pause()
        assert isinstance(app.screen, EvalBrowser)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, EvalBrowser)


@pytest.mark.asyncio
async def test_what_if_keys_mark_the_fork_points_of_the_trial_theta(eval_file):
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        run = app.live
        s = run.settings
        await pilot.press("left_square_bracket")  # enters the what-if at the run's θ
        assert app.trial_theta == s.theta
        w = app.what_if_now()
        assert len(w.points) >= len(run.forks) and w.sequences == len(run.seqs)
        await pilot.press("left_square_bracket", "left_square_bracket")
        assert app.trial_theta == pytest.approx(s.theta - 0.2)
        lower = what_if(run.seqs, run.forks, s.theta - 0.2, s.max_seqs, s.monitor_window)
        assert app.query_one(Legend).what_if == lower
        view = app.query_one(TokenView)
        assert view.what_if == run.what_if_marks(lower, app.sel)
        assert all(view.seq.entropies[i] >= s.theta - 0.2 for i in view.what_if)
        assert f"{len(lower.points)} fork points" in str(app.query_one(Legend).render())
        await pilot.press("backslash")
        assert app.trial_theta is None and view.what_if == set()


def _nodes(node):
    yield node
    for c in node.children:
        yield from _nodes(c)


def test_eval_browser_snapshot(snap_compare, eval_file):
    async def browse(pilot):
        await open_file(pilot, eval_file)
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=SIZE, run_before=browse)


@pytest.mark.asyncio
async def test_fork_by_hand_from_the_inspector():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await app.workers.wait_for_complete()
        await pilot.pause()
        before = len(app.live.seqs)
        await pilot.press("home", "right", "right", "right")
        assert app.cursor == 3
        taken = app.live.seqs[app.sel].tokens[3]
        await pilot.press("f")
        await pilot.pause()
        from tui.screens.fork_dialog import ForkDialog
        from eager_local.files.run_export import run_document

        assert isinstance(app.screen, ForkDialog)
        options = app.screen.query_one("OptionList")
        chosen = next(int(o.id) for o in options._options if not o.disabled)
        options.highlighted = next(i for i, o in enumerate(options._options) if int(o.id) == chosen)
        await pilot.press("enter")
        await pilot.pause()
        await app.workers.wait_for_complete()
        await pilot.pause()
        run = app.live
        assert len(run.seqs) == before + 1 and run.result is not None
        f = run.forks[-1]
        assert f.fork.manual and f.pos == 3 and f.child_token == chosen != taken
        new = run.seqs[-1]
        assert new.tokens[3] == chosen and new.tokens[:3] == run.seqs[app.sel].tokens[:3]
        tree_text = " ".join(str(n.label) for n in _nodes(app.query_one(SequenceTreeView).root))
        assert "by hand" in tree_text, tree_text
        doc = run_document(run)
        assert doc["branches"][-1]["manual"] is True
        from eager_local.result import RunResult

        back = RunResult.from_json(doc)  # the saved JSON reads back, candidates and all
        assert back.forks[-1].manual and back.sequences[-1].candidates is not None
