"""The evaluation loop: every item through the model, checked, one record per prompt.

Methods: ``parallel``, ``eager`` (EAGer-init), ``greedy``, and the two-phase
``eager-adapt`` / ``eager-full`` (EAGer-init over the dataset, then the budget
reallocation of ``eager_local.budget``). Two-phase runs write an ``init`` record
per prompt in phase 1 and a ``final`` record per prompt in phase 2; one-phase
runs write ``final`` records only. A resumed run skips every prompt that has a
``final`` record and, in phase 2, rebuilds phase-1 trees from their ``init``
records (they keep the top-2 tokens the continuation needs), so nothing is
decoded twice.

Continuing a saturating prompt re-prefills its tree's prefix once per parent
(the engine's KV is cleared between prompts); see controller.generate(resume=).
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from .. import budget
from ..errors import ContextError, OutputError, PromptError, SettingsError
from ..final_answer import answer_part
from ..result import Fork, RunResult, RunStats
from ..settings import Settings
from .answers import Checker
from .confidence import sequence_confidence
from .concurrent import Request, finished
from .datasets import Dataset, Item
from .metrics import score_prompt
from .prompts import PromptFormat
from .eval_record import EvalRecord, RecordedFork, ScoredSequence
from .records import RecordWriter, read_records, result_from_doc, run_doc

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


def derive_seed(base: int, item_id: str, salt: str = "") -> int:
    """A per-prompt seed: the same item gets the same draws whatever ran before it."""
    h = hashlib.blake2b(f"{base}\0{item_id}\0{salt}".encode(), digest_size=4).digest()
    return int.from_bytes(h, "little") & 0x7FFFFFFF


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
                self._phase(w, "final", self.data.items, final, self._one)
        return [final[it.id] for it in self.data.items]

    def _two_phase(self, w, init, final) -> None:
        if self.init_from:
            self._adopt(w, init)
        self._phase(w, "init", self.data.items, init, self._one)
        outcomes = [
            budget.Outcome(it.id, init[it.id].n_sequences, init[it.id].correct > 0)
            for it in self.data.items
        ]
        plan = budget.reallocate(self.method, outcomes, self.base.max_seqs, self.base.theta)
        self.plan = plan
        self._phase(w, "final", self.data.items, final,
                    lambda it: self._extra(it, init[it.id], plan), scored=dict(final))

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
                          index=self.data.items.index(it), dataset=self._dataset_info())
            w.write(rec)
            init[it.id] = rec

    def _dataset_info(self) -> dict:
        d = self.data
        return {"name": d.name, "path": d.path, "kind": d.kind, "items": len(d.items),
                "total": d.total, "offset": d.offset}

    def _phase(self, w, phase, items, done: dict, work, scored=None) -> None:
        scored = dict(done) if scored is None else scored
        total = len(self.data.items)
        self._report(phase, scored, total)
        todo = [it for it in items if it.id not in done]
        for it, rec in finished(self.model, todo, work, self.concurrency, self.cancel):
            if self.cancel.is_set():  # a run cut short by the interrupt is not a result
                break
            rec = replace(rec, phase=phase)
            w.write(rec)
            done[it.id] = scored[it.id] = rec
            self._report(phase, scored, total)
        if self.cancel.is_set() and any(it.id not in done for it in todo):
            raise Interrupted(f"interrupted; {len(scored)} prompts of this phase are saved")

    def _report(self, phase, scored, total) -> None:
        recs = list(scored.values())
        self.on_progress(Progress(
            phase, len(recs), total,
            sum(r.pass_any for r in recs) / len(recs) if recs else 0.0,
            sum(r.generated_tokens for r in recs),
            sum(r.decoded_tokens for r in recs),
        ))

    # ------------------------------------------------------------------
    def _generate(self, it: Item, settings: Settings, resume: RunResult | None = None):
        """Decode the item's prompt (through ``concurrent.finished``); returns the result."""
        return (yield Request(self.fmt.render(it), settings, resume))

    def _one(self, it: Item):
        """The work of phase 1 (or of a one-phase method): yields a Request, returns the EvalRecord."""
        s = self.base.with_(seed=derive_seed(self.base.seed, it.id))
        try:
            r = yield from self._generate(it, s)
        except (PromptError, ContextError) as e:  # this item cannot run; the others can
            return self._failed(it, s, e.one_line())
        return self._record(it, r, ["init"] * len(r.sequences), s, None)

    def _failed(self, it: Item, s: Settings, why: str) -> EvalRecord:
        """The record of an item that could not be decoded: zeros and the reason."""
        m = self.model.info
        return EvalRecord(
            id=it.id, index=self.data.items.index(it), method=self.method, question=it.question,
            reference=it.answer if self.data.kind != "code" else None, sequences=(), origins=(),
            branches=(), n_sequences=0, correct=0, pass_any=False, cons=False, pass_rate=0.0,
            generated_tokens=0, decoded_tokens=0, prompt_tokens=0, wall_s=0.0, check_s=0.0,
            settings=s.to_dict(), extra_settings=None,
            model=None if m is None else {"alias": m.alias, "path": m.path, "sha256": m.sha256},
            dataset=self._dataset_info(), run_config=self.fingerprint, run=None, error=why,
        )

    def _extra(self, it: Item, init_rec: EvalRecord, plan: budget.Plan):
        """The work of phase 2: yields the Requests it needs, returns the EvalRecord."""
        init_fig = {k: getattr(init_rec, k) for k in (
            "n_sequences", "correct", "pass_any", "cons", "generated_tokens", "decoded_tokens", "wall_s")}
        if init_rec.error is not None:  # failed in phase 1: nothing to add to
            return replace(init_rec, extra=None, plan=plan.to_dict(), init=init_fig)
        prev = result_from_doc(init_rec.run)
        origins = list(init_rec.origins)
        extra = plan.for_id(it.id)
        s2 = None
        if extra is not None and extra.action == "continue":
            s2 = self.base.with_(max_seqs=extra.max_seqs, theta=extra.theta,
                                 seed=derive_seed(self.base.seed, it.id, "continue"))
            r = yield from self._generate(it, s2, resume=prev)
            origins += ["continue"] * (len(r.sequences) - len(prev.sequences))
        elif extra is not None:
            s2 = self.base.with_(max_seqs=extra.max_seqs, theta=extra.theta,
                                 seed=derive_seed(self.base.seed, it.id, "rerun"))
            more = yield from self._generate(it, s2)
            r = append_runs(prev, more)
            origins += ["rerun"] * len(more.sequences)
        else:
            r = prev
        rec = self._record(it, r, origins, prev.settings, s2)
        return replace(rec, extra=None if extra is None else {
            "action": extra.action, "cap": extra.cap, "max_seqs": extra.max_seqs, "theta": extra.theta,
        }, plan=plan.to_dict(), init=init_fig)

    def _record(self, it: Item, r: RunResult, origins, s: Settings, s2: Settings | None) -> EvalRecord:
        t0 = time.perf_counter()
        think = r.model.think if r.model else None  # a reasoning model's answer follows its thoughts
        verdicts = [self.checker.check(it, answer_part(seq.text, think) or "") for seq in r.sequences]
        check_s = time.perf_counter() - t0
        score = score_prompt([v.answer for v in verdicts], [v.correct for v in verdicts])
        confs = [sequence_confidence(q.entropies, s.top_k_entropy) for q in r.sequences]
        m = r.model
        return EvalRecord(
            id=it.id,
            index=self.data.items.index(it),
            method=self.method,
            question=it.question,
            reference=it.answer if self.data.kind != "code" else None,
            sequences=tuple(
                ScoredSequence(q.id, q.parent, q.fork_pos, o, q.text, v.answer, v.correct, v.detail,
                               q.finish_reason, len(q.tokens), q.n_own, c.mean, c.lowest_window)
                for q, v, o, c in zip(r.sequences, verdicts, origins, confs)
            ),
            origins=tuple(origins),
            branches=tuple(RecordedFork(b.parent, b.child, b.pos, round(b.entropy, 4)) for b in r.forks),
            n_sequences=score.n,
            correct=score.correct,
            pass_any=score.pass_any,
            cons=score.cons,
            pass_rate=score.pass_rate,
            generated_tokens=r.stats.generated_tokens,
            decoded_tokens=r.stats.decoded_tokens,
            prompt_tokens=r.stats.prompt_tokens,
            wall_s=round(r.stats.wall_s, 4),
            check_s=round(check_s, 4),
            settings=s.to_dict(),
            extra_settings=None if s2 is None else s2.to_dict(),
            model=None if m is None else {"alias": m.alias, "path": m.path, "sha256": m.sha256},
            dataset=self._dataset_info(),
            run_config=self.fingerprint,
            run=run_doc(r),
        )

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


def append_runs(first: RunResult, more: RunResult) -> RunResult:
    """``first`` followed by ``more``'s sequences, renumbered; costs added."""
    off = len(first.sequences)
    seqs = first.sequences + tuple(
        replace(q, id=q.id + off, parent=None if q.parent is None else q.parent + off)
        for q in more.sequences
    )
    forks = first.forks + tuple(
        Fork(b.parent + off, b.child + off, b.pos, b.entropy, b.parent_token, b.child_token)
        for b in more.forks
    )
    stats = replace(
        first.stats.add_costs(more.stats),
        generated_tokens=first.stats.generated_tokens + more.stats.generated_tokens,
        n_sequences=len(seqs),
    )
    return replace(first, sequences=seqs, forks=forks, stats=stats)


def _nonempty(path) -> bool:
    import os

    return os.path.exists(path) and os.path.getsize(path) > 0
