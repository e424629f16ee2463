"""Checks on a GGUF file before llama.cpp sees it, and its cached sha256.

llama.cpp can abort the process on a damaged file, so a file is read here
first: it must exist, be a regular non-empty file, start with the GGUF magic,
be at least as long as its own tensor table says, and hold no two tensors whose
data overlap (a downloaded GGUF is untrusted input).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import threading
from pathlib import Path

from . import locations
from ..errors import ModelError

MAGIC = b"GGUF"
_U64 = struct.Struct("<Q")
# GGUF metadata value types -> struct format of a scalar (8 = string, 9 = array)
_SCALAR = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}


#: Architectures llama.cpp loads as encoders only (embeddings, no next-token head).
ENCODER_ONLY = frozenset({"bert", "modern-bert", "nomic-bert", "nomic-bert-moe", "neo-bert",
                          "jina-bert-v2", "jina-bert-v3", "eurobert", "t5encoder"})
#: Tokenizers (tokenizer.ggml.model) whose byte fallback needs a token for every byte;
#: llama.cpp aborts (std::out_of_range) on text that needs a missing one.
BYTE_FALLBACK = ("llama", "t5")


def check_gguf(path: Path) -> None:
    """Raise ModelError naming ``path`` unless it looks like a complete GGUF file."""
    _header(path)


def check_generative(path: Path) -> None:
    """Raise ModelError unless llama.cpp can generate text with the model (read from its
    metadata, before llama.cpp sees the file)."""
    meta = _header(path)
    arch = meta.get("general.architecture")
    if arch in ENCODER_ONLY:
        raise ModelError(
            f"{path.name} is an encoder-only model (architecture {arch!r}, for embeddings): "
            "it cannot generate text; give a generative (decoder) model"
        )
    tok = meta.get("tokenizer.ggml.model")
    missing = meta.get("missing_bytes", 0)
    if tok in BYTE_FALLBACK and missing:
        raise ModelError(
            f"{path.name}: its {tok!r} tokenizer needs a token for each of the 256 bytes and "
            f"{missing} are missing from its vocabulary; llama.cpp would abort: use another file"
        )


_seen: dict[tuple, dict] = {}
"""Headers already read, by (path, size, mtime): a load checks the file three times."""


def _header(path: Path) -> dict:
    try:
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    except OSError:
        key = None
    if key in _seen:
        return _seen[key]
    meta = _read_checked(path)
    if key is not None:
        _seen[key] = meta
    return meta


def _read_checked(path: Path) -> dict:
    if not path.exists():
        raise ModelError(f"model file {path} not found: check the path, or run `eager models`")
    if path.is_dir():
        raise ModelError(f"{path} is a directory: give the .gguf file inside it")
    if not path.is_file():
        raise ModelError(f"{path} is not a regular file: give a .gguf model file")
    size = path.stat().st_size
    if size == 0:
        raise ModelError(f"model file {path} is empty (0 bytes): download it again")
    try:
        with path.open("rb") as f:
            if f.read(4) != MAGIC:
                raise ModelError(
                    f"{path} is not a GGUF model (no GGUF magic at the start): give a .gguf file"
                )
            need, meta = _read_header(f)
    except ModelError:
        raise
    except (OSError, struct.error, UnicodeDecodeError, ValueError, KeyError, OverflowError) as e:
        raise ModelError(f"{path} is damaged or truncated ({e}): download it again") from None
    if size < need:
        raise ModelError(
            f"{path} is truncated: {size} bytes, its tensors need {need}; download it again"
        )
    for key, value in meta.items():
        if not key.endswith(tuple(x.decode() for x in _SIZES)):
            continue
        high = MAX_LAYERS if key.endswith("block_count") else 1 << 40
        if not 0 < value <= high:
            raise ModelError(f"{path} is damaged: {key} = {value} is out of range; download it again")
    return meta


_WANTED = (b"general.architecture", b"tokenizer.ggml.model")
#: Model sizes llama.cpp asserts on (GGML_ASSERT: the process aborts) when out of range.
_SIZES = (b".block_count", b".embedding_length", b".context_length")
_INTS = (0, 1, 2, 3, 4, 5, 10, 11)
MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
_TOKENS = b"tokenizer.ggml.tokens"


class _Reader:
    """Little-endian GGUF values from a binary file, refusing absurd lengths."""

    def __init__(self, f) -> None:
        self.f = f

    def rd(self, fmt: str):
        n = struct.calcsize("<" + fmt)
        b = self.f.read(n)
        if len(b) != n:
            raise ValueError("unexpected end of file in the header")
        return struct.unpack("<" + fmt, b)[0]

    def rd_str(self) -> bytes:
        n = self.rd("Q")
        if n > 1 << 30:
            raise ValueError("string length out of range")
        b = self.f.read(n)
        if len(b) != n:
            raise ValueError("unexpected end of file in a string")
        return b

    def strings(self, n: int) -> list[bytes]:
        """The 1- and 6-byte strings among the next ``n`` (the only ones that can be byte
        tokens), parsed from one read: a 262k-token vocabulary in about 0.1 s."""
        if n > 1 << 24:
            raise ValueError("token count out of range")
        start = self.f.tell()
        buf = self.f.read(64 << 20)
        unpack = _U64.unpack_from
        out, pos, end = [], 0, len(buf) - 8
        for _ in range(n):
            if pos > end:
                self.f.seek(start)
                return [self.rd_str() for _ in range(n)]  # a vocabulary beyond 64 MiB: slowly
            k = unpack(buf, pos)[0]
            if k == 6 or k == 1:
                out.append(buf[pos + 8:pos + 8 + k])
            pos += 8 + k
        if pos > len(buf):
            raise ValueError("unexpected end of file in the token list")
        self.f.seek(start + pos)
        return out

    def skip(self, t: int) -> None:
        if t in _SCALAR:
            self.rd(_SCALAR[t])
        elif t == 8:
            self.rd_str()
        elif t == 9:
            sub, n = self.rd("I"), self.rd("Q")
            if sub in _SCALAR:
                self.f.seek(struct.calcsize("<" + _SCALAR[sub]) * n, os.SEEK_CUR)
            else:
                for _ in range(n):
                    self.skip(sub)
        else:
            raise ValueError(f"unknown metadata type {t}")


def _read_header(f) -> tuple[int, dict]:
    """(bytes the file must have, the metadata checked here) from a GGUF header."""
    r = _Reader(f)
    version = r.rd("I")
    if version not in (2, 3):
        raise ValueError(f"unsupported GGUF version {version}")
    n_tensors, n_kv = r.rd("Q"), r.rd("Q")
    if n_tensors > 1 << 24 or n_kv > 1 << 24:
        raise ValueError("header counts out of range")
    alignment, meta = _read_metadata(r, n_kv)
    return _tensor_end(r, n_tensors, alignment), meta


def _read_metadata(r: _Reader, n_kv: int) -> tuple[int, dict]:
    """(alignment, the few values checked here) from the key-value section."""
    alignment = 32
    meta: dict = {}
    for _ in range(n_kv):
        key = r.rd_str()
        t = r.rd("I")
        if key == b"general.alignment" and t == 4:
            alignment = r.rd("I")
            if alignment == 0 or alignment & (alignment - 1):
                raise ValueError(f"alignment {alignment} is not a power of two")
        elif key.endswith(_SIZES) and t in _INTS:
            meta[key.decode()] = r.rd(_SCALAR[t])
        elif key in _WANTED and t == 8:
            meta[key.decode()] = r.rd_str().decode("utf-8", errors="replace")
        elif key == _TOKENS and t == 9 and r.rd("I") == 8:
            meta["missing_bytes"] = _missing_bytes(r.strings(r.rd("Q")))
        elif key == _TOKENS and t == 9:
            raise ValueError("the token list is not a list of strings")
        else:
            r.skip(t)
    return alignment, meta


def _tensor_end(r: _Reader, n_tensors: int, alignment: int) -> int:
    """Bytes the file needs for the tensors its table describes; ValueError when two
    tensors' data overlap (a file built to make a loader read one tensor through another)."""
    from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType

    spans = []
    for _ in range(n_tensors):
        name = r.rd_str()
        n_dims = r.rd("I")
        if n_dims > 4:  # GGML_MAX_DIMS
            raise ValueError(f"tensor {name[:64]!r} has {n_dims} dimensions (at most 4)")
        dims = [r.rd("Q") for _ in range(n_dims)]
        ggml_type, offset = r.rd("I"), r.rd("Q")
        block, type_size = GGML_QUANT_SIZES[GGMLQuantizationType(ggml_type)]
        n = 1
        for d in dims:
            n *= d
        spans.append((offset, offset + n // block * type_size, name))
    _check_overlap(spans)
    start = r.f.tell()
    start += (-start) % alignment
    return start + max((end for _, end, _ in spans), default=0)


def _check_overlap(spans: list) -> None:
    """ValueError naming the first two tensors whose [offset, end) ranges overlap."""
    last_end, last_name = 0, b""
    for offset, end, name in sorted(s for s in spans if s[1] > s[0]):
        if offset < last_end:
            raise ValueError(f"tensor {name[:64].decode(errors='replace')!r} overlaps tensor "
                             f"{last_name[:64].decode(errors='replace')!r} in the data section")
        if end > last_end:
            last_end, last_name = end, name


def _missing_bytes(tokens) -> int:
    """How many of the 256 bytes have neither a ``<0xXX>`` token nor a one-byte token."""
    have = set()
    for t in tokens:
        if len(t) == 6 and t.startswith(b"<0x") and t.endswith(b">"):
            try:
                have.add(int(t[3:5], 16))
            except ValueError:
                pass
        elif len(t) == 1:
            have.add(t[0])
    return 256 - len(have)


def sha256_of(path: Path) -> str:
    """The file's sha256, cached by path, size and mtime."""
    path = path.resolve()
    st = path.stat()
    key = f"{path}|{st.st_size}|{st.st_mtime_ns}"
    cache = locations.cache_dir() / "sha256.json"
    try:
        table = json.loads(cache.read_text())
    except (OSError, ValueError):
        table = {}
    if not isinstance(table, dict):  # someone else's file, or damaged: start afresh
        table = {}
    if isinstance(table.get(key), str):
        return table[key]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    table[key] = h.hexdigest()
    tmp = cache.with_name(f".{cache.name}.{os.getpid()}.{threading.get_ident()}.tmp")  # one per writer
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(table))
        tmp.replace(cache)
    except OSError:  # a read-only cache only costs a recomputation
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return table[key]
