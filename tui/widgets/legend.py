"""The entropy scale in one line: the colours from certain to unsure, θ marked."""

from __future__ import annotations

from rich.style import Style
from rich.text import Text
from textual.widget import Widget

from eager_local.view.palette import entropy_hex, scale_max


def legend_text(theta: float, k: int, width: int) -> Text:
    """``H 0 ▕colours with ▼ at θ▏ top nats  θ=…`` fitted to ``width`` cells."""
    top = scale_max(theta, k)
    head, tail = "H 0 ", f" {top:.1f} nats  θ={theta:g}"
    n = max(width - len(head) - len(tail), 6)
    mark = min(int(theta / top * n), n - 1) if top > 0 else n - 1
    t = Text(head, style="dim")
    for i in range(n):
        h = top * (i + 0.5) / n
        t.append("▼" if i == mark else " ", style=Style(bgcolor=entropy_hex(h, theta, k), color="#000000", bold=True))
    t.append(tail, style="dim")
    return t


class Legend(Widget):
    """A one-line colour key for the token view."""

    DEFAULT_CSS = """
    Legend { height: 1; padding: 0 1; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.theta, self.k = 2.0, 20
        self.what_if = None
        """A WhatIf to describe instead of the scale (θ what-if mode), or None."""

    def show(self, theta: float, k: int, what_if=None) -> None:
        self.theta, self.k, self.what_if = theta, k, what_if
        self.refresh()

    def render(self) -> Text:
        w = self.what_if
        if w is not None:
            t = Text(no_wrap=True, overflow="ellipsis")
            t.append(f"what-if θ={w.theta:.2f} ([ ] move, \\ off): ", style="bold")
            t.append("⑂ ", style="bold magenta")
            t.append(f"{len(w.points)} fork points (reversed tokens) → EAGer-init would create "
                     f"{w.sequences}/{w.cap} sequences, on these recorded tokens")
            return t
        return legend_text(self.theta, self.k, self.content_size.width)
