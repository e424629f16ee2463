"""One run of the real llama.cpp path through the TUI, on the tiny random-weight GGUF."""

from __future__ import annotations

import pytest

from eager_local.settings import Settings
from tui.app import EagerApp
from tui.widgets.sequence_tree import SequenceTreeView
from tui.widgets.inspector import inspect_text

pytestmark = pytest.mark.asyncio


async def test_tiny_gguf_runs_through_the_tui(tiny_gguf):
    settings = Settings(theta=0.5, max_seqs=4, max_new_tokens=6)
    app = EagerApp(settings=settings, model=str(tiny_gguf), prompt="hello world", show_rates=False)
    try:
        async with app.run_test(size=(120, 36)) as pilot:
            assert app.query_one("#model").value == str(tiny_gguf)
            await pilot.press("f5")
            await app.workers.wait_for_complete()
            await pilot.pause()
            run = app.live
            assert run is not None and run.finished, "the run did not finish"
            assert run.model.path.endswith("tiny.gguf")
            assert 1 <= len(run.seqs) <= 4
            assert len(run.seqs) == len(run.forks) + 1
            assert all(len(q.tokens) >= 1 for q in run.seqs)
            assert sorted(app.query_one(SequenceTreeView)._leaves) == list(range(len(run.seqs)))
            first = run.seqs[0]
            assert first.candidates[0] and all(t in run.vocab for t, _ in first.candidates[0])
            assert "candidates" in inspect_text(run, 0, 0, 80).plain
    finally:
        app.models.close()
