"""Fork by hand: choose the candidate a new sequence takes at the token under the cursor."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from ..widgets.inspector import label_of


class ForkDialog(ModalScreen[int | None]):
    """Returns the token chosen, or None (escape)."""

    DEFAULT_CSS = """
    ForkDialog { align: center middle; }
    ForkDialog > Vertical { width: 60; max-width: 95%; height: auto; max-height: 80%; padding: 0 1;
                            background: $panel; border: thick $primary; }
    ForkDialog OptionList { height: auto; max-height: 20; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, candidates: list[tuple[int, float, str | None]], taken: int) -> None:
        super().__init__()
        self.title_text, self.candidates, self.taken = title, candidates, taken

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield OptionList(*[
                Option(f"{label_of(text, t):14} {p:6.3f}" + ("  (taken)" if t == self.taken else ""),
                       id=str(t), disabled=t == self.taken)
                for t, p, text in self.candidates])

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
