"""Errors a user can cause, each with a short title naming the area.

The CLI prints ``title: message`` on one line and exits with code 2; the TUI
shows the same as a notification. Anything that is not an ``EagerError`` is a
bug in eager-local and keeps its traceback.
"""

from __future__ import annotations


class EagerError(Exception):
    """Base of every user-facing error."""

    title = "eager"

    def __init__(self, message: str, title: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if title is not None:
            self.title = title

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        return f"{self.title}: {text}"


class ModelError(EagerError):
    """A model file or alias that cannot be used."""

    title = "model"


class ConfigError(EagerError):
    """A models.toml that cannot be read."""

    title = "models.toml"


class SettingsError(EagerError):
    """A generation setting out of range."""

    title = "settings"


class PromptError(EagerError):
    """A prompt that is empty, unreadable or too long."""

    title = "prompt"


class ContextError(EagerError):
    """A run that cannot fit in the model's context (KV cache)."""

    title = "context"


class DatasetError(EagerError):
    """A dataset file or line that cannot be used."""

    title = "dataset"


class OutputError(EagerError):
    """An output path that cannot be written."""

    title = "output"
