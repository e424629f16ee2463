"""A tiny llama-architecture GGUF with random weights, written with the gguf package.

Small enough to build in a fraction of a second and to decode hundreds of
steps per second, so forks, batches, KV accounting and context exhaustion run
on the real llama.cpp in CI.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

WORDS = ["▁the", "▁a", "▁cat", "▁dog", "▁is", "▁on", "▁mat", "▁and", "▁one", "▁two",
         "▁three", "▁four", "▁five", "▁six", "▁yes", "▁no", "▁so", "▁it", "▁was", "▁.",
         "▁7", "▁9", "▁=", "▁+", "é", "ü", "▁ß", "▁€", "▁λ", "▁π"]


def build_tiny_gguf(path: Path, *, seed: int = 0, n_embd: int = 64, n_layer: int = 2,
                    n_head: int = 4, n_head_kv: int = 2, n_ff: int = 128,
                    n_ctx_train: int = 4096, logit_scale: float = 1.0, arch: str = "llama",
                    byte_tokens: bool = True, nan_weights: bool = False,
                    chat_template: str | None = None, extra_tokens: tuple[str, ...] = (),
                    n_vocab: int = 0) -> Path:
    """Write the model to ``path`` and return it. ``logit_scale`` sharpens the output;
    ``chat_template`` and ``extra_tokens`` (user-defined, e.g. think markers) are optional;
    ``n_vocab`` pads the vocabulary with unused tokens to that size (the default
    model's 262,144, for timing: benchmarks/gpu_check.sh).

    Hostile variants for the reliability tests: ``arch`` (an architecture llama.cpp
    does not know, or an encoder-only one), ``byte_tokens=False`` (a SentencePiece
    vocabulary without its 256 byte tokens), ``nan_weights`` (every weight NaN).
    """
    import gguf

    rng = np.random.default_rng(seed)
    n_bytes = 256 if byte_tokens else 0
    tokens = ["<unk>", "<s>", "</s>"] + [f"<0x{i:02X}>" for i in range(n_bytes)] + WORDS
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * n_bytes + [gguf.TokenType.NORMAL] * len(WORDS)
    scores = [0.0] * (3 + n_bytes) + [-float(i) for i in range(len(WORDS))]
    tokens += list(extra_tokens)
    types += [gguf.TokenType.USER_DEFINED] * len(extra_tokens)
    scores += [0.0] * len(extra_tokens)
    pad = max(0, n_vocab - len(tokens))
    tokens += [f"<unused{i}>" for i in range(pad)]
    types += [gguf.TokenType.NORMAL] * pad
    scores += [-1000.0] * pad
    n_vocab = len(tokens)
    head_dim = n_embd // n_head

    w = gguf.GGUFWriter(str(path), arch)
    w.add_name("eager-local tiny test model")
    w.add_context_length(n_ctx_train)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_unk_token_id(0)
    w.add_add_bos_token(True)
    if chat_template is not None:
        w.add_chat_template(chat_template)

    def t(name, *shape, scale=None):
        s = scale if scale is not None else 1.0 / np.sqrt(shape[-1])
        x = (rng.standard_normal(shape) * s).astype(np.float32)
        w.add_tensor(name, np.full_like(x, np.nan) if nan_weights else x)

    t("token_embd.weight", n_vocab, n_embd, scale=1.0)
    for i in range(n_layer):
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        t(f"blk.{i}.attn_q.weight", n_head * head_dim, n_embd)
        t(f"blk.{i}.attn_k.weight", n_head_kv * head_dim, n_embd)
        t(f"blk.{i}.attn_v.weight", n_head_kv * head_dim, n_embd)
        t(f"blk.{i}.attn_output.weight", n_embd, n_head * head_dim)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        t(f"blk.{i}.ffn_gate.weight", n_ff, n_embd)
        t(f"blk.{i}.ffn_up.weight", n_ff, n_embd)
        t(f"blk.{i}.ffn_down.weight", n_embd, n_ff)
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    t("output.weight", n_vocab, n_embd, scale=logit_scale)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


if __name__ == "__main__":  # python tests/tiny_gguf.py OUT [--n-vocab V --n-embd E ...]
    import argparse

    ap = argparse.ArgumentParser(description="write a random-weights GGUF of the given shapes")
    ap.add_argument("out", type=Path)
    for name, default in (("n_vocab", 0), ("n_embd", 64), ("n_layer", 2), ("n_head", 4), ("n_head_kv", 2),
                          ("n_ff", 128)):
        ap.add_argument("--" + name.replace("_", "-"), type=int, default=default)
    a = vars(ap.parse_args())
    print(build_tiny_gguf(a.pop("out"), **a))
