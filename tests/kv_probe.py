"""Counting llama.cpp's free KV cells from outside, to check the controller's accounting."""

from __future__ import annotations

from eager_local.events import RunFinished, StepFinished


def free_cells(engine) -> int:
    """Decode one-token rows into an unused sequence id until llama.cpp has no slot left."""
    probe_seq, k = engine.n_seq_max - 1, 0
    while engine.decode([probe_seq], [10], [k], [False]) is not None:
        k += 1
    engine.remove_seq(probe_seq)
    return k


def run_checking_kv(sched, engine, steps) -> tuple[int, int, dict]:
    """Drain ``sched``; at each step in ``steps`` assert the scheduler's KV count equals
    what llama.cpp holds. Returns (checks made, most runs active at once, results by run)."""
    checked, together, results = 0, 0, {}
    for rid, ev in sched.events():
        if isinstance(ev, StepFinished) and ev.step in steps:
            assert engine.n_ctx - free_cells(engine) == sched.kv_cells(), f"run {rid} step {ev.step}"
            checked += 1
            together = max(together, len(sched.active))
        if isinstance(ev, RunFinished):
            results[rid] = ev.result
    return checked, together, results
