"""The selected sequence's text, every token coloured on the entropy scale.

Drawn line by line (Textual's line API) from a ``TokenLayout`` so that each
cell knows its token: arrows and clicks move a token cursor, and the app shows
that token in the inspector.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from eager_local.view.palette import entropy_hex

from ..token_layout import TokenLayout, layout
from eager_local.tree import LiveSequence

INK = "#111111"


class TokenView(ScrollView, can_focus=True):
    """Coloured tokens of one sequence with a movable token cursor."""

    COMPONENT_CLASSES = {
        "token-view--cursor",
        "token-view--fork",
        "token-view--shared",
        "token-view--placeholder",
        "token-view--what-if",
    }
    DEFAULT_CSS = """
    TokenView { height: 1fr; padding: 0 1; }
    TokenView > .token-view--cursor { background: $foreground; color: $background; text-style: bold; }
    TokenView > .token-view--fork { text-style: bold underline; }
    TokenView > .token-view--shared { text-style: italic; }
    TokenView > .token-view--placeholder { text-style: dim; }
    TokenView > .token-view--what-if { text-style: bold reverse; }
    """
    BINDINGS = [
        Binding("left", "move(-1)", "prev token", show=False),
        Binding("right", "move(1)", "next token", show=False),
        Binding("up", "line(-1)", "line up", show=False),
        Binding("down", "line(1)", "line down", show=False),
        Binding("home", "jump(0)", "first token", show=False),
        Binding("end", "jump(-1)", "follow end", show=False),
        Binding("c", "toggle_colour", "bg/fg colour"),
    ]

    class CursorMoved(Message):
        """The user put the cursor on token ``index`` (None: follow the newest token)."""

        def __init__(self, index: int | None) -> None:
            super().__init__()
            self.index = index

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.seq: LiveSequence | None = None
        self.theta, self.k = 2.0, 20
        self.marks: set[int] = set()
        self.what_if: set[int] = set()
        """Tokens that would fork at the trial θ (θ what-if)."""
        self.cursor: int | None = None
        self.background_mode = True
        """Colour the background (True) or the text (False) of each token."""
        self._layout = TokenLayout((), ())
        self._width = 0

    # what to show ----------------------------------------------------------
    def show(self, seq: LiveSequence | None, theta: float, k: int, marks: set[int], cursor: int | None) -> None:
        """Show ``seq`` (it may have grown) with the cursor on ``cursor`` (None: the end)."""
        self.seq, self.theta, self.k, self.marks = seq, theta, k, marks
        self.cursor = cursor
        self._relayout()
        self._scroll_to_cursor()
        self.refresh()

    @property
    def cursor_index(self) -> int | None:
        """The token under the cursor (the newest when following)."""
        if self.seq is None or not self.seq.tokens:
            return None
        n = len(self.seq.tokens)
        return n - 1 if self.cursor is None else min(self.cursor, n - 1)

    def _relayout(self) -> None:
        width = max(self.scrollable_content_region.width, 4)
        self._width = width
        pieces = self.seq.pieces if self.seq is not None else []
        self._layout = layout(pieces, width)
        self.virtual_size = Size(width, len(self._layout.lines))

    def on_resize(self) -> None:
        self._relayout()
        self._scroll_to_cursor()

    def _scroll_to_cursor(self) -> None:
        i = self.cursor_index
        if i is None or i >= len(self._layout.where):
            return
        y = self._layout.where[i][0]
        height = self.scrollable_content_region.height
        top = self.scroll_offset.y
        if y < top or y >= top + height:
            self.scroll_to(y=max(0, y - height + 1) if y >= top + height else y, animate=False)

    # drawing ----------------------------------------------------------------
    def render_line(self, y: int) -> Strip:
        line_no = y + self.scroll_offset.y
        if self.seq is None or line_no >= len(self._layout.lines):
            return Strip.blank(self.size.width, self.rich_style)
        seq, cur = self.seq, self.cursor_index
        base = self.rich_style
        segments = []
        for span in self._layout.lines[line_no]:
            i = span.token
            colour = entropy_hex(seq.entropies[i], self.theta, self.k)
            style = base + (Style(bgcolor=colour, color=INK) if self.background_mode
                            else Style(color=colour))
            if i < seq.fork_pos:
                style += self.get_component_rich_style("token-view--shared", partial=True)
            if i in self.marks:
                style += self.get_component_rich_style("token-view--fork", partial=True)
            if i in self.what_if:
                style += self.get_component_rich_style("token-view--what-if", partial=True)
            if span.placeholder:
                style += self.get_component_rich_style("token-view--placeholder", partial=True)
            if i == cur:
                style += self.get_component_rich_style("token-view--cursor", partial=True)
            segments.append(Segment(span.text, style))
        return Strip(segments).extend_cell_length(self.size.width, base)

    # moving the cursor ------------------------------------------------------
    def _set(self, index: int | None) -> None:
        if self.seq is None or not self.seq.tokens:
            return
        n = len(self.seq.tokens)
        if index is not None:
            index = max(0, min(index, n - 1))
        self.cursor = index
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(self.CursorMoved(index))

    def action_move(self, step: int) -> None:
        i = self.cursor_index
        if i is not None:
            self._set(i + step)

    def action_line(self, step: int) -> None:
        i = self.cursor_index
        if i is None:
            return
        y, x = self._layout.where[i]
        hit = self._layout.hit(x, y + step)
        if hit is not None:
            self._set(hit)

    def action_jump(self, where: int) -> None:
        self._set(0 if where == 0 else None)

    def action_toggle_colour(self) -> None:
        self.background_mode = not self.background_mode
        self.refresh()

    def on_click(self, event) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        hit = self._layout.hit(offset.x + self.scroll_offset.x, offset.y + self.scroll_offset.y)
        if hit is not None:
            self.focus()
            self._set(hit)
