"""A conversation: turns of one prompt each, every turn answered by a sequence the user chose.

The next turn is an ordinary run whose prompt begins with the previous turn's prompt and
its chosen answer, so a prefix cache finds all of it already decoded:

- ``chat`` (a model with ``prompt_format = "chat"``): the model's chat template over the
  whole history, user / assistant / ... / user, the assistant's turn opened;
- ``continue`` (a raw model): the previous prompt, the chosen sequence's text, then the
  new text, as they are.

Plain values with no I/O; the engine is asked only for its chat template.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import PromptError

MODES = ("chat", "continue")
"""How the next prompt is built: the chat template, or plain text appended."""


@dataclass(frozen=True)
class Turn:
    """One prompt of the conversation and the answer chosen for it."""

    message: str
    """What the user wrote: the first prompt, then each new message (chat) or added text (continue)."""
    seq: int | None = None
    """The sequence chosen as the answer; None while the turn is the newest."""
    answer: str | None = None
    """That sequence's text; None while the turn is the newest."""


@dataclass(frozen=True)
class Conversation:
    """Every turn so far, oldest first; only the newest is still unanswered."""

    mode: str
    """``chat`` or ``continue`` (see the module docstring)."""
    turns: tuple[Turn, ...]
    """The turns; the last one is the run on screen."""

    @classmethod
    def start(cls, prompt: str, prompt_format: str | None) -> "Conversation":
        """A conversation of one turn: a run's prompt, on a model of ``prompt_format``."""
        return cls(mode_for(prompt_format), (Turn(prompt),))

    def then(self, seq: int, answer: str, message: str) -> "Conversation":
        """The newest turn answered by sequence ``seq`` (its text ``answer``), then ``message``.
        An empty message is refused in a chat; in ``continue`` it means "go on as it is"."""
        if self.mode == "chat" and not message.strip():
            raise PromptError("the message is empty: write what the user says next")
        last = replace(self.turns[-1], seq=seq, answer=answer)
        return Conversation(self.mode, self.turns[:-1] + (last, Turn(message)))

    @property
    def earlier(self) -> tuple[Turn, ...]:
        """The answered turns, before the run on screen."""
        return self.turns[:-1]

    def messages(self) -> list[tuple[str, str]]:
        """``(role, content)`` of every turn: user, assistant, ..., user."""
        out: list[tuple[str, str]] = []
        for t in self.turns:
            out.append(("user", t.message))
            if t.answer is not None:
                out.append(("assistant", t.answer))
        return out

    def prompt(self, engine) -> str:
        """The newest turn's prompt for ``engine``: its chat template over the history, or the
        texts one after the other. Raises PromptError when the model's kind has changed."""
        kind = mode_for(getattr(engine, "prompt_format", "raw"))
        if kind != self.mode:
            raise PromptError(f"this conversation was a {self.mode} and the model now takes "
                              f"{'chat messages' if kind == 'chat' else 'raw text'}: "
                              "choose the model it was held with, or start a new run")
        if len(self.turns) == 1:
            return self.turns[0].message  # the first turn is an ordinary run
        if self.mode == "chat":
            return engine.format_messages(self.messages())
        return "".join(t.message + (t.answer or "") for t in self.turns)

    # the run file's "conversation" key -----------------------------------------------
    def to_json(self) -> dict:
        return {"mode": self.mode,
                "turns": [{"message": t.message, "seq": t.seq, "answer": t.answer} for t in self.turns]}

    @classmethod
    def from_json(cls, d: dict) -> "Conversation":
        """From a document ``files/run_file.py`` has checked."""
        return cls(d["mode"], tuple(Turn(t["message"], t.get("seq"), t.get("answer")) for t in d["turns"]))


def mode_for(prompt_format: str | None) -> str:
    """``chat`` for a model reading chat messages, ``continue`` for raw text."""
    return "chat" if prompt_format == "chat" else "continue"

