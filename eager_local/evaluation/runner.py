"""The evaluation loop: every item through the model, checked, one record per prompt.

Methods: ``parallel``, ``eager`` (EAGer-init), ``greedy``, and the two-phase
``eager-adapt`` / ``eager-full`` (EAGer-init over the dataset, then the budget
reallocation of ``eager_local.method.budget``). Two-phase runs write an ``init`` record
per prompt in phase 1 and a ``final`` record per prompt in phase 2; one-phase
runs write ``final`` records only. A resumed run skips every prompt that has a
``final`` record and, in phase 2, rebuilds phase-1 trees from their ``init``
records (they keep the top-2 tokens the continuation needs), so nothing is
decoded twice.

Continuing a saturating prompt re-prefills its tree's prefix once per parent
(the engine's KV is cleared between prompts); see controller.generate(resume=).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Callable

from ..errors import OutputError, SettingsError
from ..method import budget
from ..settings import Settings
from .answers import Checker
from .datasets import Dataset
from .eval_record import EvalRecord
from .item_work import LocalWorkers, Task, WorkSpec, dataset_info
from .item_work import append_runs, derive_seed  # noqa: F401 (their old home)
from .prompts import PromptFormat
from .records import RecordWriter, read_records

METHODS = budget.EVAL_METHODS


class Interrupted(Exception):
    """The run was cancelled (Ctrl-C / SIGTERM); every finished prompt is on disk."""


@dataclass(frozen=True)
class Progress:
    """Where the run is, for a progress display."""

    phase: str
    """``init`` (EAGer-init of a two-phase run), ``extra`` (reallocation) or ``final``."""
    done: int
    """Prompts of this phase finished (resumed ones included)."""
    total: int
    pass_k: float
    """Mean Pass@k of the prompts scored so far."""
    generated_tokens: int
    """Sum over the prompts scored so far."""
    decoded_tokens: int


def check_method(method: str) -> str:
    if method not in METHODS:
        raise SettingsError(f"unknown method {method!r}: use one of {', '.join(METHODS)}")
    return method


class Runner:
    """Runs one method over a dataset into one run file."""

    def __init__(
        self,
        model,
        dataset: Dataset,
        fmt: PromptFormat,
        checker: Checker,
        method: str,
        settings: Settings,
        out: str,
        *,
        resume: bool = False,
        init_from: str | None = None,
        cancel: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        concurrency: int | str = 1,
        workers=None,
    ) -> None:
        self.model, self.data, self.fmt, self.checker = model, dataset, fmt, checker
        self.method = check_method(method)
        phase1 = "eager" if method.startswith("eager") else method
        self.base = model.settings(settings.with_(method=phase1).with_stops(fmt.stop))
        self.out, self.resume, self.init_from = out, resume, init_from
        self.cancel = cancel or threading.Event()
        self.concurrency = concurrency
        """Prompts decoding together (``auto``, or an integer; 1: one at a time)."""
        self.on_progress = on_progress or (lambda p: None)
        self.plan: budget.Plan | None = None
        """The reallocation of a two-phase run, once phase 1 is done."""
        self.fingerprint = {
            "method": method,
            "settings": self.base.to_dict(),
            "model_sha256": model.info.sha256,
            "model_path": model.info.path,
            "dataset": dataset.path,
            "items": len(dataset.items),
            "format": fmt.describe(),
        }
        self.spec = WorkSpec(dataset, fmt, checker, self.method, self.base, self.fingerprint)
        self.workers = LocalWorkers(model, concurrency) if workers is None else workers
        """Where items run: this process (``LocalWorkers``) or a pool such as Ray's."""
        self.workers.start(self.spec, self.cancel)

    # ------------------------------------------------------------------
    def run(self) -> list[EvalRecord]:
        """Run (or finish) the evaluation; return the final records in item order."""
        existing = read_records(self.out) if self.resume and _nonempty(self.out) else []
        self._check_same_run(existing)
        init = {r.id: r for r in existing if r.phase == "init"}
        final = {r.id: r for r in existing if r.phase == "final"}
        with RecordWriter(self.out) as w:
            if self.method in ("eager-adapt", "eager-full"):
                self._two_phase(w, init, final)
            else:
                self._phase(w, "final", final)
        return [final[it.id] for it in self.data.items]

    def _two_phase(self, w, init, final) -> None:
        if self.init_from:
            self._adopt(w, init)
        self._phase(w, "init", init)
        outcomes = [
            budget.Outcome(it.id, init[it.id].n_sequences, init[it.id].correct > 0)
            for it in self.data.items
        ]
        plan = budget.reallocate(self.method, outcomes, self.base.max_seqs, self.base.theta)
        self.plan = plan
        self._phase(w, "final", final, plan=plan, init=init)

    def _adopt(self, w, init) -> None:
        """Take phase-1 records from an ``eager`` run with the same settings (same seeds,
        so the same trees EAGer-init would decode here)."""
        donor = {r.id: r for r in read_records(self.init_from) if r.phase == "final"}
        want = dict(self.fingerprint, method="eager")
        for it in self.data.items:
            r = donor.get(it.id)
            if it.id in init or r is None:
                continue
            theirs = as_written_now(r.run_config)
            for k in ("method", "settings", "model_sha256", "format"):
                if theirs.get(k) != want[k]:
                    raise OutputError(
                        f"--init-from {self.init_from}: its {k} differs from this run's; it must be "
                        "an eager run with the same model, settings and prompts"
                    )
            rec = replace(r, phase="init", method=self.method, run_config=self.fingerprint,
                          index=self.data.items.index(it), dataset=dataset_info(self.data))
            w.write(rec)
            init[it.id] = rec

    def _phase(self, w, phase, done: dict, plan=None, init=None) -> None:
        """Run every item of the phase not in ``done`` on the workers, writing each record
        as it arrives (in any order); ``Interrupted`` once the cancel event stopped them."""
        scored = dict(done)
        total = len(self.data.items)
        self._report(phase, scored, total)
        tasks = [Task(i, None if init is None else init[it.id])
                 for i, it in enumerate(self.data.items) if it.id not in done]
        for rec in self.workers.records(tasks, plan, self.cancel):
            rec = replace(rec, phase=phase)
            w.write(rec)
            done[rec.id] = scored[rec.id] = rec
            self._report(phase, scored, total)
        if self.cancel.is_set() and len(done) < total:
            raise Interrupted(f"interrupted; {len(scored)} prompts of this phase are saved")

    def _report(self, phase, scored, total) -> None:
        recs = list(scored.values())
        self.on_progress(Progress(
            phase, len(recs), total,
            sum(r.pass_any for r in recs) / len(recs) if recs else 0.0,
            sum(r.generated_tokens for r in recs),
            sum(r.decoded_tokens for r in recs),
        ))

    def _check_same_run(self, existing: list[EvalRecord]) -> None:
        for r in existing:
            theirs = as_written_now(r.run_config)
            for k, v in self.fingerprint.items():
                if theirs.get(k) != v:
                    raise OutputError(
                        f"{self.out} holds a run with a different {k} (prompt {r.id!r}): "
                        "resume with the same options, or choose another --out"
                    )


def as_written_now(run_config: dict) -> dict:
    """A record's ``run_config`` with the settings keys an older eager-local did not write
    yet filled in, so that its file still resumes: each takes its default, and a missing
    ``branch_region`` is ``all`` (older versions forked anywhere; "auto" is resolved per
    model before it is recorded)."""
    recorded = run_config.get("settings")
    if not isinstance(recorded, dict):
        return run_config
    filled = {**Settings().to_dict(), "branch_region": "all", **recorded}
    return {**run_config, "settings": filled}


def _nonempty(path) -> bool:
    import os

    return os.path.exists(path) and os.path.getsize(path) > 0
