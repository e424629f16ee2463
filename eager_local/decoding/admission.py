"""Admission and KV reservation: what a run needs to finish, and who yields when the cache is full.

Each admitted run reserves the sequence ids and KV cells it may need (prompt + M × T cells,
M ids), so one run never pushes another's sequences out of the cache; when a decode finds
no free cell all the same, ``choose_victim`` names the sequence that ends (context_full).
"""

from __future__ import annotations

from ..errors import ContextError
from .batch import Row
from .run_state import RunState


def choose_victim(chunk: list[Row], reserved: dict[int, tuple[list[int], int]]) -> Row:
    """The row to drop when the cache is full: the youngest sequence of the run that is
    furthest over its KV reservation (a prompt row is never dropped: the prefill fails)."""
    seq_rows = [r for r in chunk if r.seq is not None]
    if not seq_rows:
        run = chunk[0].run
        raise ContextError(
            f"no free KV cells for a {run.n_prompt}-token prefill; the context holds {run.engine.n_ctx}"
        )
    over = {r.run: r.run.kv_cells() - reserved[r.run.run_id][1] for r in seq_rows}
    worst = max(over, key=lambda run: (over[run], run.run_id))
    return max((r for r in seq_rows if r.run is worst), key=lambda r: r.seq.id)


def first_rows(run: RunState) -> int:
    """Rows a run decodes right after its prompt: M for parallel sampling, else 1."""
    return run.settings.max_seqs if run.settings.method == "parallel" and run.resume is None else 1


def ids_needed(run: RunState) -> int:
    """Engine sequence ids a run may hold at once (a continued tree adds its prompt's)."""
    s = run.settings
    return (1 if s.method == "greedy" else s.max_seqs) + (1 if run.resume is not None else 0)


def cells_needed(run: RunState) -> int:
    """KV cells a run may need to finish: the prompt, and T tokens for every sequence."""
    s = run.settings
    return run.n_prompt + s.max_new_tokens * (1 if s.method == "greedy" else s.max_seqs)
