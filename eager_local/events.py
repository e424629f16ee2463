"""The one event stream: the controller yields these; CLI, TUI and evaluation consume them.

Events are frozen values. Sequence ids are eager-local's own (creation order),
never llama.cpp sequence ids, which are recycled.
"""

from __future__ import annotations

from dataclasses import dataclass

from .result import Fork, ModelInfo, RunResult
from .settings import Settings


@dataclass(frozen=True)
class RunStarted:
    """Decoding of a prompt is about to start (the prompt is tokenized)."""

    prompt: str
    prompt_tokens: int
    settings: Settings
    model: ModelInfo | None
    n_ctx: int
    """KV cells the engine's context holds."""


@dataclass(frozen=True)
class Notice:
    """Something the user should know that does not stop the run."""

    message: str


@dataclass(frozen=True)
class TokenSampled:
    """Sequence ``seq`` took ``token`` as its generated token number ``index``."""

    seq: int
    index: int
    token: int
    piece: str
    """Text this token added to the sequence (may be '' mid UTF-8 character)."""
    entropy: float
    """Top-K entropy (nats) of the distribution the token was chosen from."""
    forked: bool
    """True when this token is the parent's side of a fork at this position."""
    candidates: tuple[tuple[int, float], ...] | None = None
    """Top candidates (token, probability) when Settings.record_candidates > 0."""


@dataclass(frozen=True)
class Forked:
    """Sequence ``fork.child`` split off ``fork.parent`` at generated position ``fork.pos``.

    The parent took ``fork.parent_token`` (most likely), the child ``fork.child_token``
    (second). The child's own TokenSampled event for position ``pos`` follows.
    """

    fork: Fork
    """The fork, as the result stores it."""
    parent_piece: str
    """Text of the parent's token."""
    child_piece: str
    """Text of the child's token."""

    @property
    def parent(self) -> int:
        return self.fork.parent

    @property
    def child(self) -> int:
        return self.fork.child

    @property
    def pos(self) -> int:
        return self.fork.pos

    @property
    def entropy(self) -> float:
        return self.fork.entropy

    @property
    def parent_token(self) -> int:
        return self.fork.parent_token

    @property
    def child_token(self) -> int:
        return self.fork.child_token


@dataclass(frozen=True)
class SequenceFinished:
    """A sequence ended: ``reason`` is eog, stop, length, context_full, cancelled, pruned
    (its confidence fell below the threshold) or consensus (the finished ones agreed)."""

    seq: int
    reason: str
    n_tokens: int
    text: str


@dataclass(frozen=True)
class StepFinished:
    """One batched decode step is done (for live counters)."""

    step: int
    live: int
    finished: int
    created: int
    kv_cells: int
    generated_tokens: int
    decoded_tokens: int
    elapsed_s: float
    decode_s: float


@dataclass(frozen=True)
class RunFinished:
    """The prompt is done; ``result`` holds everything."""

    result: RunResult


Event = RunStarted | Notice | TokenSampled | Forked | SequenceFinished | StepFinished | RunFinished
