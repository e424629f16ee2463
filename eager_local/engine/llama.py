"""The one module that talks to llama.cpp (through llama-cpp-python's low-level API).

A context is built directly (the high-level ``Llama`` class drops n_seq_max and
kv_unified) with a unified KV cache, so ``llama_memory_seq_cp`` shares cells
instead of copying them, and ``swa_full`` so shared cells of sliding-window
models (Gemma 3) are recycled. Every llama.cpp abort path the controller could
reach (a batch above n_batch, a sequence id outside [0, n_seq_max), a position
that is not the next one) is refused here in Python first.
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections import deque
from pathlib import Path
from typing import Sequence

import llama_cpp as C  # before numpy: see eager_local/__init__.py

import numpy as np

from ..errors import ContextError, ModelError
from ..model_file import check_gguf

_init_lock = threading.Lock()
_backend_ready = False
_log_tail: deque[bytes] = deque(maxlen=40)


def _log_impl(level, text, user_data):  # keep llama.cpp quiet; remember the tail for errors
    if text:
        _log_tail.append(text)


_log = C.llama_log_callback(_log_impl)


def _backend() -> None:
    global _backend_ready
    with _init_lock:
        if not _backend_ready:
            if os.environ.get("EAGER_LOCAL_LLAMA_LOG") != "stderr":
                C.llama_log_set(_log, ctypes.c_void_p(0))
            C.llama_backend_init()
            _backend_ready = True


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build can offload layers (CUDA, Metal, ...)."""
    _backend()
    return bool(C.llama_supports_gpu_offload())


def system_info() -> str:
    _backend()
    return C.llama_print_system_info().decode("utf-8", errors="replace")


def _last_log() -> str:
    text = b"".join(_log_tail).decode("utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # llama.cpp's reason ("unknown model architecture: 'x'") comes before its generic last line
    reasons = [ln.split("error loading model:", 1)[1].strip() for ln in lines if "error loading model:" in ln]
    if reasons:
        return reasons[-1]
    return lines[-1] if lines else "no message from llama.cpp"


def _check_kv_fits(model, n_ctx: int, path: Path) -> None:
    """Refuse a context whose f16 KV cache alone exceeds physical memory.

    llama.cpp would try to allocate it anyway (slowly, then fail or swap).
    """
    n_head = max(1, int(C.llama_model_n_head(model)))
    head_dim = int(C.llama_model_n_embd(model)) // n_head
    per_cell = int(C.llama_model_n_layer(model)) * int(C.llama_model_n_head_kv(model)) * head_dim * 2 * 2
    need = max(n_ctx, 0) * per_cell
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > have > 0:
        raise ContextError(
            f"a {n_ctx}-cell context for {path.name} needs about {need / 2**30:.1f} GiB of KV cache "
            f"and this machine has {have / 2**30:.1f} GiB: try a smaller n_ctx"
        )


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
    ) -> None:
        path = Path(path).expanduser()
        check_gguf(path)  # before llama.cpp sees the file (and before the backend starts)
        _backend()
        self.path = path
        self.prompt_format = prompt_format
        self._model = None
        self._ctx = None
        self._batch = None
        mp = C.llama_model_default_params()
        mp.n_gpu_layers = int(n_gpu_layers) if n_gpu_layers >= 0 else 0x7FFFFFFF
        _log_tail.clear()
        model = C.llama_model_load_from_file(str(path).encode("utf-8"), mp)
        if not model:
            raise ModelError(f"llama.cpp could not load {path}: {_last_log()}")
        self._model = model
        self._vocab = C.llama_model_get_vocab(model)
        self.n_vocab = int(C.llama_vocab_n_tokens(self._vocab))
        self.n_ctx_train = int(C.llama_model_n_ctx_train(model))
        _check_kv_fits(model, int(n_ctx), path)

        cp = C.llama_context_default_params()
        cp.n_ctx = int(n_ctx)
        cp.n_batch = int(n_batch)
        cp.n_ubatch = int(n_batch)
        cp.n_seq_max = int(n_seq_max)
        # llama.cpp caps n_batch at n_ctx, and sizes the output buffer from n_batch by
        # default; reserving a graph for n_seq_max sequences then aborts the process
        # (GGML_ASSERT in output_reserve) whenever n_ctx < n_seq_max. Room for one
        # output per sequence makes small contexts safe.
        usable_batch = min(int(n_batch), int(n_ctx)) if n_ctx > 0 else int(n_batch)
        cp.n_outputs_max = max(usable_batch, int(n_seq_max))
        threads = int(n_threads or os.cpu_count() or 1)
        cp.n_threads = threads
        cp.n_threads_batch = threads
        cp.kv_unified = True
        cp.swa_full = True
        cp.no_perf = True
        cp.embeddings = False
        ctx = C.llama_init_from_model(model, cp)
        if not ctx:
            raise ContextError(
                f"llama.cpp could not create a {n_ctx}-cell context for {path.name}: "
                f"{_last_log()}; try a smaller n_ctx"
            )
        self._ctx = ctx
        self._mem = C.llama_get_memory(ctx)
        self.n_ctx = int(C.llama_n_ctx(ctx))
        self.n_batch = int(C.llama_n_batch(ctx))
        self.n_seq_max = int(C.llama_n_seq_max(ctx))
        self.n_threads = threads
        self.n_gpu_layers = n_gpu_layers
        self._batch = C.llama_batch_init(self.n_batch, 0, 1)
        b = self._batch
        self._tok = np.ctypeslib.as_array(b.token, shape=(self.n_batch,))
        self._pos = np.ctypeslib.as_array(b.pos, shape=(self.n_batch,))
        self._nseq = np.ctypeslib.as_array(b.n_seq_id, shape=(self.n_batch,))
        self._want = np.ctypeslib.as_array(b.logits, shape=(self.n_batch,))
        self._seq = [b.seq_id[i] for i in range(self.n_batch)]
        self._nseq[:] = 1
        self._pieces: dict[int, bytes] = {}
        self._eog: dict[int, bool] = {}
        self._held = np.zeros(self.n_seq_max, dtype=np.int64)  # next position per seq id
        self.add_bos = bool(C.llama_vocab_get_add_bos(self._vocab))

    # lifetime ------------------------------------------------------------
    def close(self) -> None:
        if self._batch is not None:
            C.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            C.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            C.llama_model_free(self._model)
            self._model = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # metadata ------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        buf = ctypes.create_string_buffer(4096)
        n = C.llama_model_meta_val_str(self._model, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        t = C.llama_model_chat_template(self._model, None)
        return t.decode("utf-8", errors="replace") if t else None

    # text ----------------------------------------------------------------
    def tokenize(self, text: str, add_special: bool = True) -> list[int]:
        data = text.encode("utf-8")
        cap = len(data) + 16
        buf = (C.llama_token * cap)()
        n = C.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, True)
        if n < 0:
            cap = -n
            buf = (C.llama_token * cap)()
            n = C.llama_tokenize(self._vocab, data, len(data), buf, cap, add_special, True)
        if n < 0:
            raise ModelError(f"could not tokenize the prompt ({n})")
        return list(buf[:n])

    def format_prompt(self, text: str) -> str:
        if self.prompt_format != "chat":
            return text
        tmpl = C.llama_model_chat_template(self._model, None)
        if not tmpl:
            raise ModelError(
                f"{self.path.name} has no chat template; set prompt_format = \"raw\" for it"
            )
        msg = (C.llama_chat_message * 1)()
        role, content = b"user", text.encode("utf-8")
        msg[0].role, msg[0].content = role, content
        cap = 2 * len(content) + 1024
        buf = ctypes.create_string_buffer(cap)
        n = C.llama_chat_apply_template(tmpl, msg, 1, True, buf, cap)
        if n > cap:
            buf = ctypes.create_string_buffer(n + 1)
            n = C.llama_chat_apply_template(tmpl, msg, 1, True, buf, n + 1)
        if n < 0:
            raise ModelError(f"llama.cpp does not know the chat template of {self.path.name}")
        return buf.raw[:n].decode("utf-8", errors="replace")

    def prompt_tokens(self, prompt: str) -> list[int]:
        if self.prompt_format == "chat":
            # the template writes BOS itself when the model wants one
            return self.tokenize(self.format_prompt(prompt), add_special=False)
        return self.tokenize(prompt, add_special=True)

    def piece(self, token: int) -> bytes:
        p = self._pieces.get(token)
        if p is None:
            buf = ctypes.create_string_buffer(64)
            n = C.llama_token_to_piece(self._vocab, token, buf, 64, 0, False)
            if n < 0:
                buf = ctypes.create_string_buffer(-n)
                n = C.llama_token_to_piece(self._vocab, token, buf, -n, 0, False)
            p = buf.raw[: max(n, 0)]
            self._pieces[token] = p
        return p

    def is_eog(self, token: int) -> bool:
        e = self._eog.get(token)
        if e is None:
            e = self._eog[token] = bool(C.llama_vocab_is_eog(self._vocab, token))
        return e

    def token_text(self, token: int) -> str:
        """The token's vocabulary entry (special tokens included), for display."""
        t = C.llama_vocab_get_text(self._vocab, token)
        return t.decode("utf-8", errors="replace") if t else ""

    # decoding ------------------------------------------------------------
    def decode(
        self,
        seq_ids: Sequence[int],
        tokens: Sequence[int],
        positions: Sequence[int],
        logits: Sequence[bool],
    ) -> np.ndarray | None:
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
        pos = np.asarray(positions, dtype=np.int64)
        want = np.asarray(logits, dtype=bool)
        # positions must continue each sequence: llama.cpp asserts on gaps
        nxt = self._held.copy()
        if n == 1 or len(np.unique(seqs)) == n:  # one row per sequence (every step): vectorised
            bad = np.flatnonzero(pos != nxt[seqs])
            if bad.size:
                s, p = seqs[bad[0]], pos[bad[0]]
                raise ValueError(f"sequence {s}: position {p}, expected {nxt[s]}")
            nxt[seqs] = pos + 1
        else:
            for s, p in zip(seqs.tolist(), pos.tolist()):
                if p != nxt[s]:
                    raise ValueError(f"sequence {s}: position {p}, expected {nxt[s]}")
                nxt[s] = p + 1
        b = self._batch
        b.n_tokens = n
        self._tok[:n] = toks
        self._pos[:n] = pos
        self._want[:n] = want
        for i, sid in enumerate(seqs.tolist()):
            self._seq[i][0] = sid
        rc = C.llama_decode(self._ctx, b)
        if rc == 1:
            return None  # no KV slot: nothing was decoded
        if rc != 0:
            raise ContextError(f"llama_decode failed with code {rc}: {_last_log()}")
        self._held = nxt
        n_out = int(want.sum())
        if n_out == 0:
            return np.zeros((0, self.n_vocab), dtype=np.float32)
        ptr = C.llama_get_logits(self._ctx)
        return np.ctypeslib.as_array(ptr, shape=(n_out, self.n_vocab))

    def copy_seq(self, src: int, dst: int, n_pos: int) -> None:
        for s in (src, dst):
            if not 0 <= s < self.n_seq_max:
                raise ValueError(f"sequence id {s} outside [0, {self.n_seq_max})")
        if not 0 <= n_pos <= self._held[src]:
            raise ValueError(f"copy of {n_pos} positions from sequence {src} that holds {self._held[src]}")
        C.llama_memory_seq_cp(self._mem, src, dst, 0, n_pos)
        self._held[dst] = n_pos

    def remove_seq(self, seq: int) -> None:
        if not 0 <= seq < self.n_seq_max:
            raise ValueError(f"sequence id {seq} outside [0, {self.n_seq_max})")
        C.llama_memory_seq_rm(self._mem, seq, -1, -1)
        self._held[seq] = 0

    def clear(self) -> None:
        if self._ctx is None:  # closed: the memory is gone (a late generator cleanup)
            return
        C.llama_memory_clear(self._mem, True)
        self._held[:] = 0


# benchmarks ------------------------------------------------------------------
# The two baselines of ``eager bench`` live here because they call llama.cpp
# directly; the benchmark itself (eager_local.bench) never imports llama_cpp.


def bare_decode_loop(engine: LlamaEngine, prompt: Sequence[int], n_seqs: int, n_steps: int) -> float:
    """Seconds spent in ``n_steps`` bare ``llama_decode`` calls of ``n_seqs`` rows.

    The ceiling of any Python tool on this context: ``prompt`` is decoded once and
    shared by ``n_seqs`` sequences (as the controller does), then every step adds
    one token to each, with logits requested for every row and never read. The
    batch is filled once; only the positions move. The KV cache is cleared after.
    """
    if not 0 < n_seqs <= min(engine.n_batch, engine.n_seq_max):
        raise ValueError(f"n_seqs must be in 1..{min(engine.n_batch, engine.n_seq_max)}")
    prompt = list(prompt)
    P = len(prompt)
    engine.clear()
    for i in range(0, P, engine.n_batch):  # prefill in n_batch chunks, not timed
        chunk = prompt[i : i + engine.n_batch]
        if engine.decode([0] * len(chunk), chunk, range(i, i + len(chunk)), [False] * len(chunk)) is None:
            raise ContextError(f"no room for a {P}-token prompt in {engine.n_ctx} cells")
    for s in range(1, n_seqs):
        engine.copy_seq(0, s, P)
    b = engine._batch
    b.n_tokens = n_seqs
    engine._tok[:n_seqs] = prompt[-1]
    engine._want[:n_seqs] = 1
    for i in range(n_seqs):
        engine._seq[i][0] = i
    pos = engine._pos
    ctx = engine._ctx
    try:
        t0 = time.perf_counter()
        for step in range(n_steps):
            pos[:n_seqs] = P + step
            rc = C.llama_decode(ctx, b)
            if rc != 0:
                raise ContextError(f"llama_decode failed with code {rc}: {_last_log()}")
        return time.perf_counter() - t0
    finally:
        engine.clear()


def highlevel_samples(
    path: str | Path,
    prompt: str,
    n: int,
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    seed: int,
    n_ctx: int,
    n_threads: int | None = None,
    n_gpu_layers: int = 0,
    stop: Sequence[str] = (),
    top_k: int = 40,
    min_p: float = 0.05,
) -> tuple[list[str], list[int], float]:
    """What a user would do without eager-local: ``n`` samples, one after another.

    llama-cpp-python's high-level ``Llama`` (no batching; it ignores ``n``) with
    its prompt cache on, so every sample after the first reuses the prompt's KV.
    ``top_k``/``min_p`` default to the library's own defaults (0 and 0.0 turn
    them off, for the same distribution as eager-local's τ + top-p).
    Returns the texts, their generated token counts, and the seconds the ``n``
    completions took (the model load is not counted).
    """
    _backend()
    threads = int(n_threads or os.cpu_count() or 1)
    llm = C.Llama(
        model_path=str(Path(path).expanduser()),
        n_ctx=int(n_ctx),
        n_threads=threads,
        n_threads_batch=threads,
        n_gpu_layers=int(n_gpu_layers) if n_gpu_layers >= 0 else -1,
        seed=int(seed),
        verbose=False,
    )
    try:
        llm.set_cache(C.LlamaRAMCache())
        texts, counts = [], []
        t0 = time.perf_counter()
        for i in range(n):
            out = llm.create_completion(
                prompt,
                max_tokens=int(max_tokens),
                temperature=float(temperature),
                top_p=float(top_p),
                top_k=int(top_k),
                min_p=float(min_p),
                repeat_penalty=1.0,
                seed=int(seed) + i,
                stop=list(stop) or None,
            )
            texts.append(out["choices"][0]["text"])
            counts.append(int(out["usage"]["completion_tokens"]))
        return texts, counts, time.perf_counter() - t0
    finally:
        llm.close()
