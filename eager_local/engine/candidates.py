"""The N best logits of each row, as llama.cpp's backend sampler hands them back.

Plain data shared by the engine (which fills it) and sampling (which reads it in place
of full rows).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Candidates:
    """The N best logits of each row, as llama.cpp's backend ``top_k(N)`` hands them back.

    ``distributions`` takes it in place of full rows; ``c[i]`` is row i (one row)."""

    ids: np.ndarray
    """Token ids, rows × N, descending logit (ties: lower id first)."""
    logits: np.ndarray
    """Their logits (float32, before temperature), rows × N."""
    n_vocab: int
    """Tokens in the vocabulary: every token left out has a logit ≤ the N-th."""

    @staticmethod
    def from_unsorted(ids: np.ndarray, logits: np.ndarray, n_vocab: int) -> "Candidates":
        """Sort each row (the backend's top-k is in no particular order)."""
        order = np.lexsort((ids, -logits), axis=1)
        return Candidates(np.take_along_axis(ids, order, axis=1),
                          np.take_along_axis(logits, order, axis=1), int(n_vocab))

    @property
    def shape(self) -> tuple[int, int]:
        return self.ids.shape

    def __len__(self) -> int:
        return self.ids.shape[0]

    def __getitem__(self, key) -> "Candidates":
        if isinstance(key, tuple) and key and key[0] is None:  # row[None, :]: a row is already 2-D
            if len(self) != 1:
                raise IndexError("only a single row can take a new leading axis")
            return self
        if isinstance(key, (int, np.integer)):
            key = slice(key, key + 1 if key != -1 else None)
        return Candidates(self.ids[key], self.logits[key], self.n_vocab)

    def copy(self) -> "Candidates":
        return Candidates(self.ids.copy(), self.logits.copy(), self.n_vocab)

    @staticmethod
    def stack(rows: "list[Candidates]") -> "Candidates":
        """Rows (each a ``Candidates``) as one."""
        return Candidates(np.concatenate([r.ids for r in rows]), np.concatenate([r.logits for r in rows]),
                          rows[0].n_vocab)

    def __array__(self, *args, **kwargs):  # not full rows: never let numpy guess
        raise TypeError("Candidates hold the best N logits of each row, not full rows")
