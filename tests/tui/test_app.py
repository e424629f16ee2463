"""The TUI driven with Textual's Pilot over the deterministic fake model."""

from __future__ import annotations

import json

import pytest

from tui.app import EagerApp
from tui.screens.help import HelpScreen
from tui.screens.path_dialog import PathDialog
from tui.widgets.sequence_tree import SequenceTreeView
from tui.widgets.controls import Controls
from tui.widgets.inspector import Inspector, inspect_text
from tui.widgets.token_view import TokenView
from tui_fakes import make_app, record_notes

SIZE = (120, 36)
pytestmark = pytest.mark.asyncio


async def run_to_end(app, pilot):
    await pilot.press("f5")
    await app.workers.wait_for_complete()
    await pilot.pause()


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    """Let the app work until ``condition()`` holds (fail rather than hang)."""
    for _ in range(int(timeout / 0.02)):
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError("condition not reached")


def set_field(app, name: str, value: str) -> None:
    app.query_one(f"#set-{name}").value = value


async def test_run_fills_tree_text_and_inspector():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        run = app.live
        assert run.finished and not app.running
        assert len(run.seqs) == 6 and len(run.forks) == 5
        tree = app.query_one(SequenceTreeView)
        assert sorted(tree._leaves) == list(range(6))
        view = app.query_one(TokenView)
        assert view.seq is run.seqs[0]
        assert view.cursor_index == len(run.seqs[0].tokens) - 1
        # the text is drawn from the sequence's own pieces, coloured cell by cell
        line = view.render_line(0)
        assert line.text.startswith("".join(run.seqs[0].pieces)[:10].replace("\n", "↵"))
        assert any(seg.style and seg.style.bgcolor for seg in line)
        assert app.query_one(Controls).query_one("#run").disabled is False
        assert app.models.loaded("fake") and app.models._loader.loads == ["fake"]


async def test_token_cursor_moves_with_keys_and_clicks():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        view = app.query_one(TokenView)
        view.focus()
        await pilot.press("home")
        assert view.cursor_index == 0
        await pilot.press("right", "right")
        await pilot.pause()
        assert app.cursor == 2
        inspector = app.query_one(Inspector)
        assert (inspector.seq, inspector.index) == (0, 2)
        text = inspect_text(app.live, 0, 2, 60).plain
        assert "seq 0 · token 2" in text and "candidates" in text and "◀" in text
        await pilot.press("end")
        assert view.cursor is None
        # c: the entropy colour moves from the background to the text
        colour = list(view.render_line(0))[0].style.bgcolor
        await pilot.press("c")
        seg = list(view.render_line(0))[0]
        assert not view.background_mode and seg.style.color == colour and seg.style.bgcolor != colour
        # click the first cell of the second token
        _, x = view._layout.where[1]
        await pilot.click(TokenView, offset=(x + 1, 0))  # +1: the view's left padding
        assert app.cursor == 1


async def test_tree_picks_sequences_and_forks():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        tree = app.query_one(SequenceTreeView)
        target = app.live.seqs[3]
        tree.focus()
        tree.select_node(tree._leaves[3])
        await pilot.pause()
        assert app.sel == 3 and app.query_one(TokenView).seq is target
        b = app.live.forks[0]
        fork = tree._leaves[0]
        while fork.data.pos != b.pos:
            fork = fork.parent
        tree.select_node(fork)
        await pilot.pause()
        assert (app.sel, app.cursor) == (b.parent, b.pos)
        assert "⑂ forked here" in inspect_text(app.live, app.sel, app.cursor, 80).plain


async def test_run_again_copies_the_prompt_from_the_prefix_cache():
    from tui.widgets.stats_bar import StatsBar

    app = make_app(prefix_cache=True, prompt="Once upon a time, in a land far away, a fox")
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        first = app.live.result
        assert first.stats.cached_prompt_tokens == 0
        assert "cached" not in app.query_one(StatsBar).render().plain
        await run_to_end(app, pilot)
        n = app.live.prompt_tokens
        assert app.live.result.stats.cached_prompt_tokens == n - 1  # its last token seeds the run
        assert app.live.result.sequences == first.sequences  # the same run, warm
        assert f"prompt {n:,} · {n - 1:,} cached" in app.query_one(StatsBar).render().plain


async def test_stop_mid_run_then_run_again_reuses_the_model():
    app = make_app(delay=0.01, eog=(), settings=make_app().base_settings.with_(max_new_tokens=400))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: app.live.seqs and len(app.live.seqs[0].tokens) > 3)
        assert app.running
        await pilot.press("f5")  # a second run while one is going is refused
        await pilot.press("f6")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert not app.running
        reasons = {q.finish_reason for q in app.live.seqs}
        assert "cancelled" in reasons
        assert max(len(q.tokens) for q in app.live.seqs) < 400
        first = app.live
        set_field(app, "max_new_tokens", "12")
        await run_to_end(app, pilot)
        assert app.live is not first and app.live.finished
        assert all(len(q.tokens) <= 12 for q in app.live.seqs)
        assert app.models._loader.loads == ["fake"]


async def test_ui_answers_keys_while_32_sequences_decode():
    from textual import events

    base = make_app().base_settings.with_(theta=0.0, max_seqs=32, max_new_tokens=5000)
    # nobody ends early, and the context outlasts max_new_tokens however fast the machine is
    app = make_app(delay=0.002, settings=base, eog=(), n_ctx=32 * 5000 + 100)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await wait_until(pilot, lambda: len(app.live.seqs) == 32)
        assert sum(q.finish_reason is None for q in app.live.seqs) == 32
        # keys are posted straight in (pilot.press would wait for an idle app)
        app.post_message(events.Key("f1", None))
        await wait_until(pilot, lambda: isinstance(app.screen, HelpScreen))
        app.post_message(events.Key("escape", None))
        await wait_until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        steps = app.live.counters.step
        assert app.running and steps < 5000  # the help came and went mid-run
        app.post_message(events.Key("f6", None))
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert len(app.live.seqs) == 32 and {q.finish_reason for q in app.live.seqs} == {"cancelled"}


async def test_user_errors_become_notifications():
    app = make_app(n_ctx=40)
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        set_field(app, "theta", "abc")
        await pilot.press("f5")
        assert notes[-1][0] == "error" and "θ" in notes[-1][1]
        set_field(app, "theta", "-1")
        await pilot.press("f5")
        assert "θ must be a number ≥ 0" in notes[-1][1]  # the TUI words a setting by its label
        set_field(app, "theta", "1.5")
        set_field(app, "max_seqs", "40")  # 17 prompt tokens + 40 sequences > 40 cells
        await run_to_end(app, pilot)
        assert notes[-1][0] == "error" and "context" in notes[-1][1]
        assert not app.running
        set_field(app, "max_seqs", "4")
        app.query_one("#model").value = "missing"
        await run_to_end(app, pilot)
        assert notes[-1][0] == "error" and "unknown model" in notes[-1][1]
        app.query_one("#prompt").text = "   "
        await pilot.press("f5")
        assert "prompt" in notes[-1][1]
        assert app.is_running


async def test_save_and_load_through_the_dialogs(tmp_path):
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        for suffix in ("json", "html", "svg"):
            await pilot.press("ctrl+s")
            assert isinstance(app.screen, PathDialog)
            app.screen.query_one("#path").value = str(tmp_path / "run.txt")
            await pilot.click(f"#as-{suffix}")
            await pilot.pause()
            assert (tmp_path / f"run.{suffix}").exists(), notes
        doc = json.loads((tmp_path / "run.json").read_text())
        assert doc["sequences"][0]["text"] == app.live.result.sequences[0].text
        assert "<svg" in (tmp_path / "run.svg").read_text()
        assert "data-s=" in (tmp_path / "run.html").read_text()
        before = [(q.tokens, q.pieces) for q in app.live.seqs]

    fresh = make_app(prompt="")
    async with fresh.run_test(size=SIZE) as pilot:
        await pilot.press("ctrl+o")
        fresh.screen.query_one("#path").value = str(tmp_path / "run.json")
        await pilot.press("enter")
        await pilot.pause()
        assert [(q.tokens, q.pieces) for q in fresh.live.seqs] == before
        assert fresh.query_one("#prompt").text == doc["prompt"]
        assert sorted(fresh.query_one(SequenceTreeView)._leaves) == list(range(len(before)))
        assert fresh.models._loader.loads == []  # browsing needs no model


async def test_small_terminal_stays_usable():
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await run_to_end(app, pilot)
        view = app.query_one(TokenView)
        assert view.size.width >= 20 and view.size.height >= 3
        assert app.query_one(SequenceTreeView).size.width >= 16
        await pilot.press("f2")
        await pilot.pause()
        assert not app.query_one(Controls).display
        assert view.size.width >= 35
        await pilot.press("f2")
        assert app.query_one(Controls).display


async def test_help_uses_live_numbers():
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        text = app.screen.text
        assert "θ (theta) = 1.5" in text and "M = 6" in text and "K = 20" in text
        assert f"{len(app.live.seqs)} sequences, {len(app.live.forks)} forks" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)


async def test_command_palette_offers_the_app_actions():
    app = make_app()
    async with app.run_test(size=SIZE):
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Run", "Stop", "Save run", "Load run", "Explain EAGER", "Toggle controls"} <= titles
        assert "Quit" in titles  # the built-in commands stay


async def test_an_unexpected_worker_error_is_shown_not_fatal():
    def broken(spec):
        raise RuntimeError("boom")

    app = make_app()
    app.models._loader = broken
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        await run_to_end(app, pilot)
        assert any(sev == "error" and "boom" in msg for sev, msg in notes)
        assert not app.running and app.is_running
        app.models._loader = make_app().models._loader  # the next run works
        await run_to_end(app, pilot)
        assert app.live.finished


async def test_a_path_with_brackets_is_reported_plainly(tmp_path):
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        app.open_run(str(tmp_path / "[/oops] run.json"))
        await pilot.pause()
        assert notes[-1][0] == "error" and "[/oops] run.json" in notes[-1][1]
        assert app.is_running


async def test_picking_a_model_brings_its_theta_unless_edited(monkeypatch):
    import tui.widgets.controls as controls

    monkeypatch.setattr(controls, "default_theta", {"fake": 1.5, "missing": 0.7, None: 2.0}.get)
    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        theta = app.query_one("#set-theta")
        assert theta.value == "1.5"
        app.query_one("#model").value = "missing"
        await pilot.pause()
        assert theta.value == "0.7"
        theta.value = "1.1"
        app.query_one("#model").value = "fake"
        await pilot.pause()
        assert theta.value == "1.1"


async def test_help_lists_every_bound_key():
    """The F1 screen names the what-if, confidence, eval-file and fork-by-hand keys."""
    from eager_local.settings import Settings
    from tui.screens.help import help_markdown

    text = help_markdown(Settings(), None, None, None)
    for row in ("| [ / ] |", "| `\\` |", "| K |", "| F3 |", "| f (on a token of a finished run) |"):
        assert row in text
    keys = {b.key for b in EagerApp.BINDINGS}
    assert {"left_square_bracket", "right_square_bracket", "backslash", "K", "f3", "f"} <= keys


async def test_two_configurations_side_by_side_in_one_batch():
    """"vs parallel": the same prompt decoded by EAGER and by full parallel sampling in one
    batch; both trees grow, each equal to its run alone, and either can be inspected."""
    from eager_local.decoding.controller import collect, generate
    from tui_fakes import fake_engine

    app = make_app()
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#compare").value = "parallel"
        set_field(app, "compare-theta", "1.5")
        await run_to_end(app, pilot)
        a, b = app.runs
        assert a.finished and b.finished and not app.running
        assert (a.settings.method, b.settings.method) == ("eager", "parallel")
        assert len(b.seqs) == 6 and not b.forks
        tree_b = app.query_one("#tree-b", SequenceTreeView)
        assert tree_b.display and sorted(tree_b._leaves) == list(range(6))
        for run in (a, b):
            alone = collect(generate(fake_engine(), run.prompt, run.settings))
            assert [q.tokens for q in run.result.sequences] == [q.tokens for q in alone.sequences]
        engine = app.models.get("fake").engine
        solo_calls = sum(r.result.stats.steps + 1 for r in (a, b))  # prefill + steps, each alone
        assert engine.decode_calls < solo_calls  # the two runs shared decode steps
        # picking a sequence in the second tree shows that run
        tree_b.focus()
        tree_b.select_node(tree_b._leaves[3])
        await pilot.pause()
        assert app.live is b and app.sel == 3
        assert app.query_one(TokenView).seq is b.seqs[3]
        # without "vs" the second tree goes away again
        app.query_one("#compare").value = "none"
        await run_to_end(app, pilot)
        assert len(app.runs) == 1 and not app.query_one("#tree-b").display


async def test_a_bad_vs_theta_is_a_notification():
    app = make_app()
    notes = record_notes(app)
    async with app.run_test(size=SIZE) as pilot:
        app.query_one("#compare").value = "eager"
        set_field(app, "compare-theta", "x")
        await pilot.press("f5")
        assert notes[-1][0] == "error" and "vs θ must be a number" in notes[-1][1]
        assert not app.running
