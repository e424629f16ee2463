"""Messages the generation worker posts to the app (thread-safe via post_message)."""

from __future__ import annotations

import threading

from textual.message import Message


class EventBatch(Message):
    """Controller events collected over ~30 ms, with the text of new candidate tokens."""

    def __init__(self, run_id: int, events: tuple, vocab: dict[int, str], drawn: threading.Event) -> None:
        super().__init__()
        self.run_id = run_id
        """Which run these belong to (a stale batch from a stopped run is dropped)."""
        self.events = events
        self.vocab = vocab
        self.drawn = drawn
        """Set by the UI once this batch is on screen; the worker sends the next one after."""


class ModelStatus(Message):
    """The worker is loading a model, or has one ready."""

    def __init__(self, run_id: int, text: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.text = text


class RunFailed(Message):
    """The run stopped on an error the user can act on (one line, already titled)."""

    def __init__(self, run_id: int, message: str) -> None:
        super().__init__()
        self.run_id = run_id
        self.message = message
