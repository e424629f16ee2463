"""Errors a user can cause, each with a short title naming the area.

The CLI prints ``title: message`` on one line and exits with code 2; the TUI
shows the same as a notification. Anything that is not an ``EagerError`` is a
bug in eager-local and keeps its traceback.

A message names a setting as ``⟨name⟩`` (the ``Settings`` field or ``load``
argument, e.g. ``⟨max_seqs⟩``), and each face words it its own way: the Python
API as the name itself, the CLI as its flag (``--max-seqs``), the TUI as its
control's label (``M``).
"""

from __future__ import annotations

import re
from typing import Callable

_SETTING = re.compile(r"⟨([a-z_]+)⟩")

Wording = Callable[[str], str]
"""How a face calls a setting, given its name."""


class EagerError(Exception):
    """Base of every user-facing error."""

    title = "eager"

    def __init__(self, message: str, title: str | None = None) -> None:
        self.template = message
        """The message with its settings still marked ``⟨name⟩``."""
        super().__init__(self.worded())
        if title is not None:
            self.title = title

    @property
    def message(self) -> str:
        """The message as the Python API words it (settings by their own names)."""
        return self.worded()

    def worded(self, word: Wording | None = None) -> str:
        """The message with each marked setting written as ``word(name)``."""
        return _SETTING.sub(lambda m: (word or str)(m[1]), self.template)

    def one_line(self, word: Wording | None = None) -> str:
        """``title: message`` on one line."""
        text = " ".join(self.worded(word).split())
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


class RayError(EagerError):
    """A Ray cluster that cannot be joined, or whose workers all died (``eager eval --ray``)."""

    title = "ray"
