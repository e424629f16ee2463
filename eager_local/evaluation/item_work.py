"""One item through the model into its EvalRecord: the step a local run and a Ray
worker share (the runner decides what to run and writes; this only decodes and checks).

A ``Task`` names an item by its index and, in phase two of eager-adapt / eager-full,
carries the item's phase-1 record; ``ItemWork.do(task, plan)`` returns the record.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, replace

from ..errors import ContextError, PromptError
from ..method import budget
from ..method.confidence import sequence_confidence
from ..method.final_answer import answer_part
from ..method.pruning import NATURAL, STOPPED, tokens_saved
from ..result import Fork, RunResult
from ..settings import Settings
from .answers import Checker, Verdict
from .concurrent import Request, finished
from .datasets import Dataset, Item
from .eval_record import EvalRecord, RecordedFork, ScoredSequence
from .metrics import score_prompt
from .prompts import PromptFormat
from .records import result_from_doc, run_doc


@dataclass(frozen=True)
class WorkSpec:
    """What every worker needs to turn an item into a record (sent once per run)."""

    dataset: Dataset
    fmt: PromptFormat
    checker: Checker
    method: str
    """The run's method (a two-phase method's phase 1 still records it)."""
    base: Settings
    """Phase-1 settings with the model's stops; each item derives its seed from them."""
    fingerprint: dict
    """The run's ``run_config``: what a resumed run must share."""


@dataclass(frozen=True)
class Task:
    """One item to run."""

    index: int
    """Position of the item in the dataset."""
    init: EvalRecord | None = None
    """Phase two of a two-phase run: the item's phase-1 record (None in phase one)."""


def dataset_info(d: Dataset) -> dict:
    """What a record says about its dataset."""
    return {"name": d.name, "path": d.path, "kind": d.kind, "items": len(d.items),
            "total": d.total, "offset": d.offset}


def derive_seed(base: int, item_id: str, salt: str = "") -> int:
    """A per-prompt seed: the same item gets the same draws whatever ran before it."""
    h = hashlib.blake2b(f"{base}\0{item_id}\0{salt}".encode(), digest_size=4).digest()
    return int.from_bytes(h, "little") & 0x7FFFFFFF


class ItemWork:
    """Decodes and checks items of one ``WorkSpec`` on one model."""

    def __init__(self, spec: WorkSpec, model, cancel: threading.Event | None = None) -> None:
        self.spec, self.model = spec, model
        self.cancel = cancel or threading.Event()

    def do(self, task: Task, plan: budget.Plan | None = None):
        """The task's work (see ``concurrent.finished``): yields the Requests it needs and
        returns the EvalRecord. Phase one (``plan`` None): the base method. Phase two:
        the plan's extra budget."""
        it = self.spec.dataset.items[task.index]
        if plan is None:
            return self.first(it)
        return self.extra(it, task.init, plan)

    def dataset_info(self) -> dict:
        return dataset_info(self.spec.dataset)

    def _generate(self, it: Item, settings: Settings, resume: RunResult | None = None):
        """Decode the item's prompt (through ``concurrent.finished``); returns the result."""
        return (yield Request(self.spec.fmt.render(it), settings, resume))

    def one(self, task: Task, plan: budget.Plan | None = None) -> EvalRecord:
        """The task's record, its prompt decoded alone."""
        for _, rec in finished(self.model, [task], lambda t: self.do(t, plan), 1, self.cancel):
            return rec

    def first(self, it: Item):
        base = self.spec.base
        s = base.with_(seed=derive_seed(base.seed, it.id))
        try:
            r = yield from self._generate(it, s)
        except (PromptError, ContextError) as e:  # this item cannot run; the others can
            return self.failed(it, s, e.one_line())
        return self.record(it, r, ["init"] * len(r.sequences), s, None)

    def failed(self, it: Item, s: Settings, why: str) -> EvalRecord:
        """The record of an item that could not be decoded: zeros and the reason."""
        m, d = self.model.info, self.spec.dataset
        return EvalRecord(
            id=it.id, index=d.items.index(it), method=self.spec.method, question=it.question,
            reference=it.answer if d.kind != "code" else None, sequences=(), origins=(),
            branches=(), n_sequences=0, correct=0, pass_any=False, cons=False, pass_rate=0.0,
            generated_tokens=0, decoded_tokens=0, prompt_tokens=0, wall_s=0.0, check_s=0.0,
            settings=s.to_dict(), extra_settings=None,
            model=None if m is None else {"alias": m.alias, "path": m.path, "sha256": m.sha256},
            dataset=self.dataset_info(), run_config=self.spec.fingerprint, run=None, error=why,
        )

    def extra(self, it: Item, init_rec: EvalRecord, plan: budget.Plan):
        init_fig = {k: getattr(init_rec, k) for k in (
            "n_sequences", "correct", "pass_any", "cons", "generated_tokens", "decoded_tokens", "wall_s")}
        if init_rec.error is not None:  # failed in phase 1: nothing to add to
            return replace(init_rec, extra=None, plan=plan.to_dict(), init=init_fig)
        prev = result_from_doc(init_rec.run)
        origins = list(init_rec.origins)
        extra = plan.for_id(it.id)
        base, s2 = self.spec.base, None
        if extra is not None and extra.action == "continue":
            s2 = base.with_(max_seqs=extra.max_seqs, theta=extra.theta,
                            seed=derive_seed(base.seed, it.id, "continue"))
            r = yield from self._generate(it, s2, resume=prev)
            origins += ["continue"] * (len(r.sequences) - len(prev.sequences))
        elif extra is not None:
            s2 = base.with_(max_seqs=extra.max_seqs, theta=extra.theta,
                            seed=derive_seed(base.seed, it.id, "rerun"))
            more = yield from self._generate(it, s2)
            r = append_runs(prev, more)
            origins += ["rerun"] * len(more.sequences)
        else:
            r = prev
        rec = self.record(it, r, origins, prev.settings, s2)
        return replace(rec, extra=None if extra is None else {
            "action": extra.action, "cap": extra.cap, "max_seqs": extra.max_seqs, "theta": extra.theta,
        }, plan=plan.to_dict(), init=init_fig)

    def record(self, it: Item, r: RunResult, origins, s: Settings, s2: Settings | None) -> EvalRecord:
        t0 = time.perf_counter()
        think = r.model.think if r.model else None  # a reasoning model's answer follows its thoughts
        # a sequence stopped early (pruned, or by consensus) has no final answer: it does not vote
        verdicts = [Verdict(None, False, seq.finish_reason) if seq.finish_reason in STOPPED
                    else self.spec.checker.check(it, answer_part(seq.text, think) or "") for seq in r.sequences]
        check_s = time.perf_counter() - t0
        score = score_prompt([v.answer for v in verdicts], [v.correct for v in verdicts])
        confs = [sequence_confidence(q.entropies, s.top_k_entropy) for q in r.sequences]
        m, d = r.model, self.spec.dataset
        return EvalRecord(
            id=it.id,
            index=d.items.index(it),
            method=self.spec.method,
            question=it.question,
            reference=it.answer if d.kind != "code" else None,
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
            dataset=self.dataset_info(),
            run_config=self.spec.fingerprint,
            run=run_doc(r),
            **_pruning(r, s),
        )


def _pruning(r: RunResult, s: Settings) -> dict:
    """The record's pruning figures: sequences stopped early and the tokens saved."""
    if s.prune == "none":
        return {}
    stopped = [len(q.tokens) for q in r.sequences if q.finish_reason in STOPPED]
    natural = [len(q.tokens) for q in r.sequences if q.finish_reason in NATURAL]
    return {"pruned": len(stopped), "tokens_saved": tokens_saved(stopped, natural, s.max_new_tokens)}


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


class LocalWorkers:
    """The one-process "pool": the items on this process's model, ``concurrency`` prompts
    decoding together (the scheduler), records as each finishes."""

    def __init__(self, model, concurrency: int | str = 1) -> None:
        self.model, self.concurrency = model, concurrency
        self.work: ItemWork | None = None
        self.retried = 0
        """Prompts run again after a worker died (never, here)."""

    def start(self, spec: WorkSpec, cancel: threading.Event) -> None:
        self.work = ItemWork(spec, self.model, cancel)

    def records(self, tasks: list[Task], plan: budget.Plan | None, cancel: threading.Event):
        """Yield each task's record; stop (without the unfinished ones) once ``cancel`` is set."""
        work = lambda t: self.work.do(t, plan)  # noqa: E731
        for _, rec in finished(self.model, tasks, work, self.concurrency, cancel):
            if cancel.is_set():  # a run cut short by the interrupt is not a result
                return
            yield rec
