"""Conversations in the TUI: key N on a finished run's sequence writes the next turn, which
runs over the whole history; the turns show above the tree and survive save and load."""

from __future__ import annotations

import json

import pytest

from tui.screens.turn_dialog import TurnDialog
from tui.widgets.sequence_tree import SequenceTreeView
from tui.widgets.turn_history import TurnHistory
from tui_fakes import make_app, record_notes

SIZE = (120, 36)


async def finish(app, pilot) -> None:
    await app.workers.wait_for_complete()
    await pilot.pause()


async def next_turn(app, pilot, seq: int, text: str) -> None:
    """Pick leaf ``seq`` in the tree, press N, type ``text``, send it (F5), wait for the run."""
    tree = app.query_one(SequenceTreeView)
    tree.focus()
    tree.select_node(tree._leaves[seq])
    await pilot.pause()
    assert app.sel == seq
    await pilot.press("n")
    await pilot.pause()
    assert isinstance(app.screen, TurnDialog)
    await pilot.press(*[{" ": "space", "\n": "enter"}.get(ch, ch) for ch in text])
    await pilot.press("f5")
    await finish(app, pilot)


@pytest.mark.asyncio
async def test_chat_turn_runs_over_the_history_and_shows_it():
    app = make_app(prompt_format="chat", prompt="hi")
    async with app.run_test(size=SIZE) as pilot:
        history = app.query_one(TurnHistory)
        await pilot.press("f5")
        await finish(app, pilot)
        assert not history.display  # a run on its own: no history, the layout as before
        first = app.live.result
        chosen = first.sequences[2].text
        await next_turn(app, pilot, 2, "why\nso")
        run = app.live
        assert run.finished and run is not None and run.result is not first
        conv = run.conversation
        assert [(t.message, t.seq, t.answer) for t in conv.turns] == [("hi", 2, chosen), ("why\nso", None, None)]
        assert run.result.prompt == f"<user>hi</user>\n<assistant>{chosen}</assistant>\n<user>why\nso</user>\n<assistant>"
        assert run.result.settings == first.settings
        assert history.display
        shown = str(history.render())
        assert "you ▸ hi" in shown and "seq 2 ▸" in shown and "you ▸ why ⏎ so" in shown
        # a third turn builds on the second's chosen answer
        second = run.result.sequences[0].text
        await next_turn(app, pilot, 0, "ok")
        assert [t.message for t in app.live.conversation.turns] == ["hi", "why\nso", "ok"]
        assert app.live.result.prompt.startswith(run.result.prompt + second + "</assistant>\n<user>ok</user>")


@pytest.mark.asyncio
async def test_raw_model_continues_the_chosen_sequence():
    app = make_app(prompt="Once upon a time")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await finish(app, pilot)
        chosen = app.live.result.sequences[1].text
        await next_turn(app, pilot, 1, "\nthen it")
        assert app.live.result.prompt == "Once upon a time" + chosen + "\nthen it"
        assert app.live.conversation.mode == "continue"
        assert "text ▸ Once upon a time" in str(app.query_one(TurnHistory).render())


@pytest.mark.asyncio
async def test_empty_message_and_no_run_are_refused_with_one_line():
    """Rows turn-before-run and turn-empty-message of docs/bad-input.md."""
    app = make_app(prompt_format="chat")
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        app.query_one("#tree").focus()  # N in the prompt box is a letter
        await pilot.press("n")  # nothing has run yet
        await pilot.pause()
        assert not isinstance(app.screen, TurnDialog)
        assert notes[-1][0] == "warning" and "finished run" in notes[-1][1]
        await pilot.press("f5")
        await finish(app, pilot)
        first = app.live
        await pilot.press("n")
        await pilot.pause()
        await pilot.press("space", "enter", "f5")  # blank lines only
        await pilot.pause()
        assert notes[-1] == ("error", "the message is empty: write what the user says next")
        assert app.live is first and not app.running


async def saved_chat(path, seq: int):
    """A chat model's run "hi", a second turn "more" on sequence ``seq``, saved to ``path``;
    returns the conversation."""
    app = make_app(prompt_format="chat", prompt="hi")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("f5")
        await finish(app, pilot)
        await next_turn(app, pilot, seq, "more")
        app.save_to(str(path))
        return app.live.conversation


@pytest.mark.asyncio
async def test_save_and_load_keep_the_conversation(tmp_path):
    path = tmp_path / "chat.json"
    conv = await saved_chat(path, 1)
    doc = json.loads(path.read_text())
    assert doc["conversation"]["mode"] == "chat" and len(doc["conversation"]["turns"]) == 2

    app2 = make_app(prompt_format="chat", load=str(path))
    async with app2.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app2.live.conversation == conv
        assert app2.query_one(TurnHistory).display
        # the loaded conversation goes on with the model
        await next_turn(app2, pilot, 0, "and")
        assert [t.message for t in app2.live.conversation.turns] == ["hi", "more", "and"]
        assert app2.live.result.prompt.startswith(doc["prompt"] + doc["sequences"][0]["text"])


@pytest.mark.asyncio
async def test_a_chat_conversation_on_a_raw_model_is_refused(tmp_path):
    """Row turn-model-changed of docs/bad-input.md."""
    path = tmp_path / "chat.json"
    await saved_chat(path, 0)
    app2 = make_app(load=str(path))  # the same name now loads a raw model
    async with app2.run_test(size=SIZE) as pilot:
        notes = record_notes(app2)
        await pilot.pause()
        await next_turn(app2, pilot, 0, "x")
        assert notes[-1] == ("error", "prompt: this conversation was a chat and the model now takes raw text: "
                                      "choose the model it was held with, or start a new run")
        assert not app2.running


@pytest.mark.asyncio
async def test_a_history_longer_than_the_context_is_one_line():
    """Row turn-history-too-long of docs/bad-input.md: the history grows past n_ctx."""
    app = make_app(prompt_format="chat", prompt="hi", n_ctx=120)
    async with app.run_test(size=SIZE) as pilot:
        notes = record_notes(app)
        await pilot.press("f5")
        await finish(app, pilot)
        longest = max(app.live.result.sequences, key=lambda q: len(q.text))
        await next_turn(app, pilot, longest.id, "x" * 120)
        severity, line = notes[-1]
        assert severity == "error" and line.startswith("prompt: the prompt is ") and "context holds 120" in line
        assert "\n" not in line and not app.running


def test_conversation_snapshot(snap_compare):
    """Two turns of a chat: the history above the tree, one line per message and answer."""
    from tui.widgets.entropy_plot import EntropyPlot

    async def two_turns(pilot):
        app = pilot.app
        await pilot.press("f5")
        await finish(app, pilot)
        await next_turn(app, pilot, 2, "why\nnot")
        app.clear_notifications()
        app.query_one(EntropyPlot).draw_pending()
        await pilot.pause()

    assert snap_compare(make_app(prompt_format="chat", prompt="Tell me a story"), terminal_size=(120, 36),
                        run_before=two_turns)
