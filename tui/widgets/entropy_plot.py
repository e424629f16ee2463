"""Entropy per position of the selected sequence, with θ as a horizontal line."""

from __future__ import annotations

import math

from textual_plotext import PlotextPlot


class EntropyPlot(PlotextPlot):
    """A plotext chart: where the model hesitates along one sequence."""

    DEFAULT_CSS = """
    EntropyPlot { height: 1fr; min-height: 6; }
    """

    def show(self, entropies: list[float], theta: float, k: int, cursor: int | None, title: str) -> None:
        plt = self.plt
        plt.clear_data()
        plt.clear_figure()
        plt.title(title)
        top = max(math.log(max(k, 2)), theta) * 1.05
        plt.ylim(0, top)
        if entropies:
            xs = list(range(len(entropies)))
            plt.xlim(0, max(len(entropies) - 1, 1))
            step = max(1, math.ceil(len(entropies) / 6))
            plt.xticks(list(range(0, len(entropies), step)))
            plt.plot(xs, list(entropies), marker="braille", color="cyan")
            if cursor is not None and 0 <= cursor < len(entropies):
                plt.vertical_line(cursor, color="yellow")
        plt.horizontal_line(theta, color="red")
        plt.xlabel("token")
        self.refresh()
