"""Ask for a file path: where to save a run (JSON, HTML or SVG) or which run to load."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label


class PathDialog(ModalScreen[str | None]):
    """Returns the path typed (its suffix set by the button pressed), or None."""

    DEFAULT_CSS = """
    PathDialog { align: center middle; }
    PathDialog > Vertical { width: 70; max-width: 95%; height: auto; padding: 1 2;
                            background: $panel; border: thick $primary; }
    PathDialog Horizontal { height: auto; margin-top: 1; }
    PathDialog Button { margin-right: 1; }
    """
    BINDINGS = [Binding("escape", "cancel", "cancel")]

    def __init__(self, title: str, default: str, suffixes: tuple[str, ...]) -> None:
        super().__init__()
        self.title_text = title
        self.default = default
        self.suffixes = suffixes
        """One button per suffix (".json", ".html", ".svg"); empty: a single OK button."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.title_text)
            yield Input(self.default, id="path")
            with Horizontal():
                for s in self.suffixes:
                    yield Button(s[1:].upper(), id=f"as-{s[1:]}", variant="primary")
                if not self.suffixes:
                    yield Button("Load", id="ok", variant="primary")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value.strip() or None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        bid = event.button.id or ""
        path = self.query_one(Input).value.strip()
        if bid == "cancel" or not path:
            self.dismiss(None)
        elif bid.startswith("as-"):
            self.dismiss(str(Path(path).with_suffix("." + bid[3:])))
        else:
            self.dismiss(path)

    def action_cancel(self) -> None:
        self.dismiss(None)
