"""A fork by hand: at a token of a finished run, a new sequence takes another candidate
and decodes on (the TUI inspector's "fork here").

The run's tree is rebuilt from its records (as a continuation does), the owner's
prefix up to the token is re-prefilled once into a scaffold that the new sequence
copies, so it shares those KV cells like any forked sequence; then it decodes
until it finishes. Its fork is marked ``manual`` in the result and the JSON.
"""

from __future__ import annotations

from typing import Callable, Iterator

from .continuation import drop_scaffolds, rebuild_tree, scaffolds
from ..errors import SettingsError
from ..events import Event
from ..result import RunResult
from ..settings import Settings


def owner(run, seq: int, pos: int):
    """The sequence that generated token ``pos`` of ``seq``'s text (an ancestor for a shared one)."""
    seqs = run.tree.sequences
    if not 0 <= seq < len(seqs):
        raise SettingsError(f"no sequence {seq} to fork from (the run has {len(seqs)})")
    q = seqs[seq]
    if not 0 <= pos < len(q.tokens):
        raise SettingsError(f"sequence {seq} has no token {pos} (it has {len(q.tokens)})")
    while q.parent is not None and pos < q.fork_pos:
        q = seqs[q.parent]
    return q


def manual_settings(result: RunResult) -> Settings:
    """The settings of a fork by hand: the run's, with room for one more sequence."""
    return result.settings.with_(max_seqs=len(result.sequences) + 1)


def manual_start(seq: int, pos: int, token: int) -> Callable[..., Iterator[Event]]:
    """The start hook (RunState.start_from) that forks ``token`` at ``pos`` of ``seq``."""
    return lambda run, prompt_slot: start_manual(run, prompt_slot, seq, pos, token)


def start_manual(run, prompt_slot: int, seq: int, pos: int, token: int) -> Iterator[Event]:
    """Rebuild the finished tree and fork the new sequence (the run's ``start_from``)."""
    rebuild_tree(run, keep_candidates=True)
    parent = owner(run, seq, pos)
    if parent.tokens[pos] == token:
        raise SettingsError(f"sequence {parent.id} already took that token at {pos}: choose another candidate")
    # the prefix up to the token, re-prefilled once into a scaffold the new sequence copies
    sc = scaffolds(run, [(parent.id, pos)], prompt_slot)[parent.id]
    h = parent.entropies[pos]
    child = yield from run.fork(parent, pos, h, parent.tokens[pos], token, kv_source=sc, manual=True)
    top2 = parent.top2[pos] if parent.top2 and pos < len(parent.top2) else (parent.tokens[pos], token)
    # the new token was drawn from the parent's distribution there: the same candidates
    cands = parent.candidates[pos] if parent.candidates is not None else None
    yield from run.take(child, token, h, top2, cands)
    drop_scaffolds(run, [sc])
