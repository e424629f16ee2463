"""llama.cpp aborts the process on some misuses; LlamaEngine must refuse them in Python first.

Each misuse runs in a child process: a GGML_ASSERT would end it with SIGABRT
(exit -6) instead of printing "refused". After every refusal the same engine
must still decode.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = r"""
import sys
from eager_local.engine.llama import LlamaEngine

e = LlamaEngine(sys.argv[1], n_ctx=256, n_seq_max=8, n_batch=64, n_threads=1)
ids = e.prompt_tokens("the cat")
n = len(ids)
assert e.decode([0] * n, ids, list(range(n)), [False] * (n - 1) + [True]) is not None
tok = ids[1]

CASES = {
    "batch-above-n_batch": lambda: e.decode([1] * 65, [tok] * 65, list(range(65)), [False] * 65),
    "empty-batch": lambda: e.decode([], [], [], []),
    "seq-id-at-n_seq_max": lambda: e.decode([8], [tok], [0], [True]),
    "seq-id-far-above": lambda: e.decode([300], [tok], [0], [True]),
    "seq-id-negative": lambda: e.decode([-1], [tok], [0], [True]),
    "token-out-of-vocab": lambda: e.decode([1], [e.n_vocab], [0], [True]),
    "token-negative": lambda: e.decode([1], [-5], [0], [True]),
    "position-gap": lambda: e.decode([0], [tok], [n + 3], [True]),
    "position-repeated": lambda: e.decode([0], [tok], [n - 1], [True]),
    "position-gap-in-batch": lambda: e.decode([2, 2], [tok, tok], [0, 2], [False, True]),
    "lengths-differ": lambda: e.decode([1, 1], [tok], [0], [True]),
    "copy-dst-at-n_seq_max": lambda: e.copy_seq(0, 8, 2),
    "copy-src-negative": lambda: e.copy_seq(-1, 2, 2),
    "copy-more-than-held": lambda: e.copy_seq(0, 2, n + 1),
    "copy-negative-length": lambda: e.copy_seq(0, 2, -1),
    "remove-at-n_seq_max": lambda: e.remove_seq(8),
    "remove-negative": lambda: e.remove_seq(-1),
}
for name in sys.argv[2:]:
    try:
        CASES[name]()
    except ValueError as exc:
        print("refused", name, exc, flush=True)
    else:
        print("accepted", name, flush=True)

# the engine is still whole: continue sequence 0 and fork it
assert e.decode([0], [tok], [n], [True]) is not None
e.copy_seq(0, 3, n + 1)
assert e.decode([0, 3], [tok, tok], [n + 1, n + 1], [True, True]).shape[0] == 2
e.remove_seq(3)
e.clear()
print("alive", flush=True)
"""

CASES = [
    "batch-above-n_batch", "empty-batch", "seq-id-at-n_seq_max", "seq-id-far-above",
    "seq-id-negative", "token-out-of-vocab", "token-negative", "position-gap",
    "position-repeated", "position-gap-in-batch", "lengths-differ", "copy-dst-at-n_seq_max",
    "copy-src-negative", "copy-more-than-held", "copy-negative-length", "remove-at-n_seq_max",
    "remove-negative",
]


def run_script(model, cases):
    return subprocess.run([sys.executable, "-c", SCRIPT, str(model), *cases],
                          capture_output=True, text=True, timeout=120)


def test_every_abort_path_is_refused_in_python(tiny_gguf):
    proc = run_script(tiny_gguf, CASES)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    refused = {ln.split()[1] for ln in lines if ln.startswith("refused")}
    assert refused == set(CASES), [ln for ln in lines if not ln.startswith("refused")]
    assert lines[-1] == "alive"


@pytest.mark.parametrize("case", ["batch-above-n_batch", "seq-id-at-n_seq_max", "position-gap"])
def test_the_guard_is_what_stops_the_abort(tiny_gguf, case):
    """Without the engine's check the same call reaches llama.cpp: proof that the test can fail.

    The raw call is made with llama_cpp directly in a child; it must not come back "refused".
    """
    raw = r"""
import sys
import llama_cpp as C
from eager_local.engine.llama import LlamaEngine
e = LlamaEngine(sys.argv[1], n_ctx=256, n_seq_max=8, n_batch=64, n_threads=1)
assert e.decode([0] * 3, [10, 11, 12], [0, 1, 2], [False, False, True]) is not None
case = sys.argv[2]
rows = 65 if case == "batch-above-n_batch" else 1
b = C.llama_batch_init(128, 0, 1)
b.n_tokens = rows
for i in range(rows):
    b.token[i] = 10
    b.pos[i] = (6 if case == "position-gap" else 3 + i)
    b.n_seq_id[i] = 1
    b.seq_id[i][0] = 8 if case == "seq-id-at-n_seq_max" else 0
    b.logits[i] = True
rc = C.llama_decode(e.native.context.ptr, b)
print("returned", rc, flush=True)
"""
    proc = subprocess.run([sys.executable, "-c", raw, str(tiny_gguf), case],
                          capture_output=True, text=True, timeout=120)
    # llama.cpp either aborts the process or returns an error code; never a success
    if proc.returncode == 0:
        assert "returned" in proc.stdout and "returned 0" not in proc.stdout, proc.stdout
    else:
        assert proc.returncode < 0 or proc.returncode == 134, proc.returncode


def test_a_closed_engine_refuses_every_call_with_one_line(tiny_gguf):
    """`engine-closed`: after close(), each engine call raises ModelError (its C memory is
    gone: reaching llama.cpp would crash); close() twice and clear() stay quiet."""
    script = r"""
import sys
from eager_local.engine.llama import LlamaEngine
from eager_local.errors import ModelError
e = LlamaEngine(sys.argv[1], n_ctx=256, n_seq_max=8, n_batch=64, n_threads=1)
ids = e.prompt_tokens("the cat")
e.decode([0], ids[:1], [0], [True])  # sequence 0 holds one position
e.close(); e.close(); e.clear()
calls = {
    "decode": lambda: e.decode([0], ids[:1], [0], [True]),
    "tokenize": lambda: e.tokenize("the cat"),
    "copy_seq": lambda: e.copy_seq(0, 1, 1),
    "remove_seq": lambda: e.remove_seq(0),
    "token_text": lambda: e.token_text(5),
    "meta": lambda: e.meta("general.name"),
}
for name, call in calls.items():
    try:
        call()
        print("accepted", name)
    except ModelError as exc:
        print("refused", name, exc)
"""
    proc = subprocess.run([sys.executable, "-c", script, str(tiny_gguf)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stderr[-3000:]}"
    lines = proc.stdout.splitlines()
    assert len(lines) == 6 and all(ln.startswith("refused") and "was closed: load it again" in ln for ln in lines), lines
