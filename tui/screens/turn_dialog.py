"""Write the next turn of a conversation: a message to the chosen sequence (chat) or text
that continues it (raw model). Enter is a new line; F5 (or the button) sends."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Label, TextArea


class TurnDialog(ModalScreen[str | None]):
    """Returns the text written (as written: a continuation may start with a space or a
    new line), or None."""

    DEFAULT_CSS = """
    TurnDialog { align: center middle; }
    TurnDialog > Vertical { width: 80; max-width: 95%; height: auto; padding: 1 2;
                            background: $panel; border: thick $primary; }
    TurnDialog TextArea { height: 6; margin-top: 1; }
    TurnDialog Horizontal { height: auto; margin-top: 1; }
    TurnDialog Button { margin-right: 1; }
    """
    # the app's own F5 / ctrl+r (run) are off while a dialog is open
    BINDINGS = [Binding("escape", "cancel", "cancel"), Binding("f5,ctrl+r", "send", "send")]

    def __init__(self, title: str, button: str) -> None:
        super().__init__()
        self.title_text, self.button = title, button

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text + "\nEnter: a new line · F5: send · Esc: cancel", markup=False)
            yield TextArea(id="message", soft_wrap=True, show_line_numbers=False)
            with Horizontal():
                yield Button(f"{self.button} (F5)", id="send", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "send":
            self.action_send()
        else:
            self.dismiss(None)

    def action_send(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)
