"""The llama.cpp engine: sequences, positions and checks over ``engine.native``.

A context is built directly (the high-level ``Llama`` class drops n_seq_max and
kv_unified) with a unified KV cache, so a sequence copy shares cells instead of
copying them, and ``swa_full`` so shared cells of sliding-window models
(Gemma 3) are recycled. Every llama.cpp abort path the controller could reach
(a batch above n_batch, a sequence id outside [0, n_seq_max), a position that
is not the next one) is refused here in Python first.

Sampling where the build has it (``sampling="backend"``): the context is made
with a ``top_k(top_n)`` chain for every sequence id, so llama.cpp hands back
the ``top_n`` best logits of each row (``sampling.Candidates``) and never
copies the full rows to the host. Otherwise (``"host"``) ``decode`` returns
the full logits. ``"auto"`` (the default) picks the backend when the build has
it, the vocabulary is large (more than 4 × top_n) and layers run on a GPU:
there llama.cpp's top-k is nearly free and the host's work drops 20-fold,
while on the 2-core CPU its top-k cost more CPU time than the host path
(docs/sampling.md). ``EAGER_LOCAL_SAMPLING=host`` (or ``backend``: wherever it
can run) steers ``"auto"``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

from . import native  # first: llama_cpp's libraries load before numpy's (eager_local/__init__.py)

import numpy as np

from ..errors import ContextError, ModelError, SettingsError
from ..models.model_file import check_gguf
from .candidates import Candidates
from .base import FormattedPrompt

#: Candidates per row that the backend hands back (see docs/sampling.md).
DEFAULT_TOP_N = 1024
SAMPLING_MODES = ("auto", "backend", "host")


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build can offload layers (CUDA, Metal, ...)."""
    return native.gpu_offload_supported()


def backend_sampling_available() -> bool:
    """True when this llama.cpp build can sample on its backend."""
    return native.backend_sampling_available()


def choose_sampling(mode: str, n_vocab: int, top_n: int, n_gpu_layers: int = 0) -> str:
    """``"backend"`` or ``"host"`` for a requested ``mode`` (module docstring).

    ``EAGER_LOCAL_SAMPLING`` only steers ``"auto"``: ``backend`` there means
    "the backend wherever it can run", not an error where it cannot."""
    if mode not in SAMPLING_MODES:
        raise SettingsError(f"sampling must be one of {', '.join(SAMPLING_MODES)} (got {mode!r})")
    usable = backend_sampling_available() and 2 <= top_n < n_vocab
    if mode == "backend" and not usable:
        raise SettingsError(
            f"backend sampling needs llama-cpp-python ≥ 0.3.36 and 2 ≤ top-n < {n_vocab}: use sampling=\"host\""
        )
    if mode == "host":
        return mode
    if mode == "auto":
        wish = os.environ.get("EAGER_LOCAL_SAMPLING", "auto")
        if wish not in SAMPLING_MODES:
            raise SettingsError(f"EAGER_LOCAL_SAMPLING must be one of {', '.join(SAMPLING_MODES)} (got {wish!r})")
        if wish != "auto":
            return "backend" if wish == "backend" and usable else "host"
        on_gpu = n_gpu_layers != 0 and native.gpu_offload_supported()
        return "backend" if usable and n_vocab > 4 * top_n and on_gpu else "host"
    return mode


class LlamaEngine:
    """A GGUF model with a multi-sequence context (see module docstring)."""

    def __init__(
        self,
        path: str | Path,
        *,
        n_ctx: int = 8192,
        n_seq_max: int = 256,
        n_batch: int = 512,
        n_threads: int | None = None,
        n_gpu_layers: int = 0,
        prompt_format: str = "raw",
        sampling: str = "auto",
        top_n: int = DEFAULT_TOP_N,
    ) -> None:
        self.path = Path(path).expanduser()
        check_gguf(self.path)  # before llama.cpp sees the file (and before the backend starts)
        self.prompt_format = prompt_format
        self.n_threads = int(n_threads or os.cpu_count() or 1)
        self.n_gpu_layers = n_gpu_layers
        self._native = None
        self._native = native.open_native(
            self.path, n_gpu_layers,
            lambda model: self._plan(model, int(n_ctx), int(n_seq_max), int(n_batch), sampling, int(top_n)),
        )
        self.top_n = len(self.native.chains) and int(top_n)
        self.sampling = "backend" if self.top_n else "host"
        ctx = self.native.context
        self.n_vocab, self.n_ctx = ctx.n_vocab, ctx.n_ctx
        self.n_batch, self.n_seq_max = ctx.n_batch, ctx.n_seq_max
        self.add_bos = self.native.model.add_bos()
        """The tokenizer adds BOS itself (a chat template's own BOS is then dropped)."""
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._held = np.zeros(self.n_seq_max, dtype=np.int64)  # next position per seq id

    def _plan(self, model, n_ctx, n_seq_max, n_batch, sampling, top_n) -> tuple[native.ContextParams, int]:
        """The context to ask for, once the model is loaded (it may refuse: then nothing is left)."""
        self._check_kv_fits(model.kv_bytes_per_cell(), n_ctx)
        mode = choose_sampling(sampling, model.n_vocab, top_n, self.n_gpu_layers)
        # llama.cpp caps n_batch at n_ctx and sizes the output buffer from n_batch by default;
        # reserving a graph for n_seq_max sequences then aborts (GGML_ASSERT in output_reserve)
        # whenever n_ctx < n_seq_max: room for one output per sequence makes small contexts safe.
        # Backend sampling gives one output per sequence, so n_seq_max rows are enough.
        usable_batch = min(n_batch, n_ctx) if n_ctx > 0 else n_batch
        outputs = n_seq_max if mode == "backend" else max(usable_batch, n_seq_max)
        params = native.ContextParams(n_ctx, n_batch, n_seq_max, outputs, self.n_threads)
        return params, (top_n if mode == "backend" else 0)

    def _check_kv_fits(self, per_cell: int, n_ctx: int) -> None:
        """Refuse a context whose f16 KV cache alone exceeds physical memory (llama.cpp
        would try to allocate it anyway, slowly, then fail or swap)."""
        need = max(n_ctx, 0) * per_cell
        try:
            have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
        except (ValueError, OSError, AttributeError):
            return
        if need > have > 0:
            raise ContextError(
                f"a {n_ctx}-cell context for {self.path.name} needs about {need / 2**30:.1f} GiB of KV cache "
                f"and this machine has {have / 2**30:.1f} GiB: try a smaller n_ctx"
            )

    # lifetime ------------------------------------------------------------
    @property
    def native(self) -> native.Native:
        """llama.cpp's model and context; a closed engine refuses with one line (its C
        memory is gone: using it would crash the process)."""
        self._refuse_if_closed()
        return self._native

    def _refuse_if_closed(self) -> None:
        if self._native is None:
            raise ModelError(f"the model {self.path.name} was closed: load it again")

    @property
    def closed(self) -> bool:
        return self._native is None

    def close(self) -> None:
        if self._native is not None:
            self._native.close()
            self._native = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # text ----------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        ids = self.native.model.tokenize(text.encode("utf-8"), add_special)
        if ids is None:
            raise ModelError("could not tokenize the prompt")
        return ids

    def format_prompt(self, text: str) -> str:
        if self.prompt_format != "chat" or isinstance(text, FormattedPrompt):
            return text
        return self.format_messages([("user", text)])

    def format_messages(self, messages: Sequence[tuple[str, str]]) -> FormattedPrompt:
        """The messages through the file's chat template (llama.cpp's built-in templates)."""
        try:
            out = self.native.model.apply_chat_template(list(messages))
        except ValueError:
            raise ModelError(f"llama.cpp does not know the chat template of {self.path.name}") from None
        if out is None:
            raise ModelError(f"{self.path.name} has no chat template; set prompt_format = \"raw\" for it")
        return FormattedPrompt(out)

    def token_text(self, token: int) -> str:
        """The token's vocabulary entry, special tokens included (what templates write)."""
        return self.native.model.token_text(token)

    def meta(self, key: str) -> str | None:
        """A GGUF metadata value as text (None when absent)."""
        return self.native.model.meta(key)

    def chat_template(self) -> str | None:
        """The file's Jinja chat template (None without one)."""
        return self.native.model.chat_template()

    def prompt_tokens(self, prompt: str) -> list[int]:
        if self.prompt_format == "chat":
            # the template writes BOS itself when the model wants one
            return self.tokenize(self.format_prompt(prompt), add_special=False)
        return self.tokenize(prompt, add_special=True)

    def piece(self, token: int) -> bytes:
        p = self._pieces.get(token)
        if p is None:
            p = self._pieces[token] = self.native.model.piece(token)
        return p

    def is_eog(self, token: int) -> bool:
        e = self._eog.get(token)
        if e is None:
            e = self._eog[token] = self.native.model.is_eog(token)
        return e

    # decoding ------------------------------------------------------------
    def decode(self, seq_ids: Sequence[int], tokens: Sequence[int], positions: Sequence[int],
               logits: Sequence[bool]) -> np.ndarray | Candidates | None:
        """Decode one batch; the flagged rows' logits (full rows, or the backend's
        ``Candidates``), or None when no KV slot was free (nothing decoded)."""
        want = self.decode_only(seq_ids, tokens, positions, logits)
        if want is None:
            return None
        rows = np.flatnonzero(want)
        if self.sampling == "host" or rows.size == 0:
            return self.native.context.logits(rows.size) if rows.size else \
                np.zeros((0, self.n_vocab), dtype=np.float32)
        ids, lg = self.native.context.sampled(rows, self.top_n)
        return Candidates.from_unsorted(ids, lg, self.n_vocab)

    def decode_only(self, seq_ids, tokens, positions, logits) -> np.ndarray | None:
        """Check and decode one batch without reading its outputs; the output flags,
        or None when no KV slot was free. ``decode`` and the benchmark's ceiling use it."""
        seqs, toks, pos, want = self._check(seq_ids, tokens, positions, logits)
        nxt = self._next_positions(seqs, pos)
        self.native.batch.fill(seqs.tolist(), toks, pos, want)
        rc = self.native.context.decode(self.native.batch)
        if rc == 1:
            return None  # no KV slot: nothing was decoded
        if rc != 0:
            raise ContextError(f"llama_decode failed with code {rc}: {native.last_log()}")
        self._held = nxt
        return want

    def _check(self, seq_ids, tokens, positions, logits):
        self._refuse_if_closed()
        n = len(tokens)
        if not len(seq_ids) == len(positions) == len(logits) == n:
            raise ValueError(
                f"seq_ids, tokens, positions and logits differ in length "
                f"({len(seq_ids)}, {n}, {len(positions)}, {len(logits)})"
            )
        if not 0 < n <= self.n_batch:
            raise ValueError(f"batch of {n} rows; this context takes 1 to {self.n_batch}")
        seqs = np.asarray(seq_ids, dtype=np.int64)
        if seqs.min() < 0 or seqs.max() >= self.n_seq_max:
            raise ValueError(f"sequence ids must be in [0, {self.n_seq_max})")
        toks = np.asarray(tokens, dtype=np.int64)
        if toks.min() < 0 or toks.max() >= self.n_vocab:
            raise ValueError(f"token ids must be in [0, {self.n_vocab})")
        want = np.asarray(logits, dtype=bool)
        if self.sampling == "backend" and want.sum() > len(np.unique(seqs[want])):
            raise ValueError("backend sampling gives one output row per sequence and decode")
        return seqs, toks, np.asarray(positions, dtype=np.int64), want

    def _next_positions(self, seqs: np.ndarray, pos: np.ndarray) -> np.ndarray:
        """Each sequence's next position after this batch; positions must continue
        each sequence (llama.cpp asserts on gaps)."""
        nxt = self._held.copy()
        if len(seqs) == 1 or len(np.unique(seqs)) == len(seqs):  # one row per sequence: vectorised
            bad = np.flatnonzero(pos != nxt[seqs])
            if bad.size:
                s, p = seqs[bad[0]], pos[bad[0]]
                raise ValueError(f"sequence {s}: position {p}, expected {nxt[s]}")
            nxt[seqs] = pos + 1
            return nxt
        for s, p in zip(seqs.tolist(), pos.tolist()):
            if p != nxt[s]:
                raise ValueError(f"sequence {s}: position {p}, expected {nxt[s]}")
            nxt[s] = p + 1
        return nxt

    def _check_seq(self, seq: int) -> None:
        self._refuse_if_closed()
        if not 0 <= seq < self.n_seq_max:
            raise ValueError(f"sequence id {seq} outside [0, {self.n_seq_max})")

    def copy_seq(self, src: int, dst: int, n_pos: int) -> None:
        self._check_seq(src)
        self._check_seq(dst)
        if not 0 <= n_pos <= self._held[src]:
            raise ValueError(f"copy of {n_pos} positions from sequence {src} that holds {self._held[src]}")
        self.native.context.seq_cp(src, dst, n_pos)
        self._held[dst] = n_pos

    def remove_seq(self, seq: int) -> None:
        self._check_seq(seq)
        self.native.context.seq_rm(seq)
        self._held[seq] = 0

    def clear(self) -> None:
        if self._native is None:  # closed: the memory is gone (a late generator cleanup)
            return
        self.native.context.clear()
        self._held[:] = 0
        if getattr(self, "prefix_cache", None) is not None:
            self.prefix_cache.forget()  # its cells are gone



# benchmarks ------------------------------------------------------------------
# The two baselines of ``eager bench``: public engine methods and the high-level
# ``Llama`` (in engine.native), so that eager_local.bench.runner never touches llama.cpp.


def bare_decode_loop(engine: LlamaEngine, prompt: Sequence[int], n_seqs: int, n_steps: int) -> float:
    """Seconds spent in ``n_steps`` bare decodes of ``n_seqs`` rows (``decode_only``).

    The ceiling of any Python tool on this context: ``prompt`` is decoded once and
    shared by ``n_seqs`` sequences (as the controller does), then every step adds
    one token to each, with outputs requested for every row and never read. The
    KV cache is cleared after.
    """
    if not 0 < n_seqs <= min(engine.n_batch, engine.n_seq_max):
        raise ValueError(f"n_seqs must be in 1..{min(engine.n_batch, engine.n_seq_max)}")
    prompt = list(prompt)
    P = len(prompt)
    engine.clear()
    for i in range(0, P, engine.n_batch):  # prefill in n_batch chunks, not timed
        chunk = prompt[i : i + engine.n_batch]
        if engine.decode_only([0] * len(chunk), chunk, range(i, i + len(chunk)), [False] * len(chunk)) is None:
            raise ContextError(f"no room for a {P}-token prompt in {engine.n_ctx} cells")
    for s in range(1, n_seqs):
        engine.copy_seq(0, s, P)
    seqs, toks, want = list(range(n_seqs)), [prompt[-1]] * n_seqs, [True] * n_seqs
    try:
        t0 = time.perf_counter()
        for step in range(n_steps):
            if engine.decode_only(seqs, toks, [P + step] * n_seqs, want) is None:
                raise ContextError(f"no KV slot for step {step} of the ceiling")
        return time.perf_counter() - t0
    finally:
        engine.clear()


def highlevel_turns(path: str | Path, prompts: Sequence[Sequence[int]], *, max_tokens: int, n_ctx: int,
                    n_threads: int | None = None, n_gpu_layers: int = 0) -> list[tuple[float, float]]:
    """A chat's turns without eager-local: each prompt (token ids) completed greedily, one
    after another, by llama-cpp-python's high-level ``Llama``, which keeps the last prompt's KV
    and decodes only what is new. Returns (seconds to the first token, seconds in all) per prompt."""
    return native.highlevel_turns(Path(path).expanduser(), prompts, max_tokens=max_tokens, n_ctx=n_ctx,
                                  n_threads=int(n_threads or os.cpu_count() or 1), n_gpu_layers=n_gpu_layers)


def highlevel_samples(path: str | Path, prompt: str, n: int, *, max_tokens: int, temperature: float, top_p: float,
                      seed: int, n_ctx: int, n_threads: int | None = None, n_gpu_layers: int = 0,
                      stop: Sequence[str] = (), top_k: int = 40, min_p: float = 0.05) -> tuple[list[str], list[int], float]:
    """What a user would do without eager-local: ``n`` samples, one after another.

    llama-cpp-python's high-level ``Llama`` (no batching; it ignores ``n``) with
    its prompt cache on, so every sample after the first reuses the prompt's KV.
    ``top_k``/``min_p`` default to the library's own defaults (0 and 0.0 turn
    them off, for the same distribution as eager-local's τ + top-p).
    Returns the texts, their generated token counts, and the seconds the ``n``
    completions took (the model load is not counted).
    """
    return native.highlevel_samples(
        Path(path).expanduser(), prompt, n, max_tokens=max_tokens, temperature=temperature, top_p=top_p,
        seed=seed, n_ctx=n_ctx, n_threads=int(n_threads or os.cpu_count() or 1), n_gpu_layers=n_gpu_layers,
        stop=stop, top_k=top_k, min_p=min_p,
    )
