"""Parallel sampling with online pruning, as DeepConf-online runs it: the N_init warm-up
samples first, the other M − N_init once the warm-up has set the threshold.

Started together, M samples of a short answer end within a few tokens of each
other, so a threshold learned when the first N_init end would come too late to
save anything. Here the prompt's KV cells are held on one more engine sequence
(a scaffold, no new cells) while the warm-up decodes; when the warm-up is over
(its last sample ended, or s is known), the rest start from the same prompt
distribution and share the same prompt cells.
"""

from __future__ import annotations

import copy
from typing import Iterator

from ..events import Event
from ..tree import LiveSequence


def start(run, scored) -> Iterator[Event]:
    """Seed the warm-up samples and keep the prompt held for the rest."""
    s = run.settings
    run.first_scored = copy.deepcopy(scored)  # the rest draw from it steps later
    held = LiveSequence(id=-1, parent=None, fork_pos=0, kv_base=0)
    held.slot = run.slots.take()
    run.engine.copy_seq(run.prompt_slot, held.slot, run.n_prompt)
    run.tree.scaffolds.append(held)
    yield from seed_samples(run, range(s.prune_warmup), run.prompt_slot, scored)


def due(run) -> bool:
    """True when the rest of the samples should start now."""
    return run.first_scored is not None and (run.pruner.threshold is not None or not run.tree.live())


def rest(run) -> Iterator[Event]:
    """Start the other M − N_init samples (none when a consensus already ended the prompt)."""
    held = run.tree.scaffolds.pop()
    scored, run.first_scored = run.first_scored, None
    if run.pruner.stopped:
        _drop(run, held)
        return
    n = len(run.tree.sequences)
    yield from seed_samples(run, range(n, run.settings.max_seqs), held.slot, scored)


def seed_samples(run, ids, source: int, scored) -> Iterator[Event]:
    """Samples ``ids`` after the prompt: the first takes engine sequence ``source``, the
    others copy its prompt cells; each draws its first token from ``scored``."""
    new = []
    for k, i in enumerate(ids):
        q = run.tree.add(LiveSequence(id=i, parent=None, fork_pos=0, candidates=run.new_candidates()))
        q.slot = source if k == 0 else run.slots.take()
        if k:
            run.engine.copy_seq(source, q.slot, run.n_prompt)
        new.append(q)
    yield from run.choose(new, [scored] * len(new))


def _drop(run, held: LiveSequence) -> None:
    run.engine.remove_seq(held.slot)
    run.slots.give(held.slot)
    held.slot = -1
    run.track_kv()
