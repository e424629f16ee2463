"""Snapshot tests: the screens as a user sees them, over the deterministic fake model.

Timings are hidden (show_rates=False) and the plot is drawn before the shot, so
the pictures depend only on the code. Update with ``--snapshot-update`` after
checking the new pictures by eye.
"""

from __future__ import annotations

from tui.widgets.entropy_plot import EntropyPlot
from tui_fakes import make_app


async def finished_run(pilot) -> None:
    app = pilot.app
    await pilot.press("f5")
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.clear_notifications()
    app.query_one(EntropyPlot).draw_pending()
    await pilot.pause()


def test_finished_run(snap_compare):
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=finished_run)


def test_small_terminal(snap_compare):
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=finished_run)


def test_small_terminal_without_controls(snap_compare):
    async def hide(pilot):
        await finished_run(pilot)
        await pilot.press("f2")
        pilot.app.query_one(EntropyPlot).draw_pending()
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=hide)


def test_inspector_on_a_fork_token(snap_compare):
    async def inspect(pilot):
        await finished_run(pilot)
        app = pilot.app
        b = app.live.forks[0]
        await pilot.press("home", *["right"] * b.pos)
        pilot.app.query_one(EntropyPlot).draw_pending()
        await pilot.pause()
        assert app.cursor == b.pos

    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=inspect)


def test_help_screen(snap_compare):
    async def help_(pilot):
        await finished_run(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(make_app(), terminal_size=(100, 34), run_before=help_)
