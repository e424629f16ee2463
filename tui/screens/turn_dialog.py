"""Write the next turn of a conversation: a message to the chosen sequence (chat) or text
that continues it (raw model)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class TurnDialog(ModalScreen[str | None]):
    """Returns the text typed (as typed: a continuation may start with a space), or None."""

    DEFAULT_CSS = """
    TurnDialog { align: center middle; }
    TurnDialog > Vertical { width: 80; max-width: 95%; height: auto; padding: 1 2;
                            background: $panel; border: thick $primary; }
    TurnDialog Horizontal { height: auto; margin-top: 1; }
    TurnDialog Button { margin-right: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, placeholder: str, button: str) -> None:
        super().__init__()
        self.title_text, self.placeholder, self.button = title, placeholder, button

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text, markup=False)
            yield Input(placeholder=self.placeholder, id="message")
            with Horizontal():
                yield Button(self.button, id="send", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(self.query_one(Input).value if event.button.id == "send" else None)

    def action_cancel(self) -> None:
        self.dismiss(None)
