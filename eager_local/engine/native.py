"""The one module that imports ``llama_cpp``: one Python object per C object.

``NativeModel``, ``SamplerChain``, ``Context`` and ``Batch`` each own one llama.cpp
object and free it in ``close()`` (idempotent). ``open_native`` builds them in
dependency order inside one ``ExitStack``, so a failure half-way frees what was
already built, and ``Native.close()`` frees everything in reverse order: batch,
context, sampler chains (a context only borrows them), model. Nothing here
knows about sequences, positions or sampling; that is ``engine.llama``.
"""

from __future__ import annotations

import ctypes
import os
import threading
from collections import deque
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import llama_cpp as C  # before numpy: see eager_local/__init__.py

import numpy as np

from ..errors import ContextError, ModelError

_init_lock = threading.Lock()
_backend_ready = False
_log_tail: deque[bytes] = deque(maxlen=40)


def _log_impl(level, text, user_data):  # keep llama.cpp quiet; remember the tail for errors
    if text:
        _log_tail.append(text)


_log = C.llama_log_callback(_log_impl)


def backend() -> None:
    """Start llama.cpp's backend once per process (and route its log here)."""
    global _backend_ready
    with _init_lock:
        if not _backend_ready:
            if os.environ.get("EAGER_LOCAL_LLAMA_LOG") != "stderr":
                C.llama_log_set(_log, ctypes.c_void_p(0))
            C.llama_backend_init()
            _backend_ready = True


def last_log() -> str:
    """llama.cpp's reason for a failure, else the last line it logged (for error messages)."""
    text = b"".join(_log_tail).decode("utf-8", errors="replace")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    # llama.cpp's reason ("unknown model architecture: 'x'") comes before its generic last line
    reasons = [ln.split("error loading model:", 1)[1].strip() for ln in lines if "error loading model:" in ln]
    if reasons:
        return reasons[-1]
    return lines[-1] if lines else "no message from llama.cpp"


def gpu_offload_supported() -> bool:
    """True when this llama.cpp build can offload layers (CUDA, Metal, ...)."""
    backend()
    return bool(C.llama_supports_gpu_offload())


def backend_sampling_available() -> bool:
    """True when this llama-cpp-python exposes llama.cpp's backend sampling."""
    names = ("llama_sampler_seq_config", "llama_get_sampled_logits_ith", "llama_get_sampled_candidates_ith",
             "llama_get_sampled_logits_count_ith", "llama_sampler_chain_init", "llama_sampler_init_top_k")
    fields = {f[0] for f in C.llama_context_params._fields_}
    return all(hasattr(C, n) for n in names) and {"samplers", "n_samplers", "n_outputs_max_per_seq"} <= fields


class NativeModel:
    """A loaded ``llama_model`` and its vocabulary."""

    def __init__(self, path: Path, n_gpu_layers: int) -> None:
        mp = C.llama_model_default_params()
        mp.n_gpu_layers = int(n_gpu_layers) if n_gpu_layers >= 0 else 0x7FFFFFFF
        _log_tail.clear()
        self.ptr = C.llama_model_load_from_file(str(path).encode("utf-8"), mp)
        if not self.ptr:
            raise ModelError(f"llama.cpp could not load {path}: {last_log()}")
        self.vocab = C.llama_model_get_vocab(self.ptr)
        self.n_vocab = int(C.llama_vocab_n_tokens(self.vocab))

    def close(self) -> None:
        if self.ptr:
            C.llama_model_free(self.ptr)
            self.ptr = None

    def kv_bytes_per_cell(self) -> int:
        """Bytes of f16 K and V cache one KV cell takes across all layers."""
        n_head = max(1, int(C.llama_model_n_head(self.ptr)))
        head_dim = int(C.llama_model_n_embd(self.ptr)) // n_head
        return int(C.llama_model_n_layer(self.ptr)) * int(C.llama_model_n_head_kv(self.ptr)) * head_dim * 2 * 2

    def tokenize(self, data: bytes, add_special: bool) -> list[int] | None:
        """Token ids of ``data``; None if llama.cpp refuses it."""
        cap = len(data) + 16
        buf = (C.llama_token * cap)()
        n = C.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, True)
        if n < 0:
            cap = -n
            buf = (C.llama_token * cap)()
            n = C.llama_tokenize(self.vocab, data, len(data), buf, cap, add_special, True)
        return list(buf[:n]) if n >= 0 else None

    def piece(self, token: int) -> bytes:
        buf = ctypes.create_string_buffer(64)
        n = C.llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = C.llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        return buf.raw[: max(n, 0)]

    def is_eog(self, token: int) -> bool:
        return bool(C.llama_vocab_is_eog(self.vocab, token))

    def add_bos(self) -> bool:
        """The tokenizer puts BOS in front of a text itself."""
        return bool(C.llama_vocab_get_add_bos(self.vocab))

    def token_text(self, token: int) -> str:
        """The token's vocabulary entry (special tokens included)."""
        t = C.llama_vocab_get_text(self.vocab, token)
        return t.decode("utf-8", errors="replace") if t else ""

    def meta(self, key: str) -> str | None:
        """A metadata value of the file as text; None when the key is absent."""
        buf = ctypes.create_string_buffer(4096)
        n = C.llama_model_meta_val_str(self.ptr, key.encode(), buf, len(buf))
        return buf.value.decode("utf-8", errors="replace") if n >= 0 else None

    def chat_template(self) -> str | None:
        """The file's Jinja chat template; None without one."""
        t = C.llama_model_chat_template(self.ptr, None)
        return t.decode("utf-8", errors="replace") if t else None

    def apply_chat_template(self, messages: list[tuple[str, str]]) -> str | None:
        """``(role, content)`` messages through the model's template, ending with the
        assistant's turn opened; None without a template.

        Raises ``ValueError`` when llama.cpp does not know the template."""
        tmpl = C.llama_model_chat_template(self.ptr, None)
        if not tmpl:
            return None
        encoded = [(role.encode("utf-8"), content.encode("utf-8")) for role, content in messages]
        msg = (C.llama_chat_message * len(encoded))()
        for m, (role, content) in zip(msg, encoded):
            m.role, m.content = role, content  # ``encoded`` keeps the bytes alive
        cap = 2 * sum(len(c) for _, c in encoded) + 1024
        buf = ctypes.create_string_buffer(cap)
        n = C.llama_chat_apply_template(tmpl, msg, len(encoded), True, buf, cap)
        if n > cap:
            buf = ctypes.create_string_buffer(n + 1)
            n = C.llama_chat_apply_template(tmpl, msg, len(encoded), True, buf, n + 1)
        if n < 0:
            raise ValueError("unknown chat template")
        return buf.raw[:n].decode("utf-8", errors="replace")


class SamplerChain:
    """A ``llama_sampler`` chain holding one ``top_k(n)`` (run by the backend)."""

    def __init__(self, top_n: int) -> None:
        params = C.llama_sampler_chain_default_params()
        params.no_perf = True
        self.ptr = C.llama_sampler_chain_init(params)
        if not self.ptr:
            raise ContextError("llama.cpp could not create a sampler chain")
        C.llama_sampler_chain_add(self.ptr, C.llama_sampler_init_top_k(int(top_n)))  # the chain owns it

    def close(self) -> None:
        if self.ptr:
            C.llama_sampler_free(self.ptr)
            self.ptr = None


@dataclass(frozen=True)
class ContextParams:
    """What ``Context`` asks llama.cpp for (see LlamaEngine for why)."""

    n_ctx: int
    """KV cells."""
    n_batch: int
    """Rows per decode (also the micro-batch)."""
    n_seq_max: int
    """Sequence ids."""
    n_outputs_max: int
    """Output rows one decode may ask for."""
    n_threads: int
    """CPU threads for decoding and prefill."""


class Context:
    """A ``llama_context`` with a unified KV cache; ``chains[i]`` samples sequence id i."""

    def __init__(self, model: NativeModel, p: ContextParams, chains: Sequence[SamplerChain] = ()) -> None:
        cp = C.llama_context_default_params()
        cp.n_ctx, cp.n_batch, cp.n_ubatch = p.n_ctx, p.n_batch, p.n_batch
        cp.n_seq_max, cp.n_outputs_max = p.n_seq_max, p.n_outputs_max
        cp.n_threads = cp.n_threads_batch = p.n_threads
        cp.kv_unified = True
        cp.swa_full = True
        cp.no_perf = True
        cp.embeddings = False
        self._configs = None
        if chains:  # set once here: setting them later makes llama.cpp reserve its graph again
            self._configs = (C.llama_sampler_seq_config * len(chains))()
            for i, chain in enumerate(chains):
                self._configs[i].seq_id = i
                self._configs[i].sampler = ctypes.cast(chain.ptr, ctypes.c_void_p).value
            cp.samplers = ctypes.cast(self._configs, ctypes.POINTER(C.llama_sampler_seq_config))
            cp.n_samplers = len(chains)
            cp.n_outputs_max_per_seq = 1  # one output row per sequence and decode
        self.ptr = C.llama_init_from_model(model.ptr, cp)
        if not self.ptr:
            raise ContextError(
                f"llama.cpp could not create a {p.n_ctx}-cell context: {last_log()}; try a smaller n_ctx"
            )
        self.memory = C.llama_get_memory(self.ptr)
        self.n_vocab = model.n_vocab
        self.n_ctx = int(C.llama_n_ctx(self.ptr))
        self.n_batch = int(C.llama_n_batch(self.ptr))
        self.n_seq_max = int(C.llama_n_seq_max(self.ptr))

    def close(self) -> None:
        if self.ptr:
            C.llama_free(self.ptr)
            self.ptr = None

    def decode(self, batch: "Batch") -> int:
        """``llama_decode``'s return code: 0 done, 1 no KV slot (nothing decoded), else an error."""
        return int(C.llama_decode(self.ptr, batch.raw))

    def logits(self, n_out: int) -> np.ndarray:
        """The full logits of the last decode's ``n_out`` output rows (a view, valid until the next)."""
        return np.ctypeslib.as_array(C.llama_get_logits(self.ptr), shape=(n_out, self.n_vocab))

    def sampled(self, rows: Sequence[int], n: int) -> tuple[np.ndarray, np.ndarray]:
        """(token ids, logits) of the backend's candidates for batch rows ``rows`` (copies, rows × n).

        llama.cpp keeps one output row per ``n_vocab`` stride; when the rows are
        contiguous there (they are, in batch order) one view reads them all."""
        ctx, V, k = self.ptr, self.n_vocab, len(rows)
        first, last = int(rows[0]), int(rows[-1])
        for r in (first, last):
            if int(C.llama_get_sampled_logits_count_ith(ctx, r)) != n or int(
                    C.llama_get_sampled_candidates_count_ith(ctx, r)) != n:
                raise ContextError(f"llama.cpp returned no {n} backend candidates for row {r}: {last_log()}")
        lp = ctypes.cast(C.llama_get_sampled_logits_ith(ctx, first), ctypes.c_void_p).value
        ip = ctypes.cast(C.llama_get_sampled_candidates_ith(ctx, first), ctypes.c_void_p).value
        lp_last = ctypes.cast(C.llama_get_sampled_logits_ith(ctx, last), ctypes.c_void_p).value
        if lp_last == lp + (k - 1) * V * 4:  # one strided block
            lg = np.ctypeslib.as_array(ctypes.cast(lp, ctypes.POINTER(ctypes.c_float)), shape=(k, V))
            ids = np.ctypeslib.as_array(ctypes.cast(ip, ctypes.POINTER(C.llama_token)), shape=(k, V))
            return ids[:, :n].astype(np.int64), lg[:, :n].copy()
        ids = np.empty((k, n), dtype=np.int64)
        lg = np.empty((k, n), dtype=np.float32)
        for j, r in enumerate(rows):
            lg[j] = np.ctypeslib.as_array(C.llama_get_sampled_logits_ith(ctx, int(r)), shape=(n,))
            ids[j] = np.ctypeslib.as_array(C.llama_get_sampled_candidates_ith(ctx, int(r)), shape=(n,))
        return ids, lg

    def seq_cp(self, src: int, dst: int, n_pos: int) -> None:
        C.llama_memory_seq_cp(self.memory, src, dst, 0, n_pos)

    def seq_rm(self, seq: int) -> None:
        C.llama_memory_seq_rm(self.memory, seq, -1, -1)

    def seq_pos_max(self, seq: int) -> int:
        """The last position llama.cpp holds for ``seq`` (-1 when it holds none)."""
        return int(C.llama_memory_seq_pos_max(self.memory, seq))

    def clear(self) -> None:
        C.llama_memory_clear(self.memory, True)


class Batch:
    """A ``llama_batch`` of ``capacity`` rows, one sequence id per row, as numpy views."""

    def __init__(self, capacity: int) -> None:
        self.raw = C.llama_batch_init(capacity, 0, 1)
        self.capacity = capacity
        self._live = True
        b = self.raw
        self.tokens = np.ctypeslib.as_array(b.token, shape=(capacity,))
        self.positions = np.ctypeslib.as_array(b.pos, shape=(capacity,))
        self.want = np.ctypeslib.as_array(b.logits, shape=(capacity,))
        np.ctypeslib.as_array(b.n_seq_id, shape=(capacity,))[:] = 1
        self._seq = [b.seq_id[i] for i in range(capacity)]

    def close(self) -> None:
        if self._live:
            self._live = False
            self.tokens = self.positions = self.want = self._seq = None
            C.llama_batch_free(self.raw)

    def fill(self, seq_ids: Sequence[int], tokens, positions, want) -> None:
        """Set the first ``len(seq_ids)`` rows (checked by the caller)."""
        n = len(seq_ids)
        self.raw.n_tokens = n
        self.tokens[:n] = tokens
        self.positions[:n] = positions
        self.want[:n] = want
        for i, sid in enumerate(seq_ids):
            self._seq[i][0] = sid


@dataclass
class Native:
    """Everything llama.cpp holds for one engine; ``close()`` frees it in reverse order."""

    model: NativeModel
    context: Context
    batch: Batch
    chains: tuple
    """The backend sampler chains (empty: full logits reach the host)."""
    _stack: ExitStack

    def close(self) -> None:
        self._stack.close()


def open_native(path: Path, n_gpu_layers: int, plan) -> Native:
    """Load the model, then build what ``plan(model) -> (ContextParams, top_n)`` asks
    for: ``top_n`` > 0 gives every sequence id a ``top_k(top_n)`` chain. ``plan``
    runs before the context exists and may raise; the model is freed then."""
    backend()
    with ExitStack() as stack:
        model = NativeModel(path, n_gpu_layers)
        stack.callback(model.close)
        params, top_n = plan(model)
        chains = []
        for _ in range(params.n_seq_max if top_n > 0 else 0):
            chain = SamplerChain(top_n)
            stack.callback(chain.close)
            chains.append(chain)
        context = Context(model, params, chains)
        stack.callback(context.close)
        batch = Batch(context.n_batch)
        stack.callback(batch.close)
        return Native(model, context, batch, tuple(chains), stack.pop_all())


def highlevel_turns(path, prompts, *, max_tokens, n_ctx, n_threads, n_gpu_layers) -> list[tuple[float, float]]:
    """(seconds to the first token, seconds in all) of each prompt (token ids), one after
    another, greedy, with the high-level ``Llama`` (see engine.llama)."""
    import time

    backend()
    llm = C.Llama(model_path=str(path), n_ctx=int(n_ctx), n_threads=n_threads, n_threads_batch=n_threads,
                  n_gpu_layers=int(n_gpu_layers) if n_gpu_layers >= 0 else -1, verbose=False)
    try:
        out = []
        for ids in prompts:
            t0, first = time.perf_counter(), None
            for _ in llm.create_completion(list(ids), max_tokens=int(max_tokens), temperature=0.0, stream=True):
                first = first or time.perf_counter() - t0
            total = time.perf_counter() - t0
            out.append((first or total, total))
        return out
    finally:
        llm.close()


def highlevel_samples(path, prompt, n, *, max_tokens, temperature, top_p, seed, n_ctx, n_threads,
                      n_gpu_layers, stop=(), top_k=40, min_p=0.05) -> tuple[list[str], list[int], float]:
    """``n`` completions with llama-cpp-python's high-level ``Llama`` (see engine.llama)."""
    import time

    backend()
    llm = C.Llama(model_path=str(path), n_ctx=int(n_ctx), n_threads=n_threads, n_threads_batch=n_threads,
                  n_gpu_layers=int(n_gpu_layers) if n_gpu_layers >= 0 else -1, seed=int(seed), verbose=False)
    try:
        llm.set_cache(C.LlamaRAMCache())
        texts, counts = [], []
        t0 = time.perf_counter()
        for i in range(n):
            out = llm.create_completion(
                prompt, max_tokens=int(max_tokens), temperature=float(temperature), top_p=float(top_p),
                top_k=int(top_k), min_p=float(min_p), repeat_penalty=1.0, seed=int(seed) + i,
                stop=list(stop) or None,
            )
            texts.append(out["choices"][0]["text"])
            counts.append(int(out["usage"]["completion_tokens"]))
        return texts, counts, time.perf_counter() - t0
    finally:
        llm.close()
