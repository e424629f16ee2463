"""Prompt-prefix sharing: a run whose prompt begins like an admitted run's, or like an
entry of the prefix cache (decoding/prefix_cache.py), copies those KV cells (``seq_cp``:
shared, not duplicated) and prefills only the rest.
"""

from __future__ import annotations

from ..engine.base import Engine
from .prefix_cache import MIN_SHARED_PREFIX, PrefixCache
from .run_state import RunState


def share_prefix(run: RunState, active: list[RunState], engine: Engine,
                 prompt_cells: dict[int, list], enabled: bool, cache: PrefixCache | None = None) -> str:
    """Before a run prefills: copy the longest prompt prefix (at least MIN_SHARED_PREFIX
    tokens) it shares with a run admitted before it, so it prefills only the rest (in
    a unified cache the copy shares the cells: it costs neither time nor memory).
    "wait" while that run is still prefilling the shared part (one step, usually);
    "copied" or "none" once decided. Its last prompt token a run always decodes itself
    (its logits seed the run). A cache entry sharing as much as the run wins (no wait)."""
    if run.prefix_decided:
        return "none"
    donor, n = None, 0
    if enabled and run.resume is None and run.prefilled == 0:
        for other in active:
            if other is run:
                break  # only runs admitted before: no run waits for a later one
            if other.resume is None:
                k = common_prefix(run.prompt_ids, other.prompt_ids, run.n_prompt - 1)
                if k > n:
                    donor, n = other, k
        entry, k = cache.lookup(run.prompt_ids, run.n_prompt - 1) if cache is not None else (None, 0)
        if entry is not None and k >= n:
            _copy(run, engine, entry.seq, k, entry.spans, prompt_cells)
            return "copied"
    if donor is None or n < MIN_SHARED_PREFIX:
        run.prefix_decided = True
        return "none"
    held = donor.prefix_source()
    if held is None or held[1] < n:
        if not donor.seeded:
            return "wait"  # the donor's prefill has not reached the shared part yet
        run.prefix_decided = True
        return "none"  # its sequences have all finished: nothing left to copy
    _copy(run, engine, held[0], n, prompt_cells[donor.run_id], prompt_cells)
    return "copied"


def _copy(run: RunState, engine: Engine, source: int, n: int, spans: list,
          prompt_cells: dict[int, list]) -> None:
    """``run``'s first ``n`` prompt cells are ``source``'s (named by ``spans``)."""
    engine.copy_seq(source, run.prompt_slot, n)
    run.prefilled = run.cached_prompt = n  # prefill goes on from n
    run.prefix_decided = True
    own = prompt_cells[run.run_id][-1][0]  # the run's own cells, from n on
    prompt_cells[run.run_id] = [(o, a, min(b, n)) for o, a, b in spans if a < n] + [(own, n, run.n_prompt)]


def common_prefix(a: list[int], b: list[int], limit: int) -> int:
    """Length of the common prefix of ``a`` and ``b``, at most ``limit``."""
    n = 0
    for x, y in zip(a[:limit], b[:limit]):
        if x != y:
            break
        n += 1
    return n


def union_length(spans: list[tuple[int, int]]) -> int:
    """Positions covered by the union of half-open ``spans``."""
    total, end = 0, None
    for a, b in sorted(spans):
        if end is None or a > end:
            total, end = total + b - a, b
        elif b > end:
            total, end = total + b - end, b
    return total
