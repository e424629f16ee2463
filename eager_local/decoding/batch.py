"""One step's batch: its rows, the one call into ``engine.decode``, and each row scored.

A row is a live sequence's pending token or a prompt token; ``model_call`` decodes a
chunk of rows and scores the rows that want logits with their run's settings (the only
place that calls the engine's decode and ``sampling``); ``charge`` and ``share`` split a
call's time among the runs by their rows.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..engine.base import Engine
from ..tree import LiveSequence
from . import sampling
from .run_state import RunState


@dataclass(frozen=True)
class Scored:
    """One decoded row, scored: what a run needs to choose the row's next token."""

    entropy: float
    """Top-K entropy (nats) after the run's temperature."""
    top2: tuple[int, int]
    """The two most likely tokens (a fork's parent and child tokens)."""
    candidates: tuple | None
    """Top candidates (token, probability) when the run records them."""
    dist: object
    """The row's distribution (sampling.RowDist)."""
    top_p: float
    """The run's nucleus mass."""

    def draw(self, rng: np.random.Generator) -> int:
        """Sample the token from the nucleus with the run's generator."""
        return sampling.sample_top_p(self.dist, self.top_p, rng)


def model_call(engine: Engine, rows: list["Row"], copy: bool) -> tuple[list[Scored] | None, float]:
    """Decode ``rows`` as one batch; score the rows that want logits with their run's
    settings. Returns (scores in row order, seconds); scores are None when no KV cell was free."""
    t0 = time.perf_counter()
    logits = engine.decode([r.slot for r in rows], [r.token for r in rows],
                           [r.pos for r in rows], [r.want for r in rows])
    seconds = time.perf_counter() - t0
    if logits is None:
        return None, seconds
    if copy:
        logits = logits.copy()  # the engine's buffer is overwritten by the next chunk (rows or Candidates)
    scores: list[Scored] = []
    start = 0
    for run, group in itertools.groupby((r for r in rows if r.want), key=lambda r: r.run):
        s, part = run.settings, logits[start : start + len(list(group))]
        start += len(part)
        greedy = s.method == "greedy"  # greedy never samples
        dists = sampling.distributions(
            part, s.temperature if s.temperature > 0 else 1.0, s.top_k_entropy,
            top_p=0.0 if greedy else s.top_p, need=s.record_candidates,
            exact_probs=s.record_candidates > 0,  # only shown candidates need them
        )
        for i, d in enumerate(dists):  # part[i]: a full row or one row of Candidates
            row = part[i]
            cands = sampling.top_candidates(d, s.record_candidates) if s.record_candidates else None
            scores.append(Scored(d.entropy, sampling.top_two(d, row), cands, d, s.top_p))
    return scores, seconds


@dataclass(eq=False)
class Row:
    """One row of a step's batch: a live sequence's pending token, or a prompt token."""

    run: RunState
    seq: LiveSequence | None
    """None for a prompt token."""
    slot: int
    token: int
    pos: int
    want: bool
    """Logits wanted (every sequence row; a prompt's last token)."""
    scored: Scored | None = None


def by_run(rows) -> Iterator[tuple[RunState, list[Row]]]:
    """Rows grouped by run (a run's rows are adjacent in a batch)."""
    for run, group in itertools.groupby(rows, key=lambda r: r.run):
        yield run, list(group)


def charge(chunk: list[Row], seconds: float, ok: bool) -> None:
    """A decode call's time, shared by rows; a run's rows count when decoded."""
    counts = [(run, len(group)) for run, group in by_run(chunk)]
    share(counts, seconds, "decode_s")
    if ok:
        for run, n in counts:
            run.decoded += n


def share(counts: list[tuple[RunState, int]], seconds: float, field: str) -> None:
    """Add ``seconds`` to each run's ``field`` in proportion to its rows."""
    total = sum(n for _, n in counts)
    for run, n in counts:
        setattr(run, field, getattr(run, field) + seconds * n / total)
