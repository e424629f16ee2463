"""The eval record: one line of a run file, one prompt's outcome, as a frozen value.

``EvalRecord.to_json`` writes the same JSON object (same keys, same order) that
run files have always held; ``EvalRecord.from_json`` reads old and new lines
back and is where a line is checked: a NaN, a string where a number belongs, a
missing key or a broken ``run`` document is one ``RunFileError`` naming the
first problem, never a traceback in ``eager report`` or ``--resume``.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..files.run_file import RunFileError, _Bad, check_run_doc, count, need, of

PHASES = ("init", "final")


@dataclass(frozen=True)
class ScoredSequence:
    """One sequence of the prompt's tree with its checked answer."""

    id: int
    """Index in the run's ``sequences``."""
    parent: int | None
    """The sequence it was forked from; None for a root."""
    fork_pos: int
    """Generated tokens shared with the parent."""
    origin: str
    """``init`` (phase 1 / one-phase), ``continue`` or ``rerun`` (budget reallocation)."""
    text: str
    """Generated text, cut before a stop string."""
    answer: str | None
    """Extracted final answer (the vote key); None if none was found."""
    correct: bool
    """The answer matches the reference (code: the tests pass)."""
    check: str
    """Why, when it is not simply right or wrong (no answer, sandbox status, too large)."""
    finish_reason: str
    """How the sequence ended (eog, stop, length, context_full, cancelled, pruned, consensus)."""
    n_tokens: int
    """Tokens of the sequence, shared prefix included."""
    n_own: int
    """Tokens it generated itself."""
    confidence: float | None = None
    """Mean token confidence ln K − H_t (nats; evaluation/confidence.py); None in older files."""
    lowest_window: float | None = None
    """Lowest sliding-window confidence (nats); None in older files."""

    KEYS = ("id", "parent", "fork_pos", "origin", "text", "answer", "correct", "check",
            "finish_reason", "n_tokens", "n_own")

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.KEYS}
        if self.confidence is not None:
            d.update(confidence=self.confidence, lowest_window=self.lowest_window)
        return d

    @classmethod
    def from_json(cls, d, where: str) -> "ScoredSequence":
        of(d, dict, where.rstrip("."))
        return cls(
            count(need(d, "id", int, where), where + "id"), need(d, "parent", (int, None), where),
            count(need(d, "fork_pos", int, where), where + "fork_pos"), need(d, "origin", str, where),
            need(d, "text", str, where), need(d, "answer", (str, None), where), need(d, "correct", bool, where),
            need(d, "check", str, where), need(d, "finish_reason", str, where),
            count(need(d, "n_tokens", int, where), where + "n_tokens"),
            count(need(d, "n_own", int, where), where + "n_own"),
            need(d, "confidence", (float, None), where, optional=True),
            need(d, "lowest_window", (float, None), where, optional=True),
        )


@dataclass(frozen=True)
class RecordedFork:
    """A fork as the record lists it (the full fork is in ``run``)."""

    parent: int
    child: int
    pos: int
    """Generated-token index of the fork token."""
    entropy: float
    """Top-K entropy there, rounded to 4 decimals."""

    def to_json(self) -> dict:
        return {"parent": self.parent, "child": self.child, "pos": self.pos, "entropy": self.entropy}

    @classmethod
    def from_json(cls, d, where: str) -> "RecordedFork":
        of(d, dict, where.rstrip("."))
        return cls(count(need(d, "parent", int, where), where + "parent"),
                   count(need(d, "child", int, where), where + "child"),
                   count(need(d, "pos", int, where), where + "pos"), need(d, "entropy", float, where))


@dataclass(frozen=True)
class EvalRecord:
    """One prompt of an eval run (see evaluation/runner.py for how it is made)."""

    id: str
    """The item's id: the key of resume and of paired comparisons."""
    index: int
    """Position of the item in the evaluated dataset."""
    method: str
    """parallel, eager, eager-adapt, eager-full or greedy."""
    question: str
    """The item's question (not the rendered prompt)."""
    reference: str | None
    """The reference answer (None for code, whose tests are in the dataset)."""
    sequences: tuple[ScoredSequence, ...]
    """Every sequence of the tree, checked."""
    origins: tuple[str, ...]
    """``origin`` of each sequence, in order."""
    branches: tuple[RecordedFork, ...]
    """The forks of the tree (the JSON key keeps its old name)."""
    n_sequences: int
    """Sequences of the prompt (k of Pass@k)."""
    correct: int
    """Correct sequences."""
    pass_any: bool
    """At least one sequence is correct (Pass@k)."""
    cons: bool
    """The majority answer is correct (Cons@k)."""
    pass_rate: float
    """correct / n_sequences."""
    generated_tokens: int
    """Tokens of the tree, shared prefixes once."""
    decoded_tokens: int
    """Tokens sent through llama_decode, prompt included."""
    prompt_tokens: int
    """Tokens of the rendered prompt."""
    wall_s: float
    """Seconds of decoding."""
    check_s: float
    """Seconds of answer checking."""
    settings: dict
    """Settings of the (phase-1) decoding, as Settings.to_dict()."""
    extra_settings: dict | None
    """Settings of the reallocation's extra decoding, if any."""
    model: dict | None
    """alias, path and sha256 of the model."""
    dataset: dict
    """name, path, kind, items, total, offset of the dataset."""
    run_config: dict
    """What must match for --resume and --init-from (method, settings, model, dataset, format)."""
    run: dict | None
    """The run document (RunResult.to_json plus each sequence's top2); None for a failed item."""
    phase: str = "final"
    """``init`` (EAGer-init of a two-phase run) or ``final``."""
    extra: dict | None = None
    """Two-phase final records: what the reallocation gave this prompt (None: nothing)."""
    plan: dict | None = None
    """Two-phase final records: the whole reallocation plan."""
    init: dict | None = None
    """Two-phase final records: the phase-1 figures of this prompt."""
    error: str | None = None
    """Why the item could not be run (e.g. its prompt is longer than the context); its
    figures are then zeros and --resume does not retry it."""
    pruned: int | None = None
    """With online pruning: sequences stopped early (pruned, or ended by consensus); None
    without pruning (and in older files)."""
    tokens_saved: int | None = None
    """With online pruning: an estimate of the generated tokens it saved
    (``method/pruning.tokens_saved``); None without pruning."""

    def to_json(self) -> dict:
        """The run-file line, keys in the order run files have always had."""
        d = {}
        for k in _KEYS:
            v = getattr(self, k)
            d[k] = [x.to_json() for x in v] if k in ("sequences", "branches") else (
                list(v) if k == "origins" else v)
        if self.plan is not None:
            d.update(extra=self.extra, plan=self.plan, init=self.init)
        d["phase"] = self.phase
        if self.error is not None:
            d["error"] = self.error
        if self.pruned is not None:
            d.update(pruned=self.pruned, tokens_saved=self.tokens_saved)
        return d

    @classmethod
    def from_json(cls, d, where: str = "record") -> "EvalRecord":
        """Read a run-file line back; ``RunFileError`` naming the first problem."""
        try:
            return _from_json(cls, d)
        except _Bad as e:
            raise RunFileError(f"{where}: {e}") from None


_KEYS = ("id", "index", "method", "question", "reference", "sequences", "origins", "branches",
         "n_sequences", "correct", "pass_any", "cons", "pass_rate", "generated_tokens", "decoded_tokens",
         "prompt_tokens", "wall_s", "check_s", "settings", "extra_settings", "model", "dataset",
         "run_config", "run")


def _from_json(cls, d) -> EvalRecord:
    of(d, dict, "the record")
    rid = need(d, "id", str, "")
    if need(d, "phase", str, "") not in PHASES:
        raise _Bad(f"phase: {d['phase']!r} is not init or final")
    seqs = tuple(ScoredSequence.from_json(s, f"sequences[{i}].")
                 for i, s in enumerate(need(d, "sequences", list, "")))
    origins = need(d, "origins", list, "", optional=True)
    for i, o in enumerate(origins or ()):
        of(o, str, f"origins[{i}]")
    nums = {k: count(need(d, k, int, ""), k) for k in
            ("index", "n_sequences", "correct", "generated_tokens", "decoded_tokens")}
    if nums["n_sequences"] != len(seqs):
        raise _Bad(f"n_sequences: {nums['n_sequences']} but {len(seqs)} sequences are listed")
    error = need(d, "error", (str, None), "", optional=True)
    run = need(d, "run", (dict, None), "")
    if run is None and error is None:
        raise _Bad("run: null, but the record names no error")
    if run is not None:
        try:
            check_run_doc(run, "run")
        except RunFileError as e:
            raise _Bad(e.message) from None
    plan = need(d, "plan", (dict, None), "", optional=True)
    return cls(
        id=rid, method=need(d, "method", str, ""), question=need(d, "question", str, "", optional=True) or "",
        reference=need(d, "reference", (str, None), "", optional=True),
        sequences=seqs, origins=tuple(origins if origins is not None else [s.origin for s in seqs]),
        branches=tuple(RecordedFork.from_json(b, f"branches[{i}].")
                       for i, b in enumerate(need(d, "branches", list, ""))),
        pass_any=need(d, "pass_any", bool, ""), cons=need(d, "cons", bool, ""),
        pass_rate=need(d, "pass_rate", float, ""),
        prompt_tokens=need(d, "prompt_tokens", int, "", optional=True) or 0,
        wall_s=need(d, "wall_s", float, ""), check_s=need(d, "check_s", float, "", optional=True) or 0.0,
        settings=need(d, "settings", dict, ""), extra_settings=need(d, "extra_settings", (dict, None), "", optional=True),
        model=need(d, "model", (dict, None), "", optional=True), dataset=need(d, "dataset", dict, ""),
        run_config=_run_config(d), run=run, phase=d["phase"],
        extra=need(d, "extra", (dict, None), "", optional=True), plan=plan,
        init=_init(d) if plan is not None else None, error=error, **nums,
        pruned=_count_or_none(d, "pruned"), tokens_saved=_count_or_none(d, "tokens_saved"),
    )


def _count_or_none(d: dict, key: str) -> int | None:
    v = need(d, key, (int, None), "", optional=True)
    return None if v is None else count(v, key)


def _run_config(d) -> dict:
    """The parts of ``run_config``, ``dataset`` and ``model`` that reports print."""
    rc = need(d, "run_config", dict, "")
    settings = need(rc, "settings", dict, "run_config.")
    for k in ("theta", "max_seqs", "temperature", "top_p", "top_k_entropy", "max_new_tokens", "seed"):
        need(settings, k, float, "run_config.settings.")
    for i, x in enumerate(need(settings, "stop", list, "run_config.settings.", optional=True) or ()):
        of(x, str, f"run_config.settings.stop[{i}]")
    need(rc, "method", str, "run_config.")
    fmt = need(rc, "format", (dict, None), "run_config.", optional=True) or {}
    need(fmt, "style", str, "run_config.format.", optional=True)
    need(fmt, "exemplars", list, "run_config.format.", optional=True)
    need(fmt, "exemplar_source", (str, None), "run_config.format.", optional=True)
    ds = need(d, "dataset", dict, "")
    for k in ("name", "path", "kind"):
        need(ds, k, (str, None), "dataset.", optional=True)
    for k in ("items", "total", "offset"):
        if k in ds:
            count(ds[k], "dataset." + k)
    model = need(d, "model", (dict, None), "", optional=True) or {}
    for k in ("alias", "path", "sha256"):
        need(model, k, (str, None), "model.", optional=True)
    return rc


def _init(d) -> dict | None:
    init = need(d, "init", (dict, None), "", optional=True)
    if init is not None:
        for k in ("n_sequences", "correct", "generated_tokens", "decoded_tokens"):
            count(need(init, k, int, "init."), "init." + k)
        for k in ("pass_any", "cons"):
            need(init, k, bool, "init.")
        need(init, "wall_s", float, "init.")
    return init
