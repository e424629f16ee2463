"""What the controller needs from an inference engine.

Sequence ids here are engine *slots* (llama.cpp sequence ids), recycled by
``SlotPool``; each run maps its own sequence numbers onto the slots the
scheduler reserved for it.
"""

from __future__ import annotations

import heapq
from typing import Iterable, Protocol, Sequence

import numpy as np

from .candidates import Candidates  # noqa: F401  (named in the protocol)


class FormattedPrompt(str):
    """Prompt text already in the model's format (a conversation's history through its chat
    template): ``format_prompt`` leaves it alone, so a chat model reads it once templated."""


class Engine(Protocol):
    """A model with a multi-sequence KV cache, decoding one batch per call."""

    n_ctx: int
    """KV cells in the context (shared by all sequences)."""
    n_seq_max: int
    """Sequence ids must be below this."""
    n_batch: int
    """Most rows one ``decode`` call may take."""
    n_vocab: int

    def tokenize(self, text: str, add_special: bool = True) -> list[int]: ...

    def format_prompt(self, text: str) -> str:
        """The prompt as the model should see it (raw, or through its chat template);
        a ``FormattedPrompt`` as it is."""
        ...

    def format_messages(self, messages: Sequence[tuple[str, str]]) -> FormattedPrompt:
        """``(role, content)`` messages (user, assistant, ..., user) through the model's chat
        template, the assistant's turn opened: the prompt of a conversation's next turn."""
        ...

    def prompt_tokens(self, prompt: str) -> list[int]:
        """``format_prompt`` then ``tokenize`` with the model's own special-token rules."""
        ...

    def piece(self, token: int) -> bytes:
        """The bytes a token adds to the text (empty for control tokens)."""
        ...

    def is_eog(self, token: int) -> bool: ...

    def decode(
        self,
        seq_ids: Sequence[int],
        tokens: Sequence[int],
        positions: Sequence[int],
        logits: Sequence[bool],
    ) -> "np.ndarray | Candidates | None":
        """Decode one batch; return the logits of the flagged rows in batch order, or
        None if no KV slot was free, in which case nothing was decoded. The logits are
        full rows (rows × vocab, valid until the next call) or, where the engine
        samples on llama.cpp's backend, ``sampling.Candidates`` (the N best of each
        row). Both go to ``sampling.distributions`` and index per row (``out[i]``)."""
        ...

    def copy_seq(self, src: int, dst: int, n_pos: int) -> None:
        """Make ``dst`` share ``src``'s cells for positions [0, n_pos)."""
        ...

    def remove_seq(self, seq: int) -> None:
        """Drop every cell reference of ``seq``."""
        ...

    def clear(self) -> None:
        """Empty the KV cache."""
        ...


class SlotPool:
    """Free engine sequence ids, lowest first (deterministic reuse)."""

    def __init__(self, ids: Iterable[int]) -> None:
        self._free = list(ids)
        heapq.heapify(self._free)

    def __len__(self) -> int:
        """Ids free now."""
        return len(self._free)

    def take(self) -> int:
        if not self._free:
            raise RuntimeError("no free sequence id")  # the scheduler reserves M before a run starts
        return heapq.heappop(self._free)

    def give(self, slot: int) -> None:
        heapq.heappush(self._free, slot)
