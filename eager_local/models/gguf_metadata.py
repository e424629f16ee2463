"""What a GGUF file says about itself: the facts that choose a model's defaults.

Read with the ``gguf`` package's value types from a memory map (metadata
only; tensors are not touched). ``file_defaults`` turns the facts into the defaults a model gets
when models.toml does not set them: the chat template decides the prompt
format, the training context (capped so the KV cache fits in memory) the
context size, and think markers in the template make a reasoning model.
"""

from __future__ import annotations

import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from gguf.constants import GGUFValueType

from ..errors import ModelError

# gguf's scalar value types -> struct format
_SCALARS = {
    GGUFValueType.UINT8: "B", GGUFValueType.INT8: "b", GGUFValueType.UINT16: "H",
    GGUFValueType.INT16: "h", GGUFValueType.UINT32: "I", GGUFValueType.INT32: "i",
    GGUFValueType.FLOAT32: "f", GGUFValueType.BOOL: "?", GGUFValueType.UINT64: "Q",
    GGUFValueType.INT64: "q", GGUFValueType.FLOAT64: "d",
}

THINK = ("<think>", "</think>")
"""The think markers of the reasoning models in the wild (DeepSeek-R1, Qwen3, QwQ)."""
FALLBACK_N_CTX = 8192
"""Context when the file names no training context."""
KV_MEMORY_SHARE = 0.25
"""Share of physical memory the default context's f16 KV cache may take."""


@dataclass(frozen=True)
class GgufFacts:
    """Metadata of one GGUF file."""

    architecture: str
    """``general.architecture`` (llama, qwen2, gemma3, ...)."""
    name: str | None
    """``general.name``, when the file has one."""
    n_ctx_train: int | None
    """Context length the model was trained with."""
    n_layer: int | None
    """Transformer blocks (what ``n_gpu_layers`` counts)."""
    kv_bytes_per_cell: int | None
    """Bytes of one KV cell in f16 over all layers; None when the file lacks the shapes."""
    chat_template: bool
    """The file carries a chat template (``tokenizer.chat_template``)."""
    think: tuple[str, str] | None
    """Think markers: ``</think>`` in the chat template (or, without one, both in the vocabulary)."""


def read_facts(path: Path) -> GgufFacts:
    """Read ``path``'s metadata; ModelError naming the file when it cannot be read."""
    try:
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            meta = _Header(m).metadata()
    except (OSError, ValueError, struct.error, UnicodeDecodeError) as e:
        raise ModelError(f"cannot read the metadata of {path} ({e}): is it a GGUF file?") from None

    def get(key):
        return meta.get(key)

    arch = str(get("general.architecture") or "")
    template = get("tokenizer.chat_template")
    template = template if isinstance(template, str) and template.strip() else None
    return GgufFacts(
        architecture=arch,
        name=get("general.name"),
        n_ctx_train=_int(get(f"{arch}.context_length")),
        n_layer=_int(get(f"{arch}.block_count")),
        kv_bytes_per_cell=_kv_bytes(get, arch),
        chat_template=template is not None,
        think=_think(template, meta.get(_THINK_TOKENS, ())),
    )


_THINK_TOKENS = "tokens: think markers"
"""Pseudo-key under which ``_Header`` keeps the vocabulary's think tokens."""


class _Header:
    """The metadata key/value pairs of a GGUF file, read from a memory map.

    gguf's own ``GGUFReader`` also maps every array element and tensor to numpy
    objects: 10 s for Gemma 3's 262k-token vocabulary. This walks the same layout
    (gguf's value types) and keeps scalars, strings and small arrays; of the
    vocabulary only the think markers are kept.
    """

    def __init__(self, m) -> None:
        self.m, self.at = m, 0

    def metadata(self) -> dict:
        if self.m[:4] != b"GGUF":
            raise ValueError("no GGUF magic")
        self.at = 4
        version, _n_tensors, n_kv = self._unpack("<IQQ")
        if version not in (2, 3) or n_kv > 1 << 20:
            raise ValueError(f"unsupported GGUF header (version {version})")
        out = {}
        for _ in range(n_kv):
            key = self._str()
            (vtype,) = self._unpack("<I")
            if key == "tokenizer.ggml.tokens" and vtype == GGUFValueType.ARRAY:
                out[_THINK_TOKENS] = self._find_tokens(THINK)
            else:
                out[key] = self._value(vtype)
        return out

    def _unpack(self, fmt: str):
        vals = struct.unpack_from(fmt, self.m, self.at)
        self.at += struct.calcsize(fmt)
        return vals

    def _str(self) -> str:
        (n,) = self._unpack("<Q")
        if self.at + n > len(self.m):
            raise ValueError("string runs past the end of the file")
        s = self.m[self.at:self.at + n].decode("utf-8", errors="replace")
        self.at += n
        return s

    def _value(self, vtype: int):
        if vtype == GGUFValueType.STRING:
            return self._str()
        if vtype == GGUFValueType.ARRAY:
            sub, n = self._unpack("<IQ")
            if sub in _SCALARS:
                size = struct.calcsize(_SCALARS[sub])
                vals = (list(struct.unpack_from(f"<{n}{_SCALARS[sub]}", self.m, self.at))
                        if n <= 1024 else None)  # per-layer arrays; long ones are skipped
                self.at += size * n
                return vals
            return [self._value(sub) for _ in range(n)]
        if vtype not in _SCALARS:
            raise ValueError(f"unknown metadata type {vtype}")
        return self._unpack("<" + _SCALARS[vtype])[0]

    def _find_tokens(self, wanted) -> tuple[str, ...]:
        sub, n = self._unpack("<IQ")
        if sub != GGUFValueType.STRING:
            raise ValueError("the token list is not strings")
        found, lengths, m = [], {len(w.encode()) for w in wanted}, self.m
        for _ in range(n):
            (k,) = struct.unpack_from("<Q", m, self.at)
            self.at += 8
            if k in lengths and m[self.at:self.at + k].decode("utf-8", "replace") in wanted:
                found.append(m[self.at:self.at + k].decode("utf-8"))
            self.at += k
        return tuple(found)


def _int(x) -> int | None:
    if isinstance(x, list):  # per-layer arrays (e.g. head_count_kv): the largest
        x = max(x) if x else None
    return int(x) if isinstance(x, (int, float)) and x > 0 else None


def _kv_bytes(get, arch: str) -> int | None:
    n_layer = _int(get(f"{arch}.block_count"))
    n_embd = _int(get(f"{arch}.embedding_length"))
    n_head = _int(get(f"{arch}.attention.head_count"))
    n_head_kv = _int(get(f"{arch}.attention.head_count_kv")) or n_head
    if not (n_layer and n_embd and n_head and n_head_kv):
        return None
    k = _int(get(f"{arch}.attention.key_length")) or n_embd // n_head
    v = _int(get(f"{arch}.attention.value_length")) or n_embd // n_head
    return n_layer * n_head_kv * (k + v) * 2  # f16


def _think(template: str | None, vocab_markers: tuple[str, ...]) -> tuple[str, str] | None:
    """The end marker in the template (early DeepSeek-R1 templates only cut the
    history at ``</think>``); without a template, both markers in the vocabulary."""
    if template is not None:
        return THINK if THINK[1] in template else None
    return THINK if set(vocab_markers) >= set(THINK) else None


def physical_memory() -> int | None:
    """Bytes of physical memory, None when the system does not say."""
    try:
        n = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
    return n if n > 0 else None


def default_n_ctx(facts: GgufFacts, memory: int | None) -> tuple[int, str]:
    """The training context, capped so the f16 KV cache takes at most KV_MEMORY_SHARE of
    ``memory``; with the reason, for the notice."""
    train = facts.n_ctx_train or FALLBACK_N_CTX
    why = f"training context {train}" if facts.n_ctx_train else f"no training context in the file: {train}"
    if memory and facts.kv_bytes_per_cell:
        cap = int(memory * KV_MEMORY_SHARE) // facts.kv_bytes_per_cell // 256 * 256
        cap = max(cap, 512)
        if cap < train:
            gib = cap * facts.kv_bytes_per_cell / 2**30
            return cap, f"training context {train} capped to {cap} ({gib:.1f} GiB of KV cache, a quarter of memory)"
    return train, why
