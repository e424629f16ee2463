"""Entropy per position of the selected sequence, with θ as a horizontal line, and for a
pruned sequence the window whose confidence fell below s between two magenta lines."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot

REDRAW_S = 0.25
"""Plotting is the costliest drawing here; during a run it is redone at most this often."""


class EntropyPlot(PlotextPlot):
    """A plotext chart: where the model hesitates along one sequence."""

    DEFAULT_CSS = """
    EntropyPlot { height: 1fr; min-height: 6; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self._pending: tuple | None = None
        self._version = 0
        self._cached: tuple[tuple, object] | None = None

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(REDRAW_S, self.draw_pending)

    def show(self, entropies: list[float], theta: float, k: int, cursor: int | None, title: str,
             pruned: tuple[int, int] | None = None) -> None:
        """Ask for a redraw with these numbers (done by the next tick); ``pruned``: the
        [start, end) of the window where a pruned sequence fell below s."""
        self._pending = (list(entropies), theta, k, cursor, title, pruned)

    def draw_pending(self) -> None:
        if self._pending is None:
            return
        entropies, theta, k, cursor, title, pruned = self._pending
        self._pending = None
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        top = max(math.log(max(k, 2)), theta) * 1.05
        plt.ylim(0, top)
        plt.yticks([0, theta, round(math.log(max(k, 2)), 2)])  # θ on a tick: its line sits right
        if entropies:
            xs = list(range(len(entropies)))
            plt.xlim(0, max(len(entropies) - 1, 1))
            step = max(1, math.ceil(len(entropies) / 6))
            plt.xticks(list(range(0, len(entropies), step)))
            plt.plot(xs, entropies, marker="braille", color="cyan")
            if cursor is not None and 0 <= cursor < len(entropies):
                plt.vertical_line(cursor, color="yellow")
            if pruned is not None:
                for x in (pruned[0], pruned[1] - 1):
                    plt.vertical_line(x, color="magenta")
        plt.horizontal_line(theta, color="red")
        plt.xlabel("token")
        self._version += 1
        self.refresh()

    def render(self):
        """The plot, rebuilt only when its data, size or theme changed (plotext is slow)."""
        key = (self._version, self.size, self.app.theme)
        if self._cached is None or self._cached[0] != key:
            self._cached = (key, super().render())
        return self._cached[1]
