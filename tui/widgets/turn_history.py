"""The conversation above the tree: each earlier turn's message and its chosen answer, one
line each, then the message of the run on screen. Hidden for a run on its own."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from eager_local.conversation import Conversation

WIDTH = 400
"""Characters of one message or answer shown at most (the line is cut to the panel too)."""
LINES = 8
"""Lines of history shown; older ones are counted in the first line."""


def one_line(text: str) -> str:
    """``text`` on one line: outer white space dropped, line breaks shown as ⏎, cut to ``WIDTH``."""
    flat = text.replace("\r\n", "\n").strip().replace("\n", " ⏎ ")
    return flat if len(flat) <= WIDTH else flat[: WIDTH - 1] + "…"


def history_text(conv: Conversation, lines: int = LINES) -> Text:
    """The turns as styled lines, the newest ``lines`` of them (model text is never markup)."""
    user = "you" if conv.mode == "chat" else "text"
    rows: list[Text] = []
    for t in conv.turns:
        rows.append(Text.assemble((f"{user} ▸ ", "bold"), one_line(t.message)))
        if t.answer is not None:
            rows.append(Text.assemble((f"seq {t.seq} ▸ ", "bold"), (one_line(t.answer), "italic")))
    if len(rows) > lines:
        rows = [Text(f"… {len(rows) - lines + 1} earlier lines", style="dim")] + rows[-(lines - 1):]
    out = Text("\n", no_wrap=True, overflow="ellipsis").join(rows)
    out.no_wrap, out.overflow = True, "ellipsis"
    return out


class TurnHistory(Static):
    """The conversation so far (eager_local/conversation.py)."""

    DEFAULT_CSS = """
    TurnHistory { height: auto; max-height: 9; display: none; padding: 0 1;
                  text-wrap: nowrap; text-overflow: ellipsis;
                  border-top: solid $primary-darken-2; border-title-color: $text-muted; }
    """

    def show(self, conv: Conversation | None) -> None:
        """Show ``conv`` when it has earlier turns; hide otherwise."""
        self.display = conv is not None and len(conv.turns) > 1
        if self.display:
            self.border_title = f"conversation · {len(conv.turns)} turns ({conv.mode})"
            self.update(history_text(conv))
