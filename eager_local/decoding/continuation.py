"""Continuing a finished EAGER tree to a higher cap (budget reallocation, phase 2).

``missed_forks`` finds where the first run's entropy reached θ but the cap M stopped
a fork; ``start_resumed`` rebuilds the tree from its records and forks new children
there, earliest first. The engine's KV was cleared after the first run, so each
parent's prefix is re-prefilled once into a hidden *scaffold* sequence that the
new children copy.
"""

from __future__ import annotations

from typing import Iterator

from ..errors import ContextError
from ..events import Event
from ..method import branch_region
from ..result import RunResult
from ..tree import LiveSequence


def missed_forks(result: RunResult, theta: float) -> list[tuple[int, int]]:
    """(sequence, index) where H ≥ θ but no fork happened, earliest index first.

    Every sequence generates in lockstep, so index order is time order. A child's
    first token is its parent's fork and is skipped, as are positions that already
    forked, positions past the monitoring window, and sequences without top-2 data.
    """
    done = {(f.parent, f.pos) for f in result.forks}
    window = result.settings.monitor_window
    out = []
    for rec in result.sequences:
        if not rec.top2:
            continue
        last = rec.fork_pos
        start = rec.fork_pos + (1 if rec.parent is not None else 0)
        forked = sorted(pos for (p, pos) in done if p == rec.id)
        for i in range(start, len(rec.tokens)):
            while forked and forked[0] <= i:
                last = forked.pop(0)
            if i - last >= window:
                break
            if rec.entropies[i] >= theta and (rec.id, i) not in done:
                out.append((rec.id, i))
    out.sort(key=lambda t: (t[1], t[0]))
    return out


def start_resumed(run, prompt_slot: int) -> Iterator[Event]:
    """Rebuild ``run.resume``'s tree and fork new children at its missed forks.

    ``run`` is the controller's run state (tree, slots, engine, prefill, fork, take).
    """
    points = _rebuild(run)
    if not points:
        run.engine.remove_seq(prompt_slot)
        run.slots.give(prompt_slot)
        return
    if len(points) + len({p for p, _ in points}) + 1 > run.engine.n_seq_max:
        raise ContextError("too many forks to continue at once; lower the extra budget")
    scaffold = scaffolds(run, points, prompt_slot)
    for p, i in points:
        yield from _fork_missed(run, p, i, scaffold[p])
    drop_scaffolds(run, scaffold.values())


def drop_scaffolds(run, held) -> None:
    """Free the scaffolds' engine sequences once their children hold the prefix."""
    for sc in held:
        run.engine.remove_seq(sc.slot)
        run.slots.give(sc.slot)
        sc.slot = -1
    run.track_kv()


def rebuild_tree(run, keep_candidates: bool = False) -> None:
    """The previous run's sequences and forks, finished, in the run's tree (with their
    recorded candidates when ``keep_candidates``)."""
    prev = run.resume
    for rec in prev.sequences:
        run.tree.add(LiveSequence.from_record(rec, candidates=keep_candidates and rec.candidates is not None))
    for f in prev.forks:
        run.tree.sequences[f.parent].forked_at.add(f.pos)
    run.tree.forks.extend(prev.forks)


def _rebuild(run) -> list[tuple[int, int]]:
    """The previous tree as live-sequence records; the missed forks that fit the new cap."""
    prev = run.resume
    rebuild_tree(run, keep_candidates=run.settings.record_candidates > 0)
    room = run.settings.max_seqs - len(run.tree.sequences)
    points = branch_region.keep_points(missed_forks(prev, run.settings.theta), prev.sequences,
                                       run.settings.branch_region, run.model and run.model.think)
    return points[: max(0, room)]


def scaffolds(run, points, prompt_slot: int) -> dict[int, LiveSequence]:
    """One scaffold per parent, holding its re-prefilled prefix up to its latest point."""
    upto: dict[int, int] = {}
    for p, i in points:
        upto[p] = max(upto.get(p, 0), i)
    scaffold: dict[int, LiveSequence] = {}
    for p, n in sorted(upto.items()):
        sc = LiveSequence(id=-1, parent=None, fork_pos=0, kv_base=0)
        sc.slot = run.slots.take()
        run.engine.copy_seq(prompt_slot, sc.slot, run.n_prompt)
        if n:
            run.prefill(sc.slot, list(run.tree.sequences[p].tokens[:n]), run.n_prompt, False)
        sc.decoded = n
        scaffold[p] = sc
        run.tree.scaffolds.append(sc)
    run.engine.remove_seq(prompt_slot)
    run.slots.give(prompt_slot)
    run.track_kv()
    return scaffold


def _fork_missed(run, p: int, i: int, scaffold: LiveSequence) -> Iterator[Event]:
    """Fork a child off sequence ``p`` at index ``i``: it takes the token ``p`` did not."""
    parent = run.tree.sequences[p]
    a, c = parent.top2[i]
    tok = c if parent.tokens[i] == a else a
    h = parent.entropies[i]
    child = yield from run.fork(parent, i, h, parent.tokens[i], tok, kv_source=scaffold)
    # the child inherits the parent's recorded candidates (None when the parent has none);
    # its token was drawn from the parent's distribution at i: the same candidates
    cands = parent.candidates[i] if parent.candidates is not None else None
    yield from run.take(child, tok, h, parent.top2[i], cands)
