"""The finished run: sequences, forks and statistics, as plain data.

``RunResult.to_json()`` is the document ``eager run --json`` prints and the TUI
saves and loads; ``RunResult.from_json`` reads it back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from .files.run_file import check_run_doc
from .method.final_answer import final_answer
from .settings import Settings

_SETTING_NAMES = frozenset(Settings.__dataclass_fields__)

FINISH_REASONS = ("eog", "stop", "length", "context_full", "cancelled", "pruned", "consensus")

#: How a notebook shows a result, by kind ("html", "text"): filled in by the notebook face
#: (eager_local.notebook.display.register, called by the package's __init__), so that this
#: module imports no view: the views import it.
VIEWS: dict[str, Callable[["RunResult"], str]] = {}


@dataclass(frozen=True)
class ModelInfo:
    """Which model produced a run."""

    alias: str | None
    """Registry alias, or None when a path was given."""
    path: str
    """Absolute path of the GGUF file."""
    sha256: str | None
    """Digest of the file (cached per path, size and mtime)."""
    n_ctx: int | None = None
    """KV cells of the context the model was loaded with."""
    n_gpu_layers: int | None = None
    """Layers offloaded to the GPU (-1 = all)."""
    prompt_format: str | None = None
    """``raw`` or ``chat``."""
    think: tuple[str, ...] | None = None
    """Think markers (start, end) of a reasoning model, else None."""

    def load_params(self) -> dict:
        """The effective load values, reported beside the settings in ``params``."""
        return {"n_ctx": self.n_ctx, "n_gpu_layers": self.n_gpu_layers,
                "prompt_format": self.prompt_format, "think": list(self.think) if self.think else None}


@dataclass(frozen=True)
class SequenceRecord:
    """One generated sequence of a prompt's tree."""

    id: int
    """Index in creation order, 0 for the root."""
    parent: int | None
    """The sequence this one was forked from; None for a root."""
    fork_pos: int
    """Generated tokens shared with the parent (0 for a root)."""
    tokens: tuple[int, ...]
    """The whole generated sequence, shared prefix included."""
    entropies: tuple[float, ...]
    """Top-K entropy (nats) of the distribution each token was chosen from."""
    text: str
    """Decoded text of ``tokens``, cut before a stop string."""
    finish_reason: str
    """One of FINISH_REASONS."""
    candidates: tuple[tuple[tuple[int, float], ...], ...] | None = None
    """Top candidates (token, probability) per token when recorded, else None."""
    pieces: tuple[str, ...] | None = None
    """Text of each token, for display (None when not recorded)."""
    top2: tuple[tuple[int, int], ...] | None = field(default=None, repr=False, compare=False)
    """The two most likely tokens at each position; kept in memory for continuing a
    tree (budget reallocation), not written to JSON."""

    @property
    def n_own(self) -> int:
        """Tokens this sequence generated itself (after the fork)."""
        return len(self.tokens) - self.fork_pos


@dataclass(frozen=True)
class Fork:
    """A fork: sequence ``child`` split off ``parent`` at generated position ``pos``."""

    parent: int
    """The sequence that kept going."""
    child: int
    """The sequence created here."""
    pos: int
    """Generated-token index of the fork (= the child's fork_pos)."""
    entropy: float
    """Top-K entropy (nats) of the distribution at the fork."""
    parent_token: int
    """The most likely token, taken by the parent."""
    child_token: int
    """The second most likely token, taken by the child (by hand: the token chosen)."""
    manual: bool = False
    """Forked by hand (the TUI inspector), not by the entropy rule."""


@dataclass(frozen=True)
class RunStats:
    """What a run cost."""

    prompt_tokens: int
    generated_tokens: int
    """Tokens of the tree, a shared prefix counted once."""
    decoded_tokens: int
    """Tokens actually sent through llama_decode (prompt included)."""
    n_sequences: int
    peak_kv_cells: int
    """Most KV cells in use at once (prompt + distinct generated tokens held)."""
    wall_s: float
    """Seconds the run took: each step's time, shared among the runs decoded in it by
    their rows (a run alone gets all of it), so the runs of one batch add up to its time."""
    decode_s: float = 0.0
    """Time spent inside the engine's decode calls (shared the same way)."""
    steps: int = 0
    """Batched decode steps after the prompt."""
    cached_prompt_tokens: int = 0
    """Prompt tokens copied from the prefix cache (or a run holding them) instead of decoded."""
    prune_threshold: float | None = None
    """s (nats) that online pruning used; None without pruning or before the warm-up ended."""

    def add_costs(self, other: "RunStats") -> "RunStats":
        """These stats with ``other``'s costs added: decoded tokens, time and steps
        summed, the peak KV the larger of the two (counts are left as they are)."""
        return replace(
            self,
            decoded_tokens=self.decoded_tokens + other.decoded_tokens,
            peak_kv_cells=max(self.peak_kv_cells, other.peak_kv_cells),
            wall_s=self.wall_s + other.wall_s,
            decode_s=self.decode_s + other.decode_s,
            steps=self.steps + other.steps,
        )


@dataclass(frozen=True)
class RunResult:
    """A finished prompt."""

    prompt: str
    settings: Settings
    sequences: tuple[SequenceRecord, ...]
    forks: tuple[Fork, ...]
    """Every fork, in the order it happened (the JSON key is "branches")."""
    stats: RunStats
    model: ModelInfo | None = None
    prompt_token_ids: tuple[int, ...] = field(default=(), repr=False)

    def _repr_html_(self) -> str | None:
        """Jupyter and VS Code notebooks: the run drawn inline (see VIEWS)."""
        show = VIEWS.get("html")
        return None if show is None else show(self)

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        """IPython's terminal and a notebook's text output: a summary, not the fields."""
        show = VIEWS.get("text")
        printer.text(repr(self) if cycle or show is None else show(self))

    def to_json(self) -> dict:
        """The ``eager run --json`` document."""
        seqs = []
        for s in self.sequences:
            d = {
                "id": s.id,
                "parent": s.parent,
                "fork_pos": s.fork_pos,
                "tokens": list(s.tokens),
                "entropies": [round(float(h), 6) for h in s.entropies],
                "text": s.text,
                "finish_reason": s.finish_reason,
                "answer": final_answer(s.text, self.model.think if self.model else None),
            }
            if s.pieces is not None:
                d["pieces"] = list(s.pieces)
            if s.candidates is not None:
                d["candidates"] = [[[t, round(p, 6)] for t, p in c] for c in s.candidates]
            seqs.append(d)
        return {
            "model": None
            if self.model is None
            else {"alias": self.model.alias, "path": self.model.path, "sha256": self.model.sha256},
            "prompt": self.prompt,
            "params": {**self.settings.to_dict(), **(self.model.load_params() if self.model else {})},
            "sequences": seqs,
            "branches": [
                {
                    "parent": b.parent,
                    "child": b.child,
                    "pos": b.pos,
                    "entropy": round(b.entropy, 6),
                    "parent_token": b.parent_token,
                    "child_token": b.child_token,
                    **({"manual": True} if b.manual else {}),
                }
                for b in self.forks
            ],
            "stats": {
                "prompt_tokens": self.stats.prompt_tokens,
                "generated_tokens": self.stats.generated_tokens,
                "decoded_tokens": self.stats.decoded_tokens,
                "n_sequences": self.stats.n_sequences,
                "peak_kv_cells": self.stats.peak_kv_cells,
                "wall_s": round(self.stats.wall_s, 4),
                "decode_s": round(self.stats.decode_s, 4),
                "steps": self.stats.steps,
                "cached_prompt_tokens": self.stats.cached_prompt_tokens,
                **({} if self.stats.prune_threshold is None else {"prune_threshold": self.stats.prune_threshold}),
            },
        }

    @classmethod
    def from_json(cls, doc: dict) -> "RunResult":
        """Read back a document written by ``to_json``; ``RunFileError`` naming the first
        problem of a malformed one (see eager_local.files.run_file)."""
        check_run_doc(doc)
        params = {k: v for k, v in doc["params"].items() if k in _SETTING_NAMES}
        params["stop"] = tuple(params.get("stop", ()))
        settings = Settings(**params)
        seqs = tuple(
            SequenceRecord(
                id=int(s["id"]),
                parent=None if s["parent"] is None else int(s["parent"]),
                fork_pos=int(s["fork_pos"]),
                tokens=tuple(int(t) for t in s["tokens"]),
                entropies=tuple(float(h) for h in s["entropies"]),
                text=str(s["text"]),
                finish_reason=str(s["finish_reason"]),
                candidates=None
                if s.get("candidates") is None
                else tuple(tuple((int(t), float(p)) for t, p in c) for c in s["candidates"]),
                pieces=None if s.get("pieces") is None else tuple(s["pieces"]),
            )
            for s in doc["sequences"]
        )
        forks = tuple(
            Fork(
                parent=int(b["parent"]),
                child=int(b["child"]),
                pos=int(b["pos"]),
                entropy=float(b["entropy"]),
                parent_token=int(b.get("parent_token", -1)),
                child_token=int(b.get("child_token", -1)),
                manual=bool(b.get("manual", False)),
            )
            for b in doc["branches"]
        )
        st = doc["stats"]
        stats = RunStats(
            prompt_tokens=int(st["prompt_tokens"]),
            generated_tokens=int(st["generated_tokens"]),
            decoded_tokens=int(st["decoded_tokens"]),
            n_sequences=int(st["n_sequences"]),
            peak_kv_cells=int(st["peak_kv_cells"]),
            wall_s=float(st["wall_s"]),
            decode_s=float(st.get("decode_s", 0.0)),
            steps=int(st.get("steps", 0)),
            cached_prompt_tokens=int(st.get("cached_prompt_tokens", 0)),  # absent before the prefix cache
            prune_threshold=None if st.get("prune_threshold") is None else float(st["prune_threshold"]),
        )
        m = doc.get("model")
        p = doc["params"]
        think = tuple(p["think"]) if p.get("think") else None
        model = None if m is None else ModelInfo(m.get("alias"), m["path"], m.get("sha256"), p.get("n_ctx"),
                                                 p.get("n_gpu_layers"), p.get("prompt_format"), think)
        return cls(doc.get("prompt", ""), settings, seqs, forks, stats, model)
