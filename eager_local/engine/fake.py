"""A deterministic engine in pure Python, for tests and for the TUI's demo mode.

It keeps a faithful model of a unified KV cache: every decoded row occupies one
cell tagged with the sequences that use it; ``copy_seq`` adds a tag, ``remove_seq``
drops it, and a cell with no tag is free. It checks what llama.cpp would abort on
(batch larger than n_batch, bad sequence ids, positions that skip) by raising
``AssertionError``, so a controller bug fails the test instead of passing.

Logits come from ``script(history) -> np.ndarray`` where ``history`` is the
tuple of tokens of the sequence (prompt included) up to the row being decoded.
"""

from __future__ import annotations

import hashlib
from typing import Callable, Sequence

import numpy as np

from .base import FormattedPrompt

Script = Callable[[tuple[int, ...]], np.ndarray]


def peaked(vocab: int, token: int, margin: float = 12.0) -> np.ndarray:
    """Logits where ``token`` is all but certain (entropy ≈ 0)."""
    x = np.zeros(vocab, dtype=np.float32)
    x[token] = margin
    return x


def flat(vocab: int, tokens: Sequence[int]) -> np.ndarray:
    """Logits uniform over ``tokens`` (entropy = ln len(tokens) at any temperature)."""
    x = np.full(vocab, -50.0, dtype=np.float32)
    x[list(tokens)] = 0.0
    return x


def hashed_script(vocab: int, spread: float = 4.0) -> Script:
    """A deterministic pseudo-model: logits seeded by a hash of the history."""

    def script(history: tuple[int, ...]) -> np.ndarray:
        h = hashlib.blake2b(np.asarray(history[-8:], dtype=np.int64).tobytes(), digest_size=8)
        rng = np.random.default_rng(int.from_bytes(h.digest(), "little"))
        return (rng.standard_normal(vocab) * spread).astype(np.float32)

    return script


class FakeEngine:
    """An ``Engine`` over a scripted pseudo-model (see module docstring)."""

    def __init__(
        self,
        script: Script,
        vocab: int = 32,
        n_ctx: int = 4096,
        n_seq_max: int = 256,
        n_batch: int = 512,
        eog: Sequence[int] = (1,),
        pieces: dict[int, bytes] | None = None,
        prompt_format: str = "raw",
    ) -> None:
        self.script = script
        self.prompt_format = prompt_format
        """``raw``, or ``chat``: prompts go through ``format_messages``' plain transcript."""
        self.n_vocab = vocab
        self.n_ctx = n_ctx
        self.n_seq_max = n_seq_max
        self.n_batch = n_batch
        self.eog = set(eog)
        self.pieces = pieces or {}
        self.cells: dict[int, tuple[int, set[int]]] = {}  # cell -> (token position, seqs)
        self.hist: dict[int, list[int]] = {}
        self._next_cell = 0
        self.decode_calls = 0
        self.decoded_rows = 0

    # text ---------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        return ([2] if add_special else []) + [3 + (b % (self.n_vocab - 3)) for b in data]

    def format_prompt(self, text: str) -> str:
        if self.prompt_format != "chat" or isinstance(text, FormattedPrompt):
            return text
        return self.format_messages([("user", text)])

    def format_messages(self, messages: Sequence[tuple[str, str]]) -> FormattedPrompt:
        """A plain transcript standing in for a chat template: ``<role>content</role>`` per
        message, then the assistant's turn opened."""
        return FormattedPrompt("".join(f"<{role}>{content}</{role}>\n" for role, content in messages)
                               + "<assistant>")

    def prompt_tokens(self, prompt: str) -> list[int]:
        return self.tokenize(self.format_prompt(prompt), add_special=True)

    def piece(self, token: int) -> bytes:
        if token in self.pieces:
            return self.pieces[token]
        if token in self.eog or token < 3:
            return b""
        return f"t{token} ".encode()

    def is_eog(self, token: int) -> bool:
        return token in self.eog

    # KV -----------------------------------------------------------------
    @property
    def used_cells(self) -> int:
        return len(self.cells)

    def decode(self, seq_ids, tokens, positions, logits):
        n = len(tokens)
        assert 0 < n <= self.n_batch, f"batch of {n} rows exceeds n_batch {self.n_batch}"
        assert len(seq_ids) == len(positions) == len(logits) == n
        if len(self.cells) + n > self.n_ctx:
            return None
        for s, p in zip(seq_ids, positions):
            assert 0 <= s < self.n_seq_max, f"sequence id {s} out of range"
        out = []
        for s, t, p, want in zip(seq_ids, tokens, positions, logits):
            h = self.hist.setdefault(s, [])
            assert p == len(h), f"seq {s}: position {p} but {len(h)} cells held"
            h.append(int(t))
            self.cells[self._next_cell] = (p, {s})
            self._next_cell += 1
            if want:
                out.append(np.asarray(self.script(tuple(h)), dtype=np.float32))
        self.decode_calls += 1
        self.decoded_rows += n
        if not out:
            return np.zeros((0, self.n_vocab), dtype=np.float32)
        return np.stack(out)

    def copy_seq(self, src: int, dst: int, n_pos: int) -> None:
        assert src != dst and 0 <= dst < self.n_seq_max
        assert len(self.hist.get(src, [])) >= n_pos, "copy beyond the source's cells"
        assert not self.hist.get(dst), f"copy into non-empty seq {dst}"
        self.hist[dst] = list(self.hist[src][:n_pos])
        for _, (p, seqs) in self.cells.items():
            if src in seqs and p < n_pos:
                seqs.add(dst)

    def remove_seq(self, seq: int) -> None:
        self.hist.pop(seq, None)
        for c in [c for c, (_, seqs) in self.cells.items() if seq in seqs]:
            seqs = self.cells[c][1]
            seqs.discard(seq)
            if not seqs:
                del self.cells[c]

    def clear(self) -> None:
        self.cells.clear()
        self.hist.clear()
        if getattr(self, "prefix_cache", None) is not None:
            self.prefix_cache.forget()  # its cells are gone
