"""Old and new host sampling paths on the same recorded rows of the open-ended prompt.

    python benchmarks/sampling_replay.py [--steps 4] [--taus 0.6,1.2,1.5] [--rows rows.npz]

Records full-logits steps of the default model (M = 32 full parallel on "Once upon
a time, in a small village", the first ``--steps`` steps with all 32 rows at each
τ; or loads them from ``--rows``, written by ``--save``), then times, one process,
CPU time of this thread, best of ``--repeat`` per step:

* ``68a7321``: ``sampling.distributions`` before backend sampling landed (its
  source read from git history);
* ``f6dfd0f``: the previous round's (group bound, then ``_row_nucleus``);
* ``new``: this version's (``decoding/nucleus.py``);
* ``llama.cpp``: llama.cpp's own CPU sampler chain per row (temperature →
  top-p(0.95) → dist) on a token-data array of the row (with ``--llama-chain``).

Prints ms per 32-row step, the ratios old / new, whether the new path's
entropies and draws equal the previous ones, and the load average.
"""

from __future__ import annotations

import argparse
import ctypes
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from eager_local.bench.sampling_section import best_cpu  # noqa: E402
from eager_local.decoding import sampling  # noqa: E402

PROMPT = "Once upon a time, in a small village"
OLD = {"68a7321": "eager_local/sampling.py", "f6dfd0f": "eager_local/decoding/sampling.py"}


def load_old(rev: str):
    """``distributions`` of an earlier commit, as a module inside the package (relative imports work)."""
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:{OLD[rev]}"], check=True,
                         capture_output=True, text=True).stdout
    name = f"eager_local.decoding._sampling_{rev}"
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "eager_local.decoding"
    sys.modules[name] = mod  # dataclasses look their module up
    exec(compile(src, f"{rev}:{OLD[rev]}", "exec"), mod.__dict__)
    return mod


def record(steps: int, taus: list[float], threads: int) -> dict[float, np.ndarray]:
    from eager_local.decoding.controller import generate
    from eager_local.engine.llama import LlamaEngine
    from eager_local.models.registry import load_registry, model_path
    from eager_local.settings import Settings

    e = LlamaEngine(model_path(load_registry().get(None)), sampling="host", n_ctx=2048, n_seq_max=32,
                    n_threads=threads)

    class Rec:
        def __init__(self):
            self.rows = []

        def __getattr__(self, n):
            return getattr(e, n)

        def decode(self, *a):
            out = e.decode(*a)
            if out is not None and len(out) == 32 and len(self.rows) < steps:
                self.rows.append(np.array(out))
            return out

    out = {}
    for tau in taus:
        r = Rec()
        for _ in generate(r, PROMPT, Settings(method="parallel", max_seqs=32, max_new_tokens=steps + 2,
                                              temperature=tau, seed=0)):
            pass
        out[tau] = np.stack(r.rows)
    e.close()
    return out


def llama_chain(tau: float, top_p: float):
    """llama.cpp's CPU chain temperature → top-p → dist, applied to one row at a time."""
    import llama_cpp as L

    chain = L.llama_sampler_chain_init(L.llama_sampler_chain_default_params())
    for s in (L.llama_sampler_init_temp(tau), L.llama_sampler_init_top_p(top_p, 1), L.llama_sampler_init_dist(0)):
        L.llama_sampler_chain_add(chain, s)
    dt = np.dtype([("id", "<i4"), ("logit", "<f4"), ("p", "<f4")])

    def apply(x: np.ndarray) -> list[int]:
        got = []
        for row in x:
            buf = np.empty(len(row), dtype=dt)
            buf["id"] = np.arange(len(row))
            buf["logit"] = row
            arr = L.llama_token_data_array(ctypes.cast(buf.ctypes.data, ctypes.POINTER(L.llama_token_data)),
                                           len(row), -1, False)
            L.llama_sampler_apply(chain, ctypes.byref(arr))
            got.append(int(buf["id"][arr.selected]))
        return got

    return apply


def same(a, b) -> bool:
    """Same entropies (1e-9) and the same 20 draws of every row."""
    for x, y in zip(a, b):
        if abs(x.entropy - y.entropy) > 1e-9:
            return False
        for seed in range(20):
            if sampling.sample_top_p(x, 0.95, np.random.default_rng(seed)) != \
                    sampling.sample_top_p(y, 0.95, np.random.default_rng(seed)):
                return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=4)
    ap.add_argument("--taus", default="0.6,1.2,1.5")
    ap.add_argument("--rows", help="recorded rows (.npz from --save) instead of recording")
    ap.add_argument("--save", help="write the recorded rows here (.npz)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--llama-chain", action="store_true", help="also time llama.cpp's CPU sampler chain")
    a = ap.parse_args()
    taus = [float(t) for t in a.taus.split(",")]
    load0 = os.getloadavg()[0]
    if a.rows:
        z = np.load(a.rows)
        rows = {float(k): z[k] for k in z.files}
    else:
        rows = record(a.steps, taus, a.threads)
        if a.save:
            np.savez(a.save, **{str(t): v for t, v in rows.items()})
    paths = {rev: load_old(rev).distributions for rev in OLD} | {"new": sampling.distributions}
    print(f"host sampling per 32-row step, ms (CPU, best of {a.repeat}); rows of {PROMPT!r}, "
          f"default model, top-p 0.95, K 20; load average {load0:.1f} at the start")
    for tau in taus:
        X = rows[tau]
        ms = {name: [] for name in paths}
        chain = llama_chain(tau, 0.95) if a.llama_chain else None
        ms["llama.cpp"] = []
        equal = True
        for x in X:
            for name, f in paths.items():
                ms[name].append(1e3 * best_cpu(lambda: f(x, tau, 20, top_p=0.95, exact_probs=False), a.repeat))
            if chain:
                ms["llama.cpp"].append(1e3 * best_cpu(lambda: chain(x), 1))
            new = sampling.distributions(x, tau, 20, top_p=0.95, exact_probs=False)
            equal &= same(new, sampling.reference_rows(x, tau, 20, 0.95))
            equal &= same(new, paths["68a7321"](x, tau, 20, top_p=0.95, exact_probs=False))
        med = {k: float(np.median(v)) for k, v in ms.items() if v}
        line = "  ".join(f"{k} {v:7.1f}" for k, v in med.items())
        print(f"τ {tau:<4} {line}  |  68a7321/new {med['68a7321'] / med['new']:5.2f}×  "
              f"f6dfd0f/new {med['f6dfd0f'] / med['new']:5.2f}×  entropies and draws equal: {equal}  "
              f"({len(X)} steps, load {os.getloadavg()[0]:.1f})", flush=True)


if __name__ == "__main__":
    main()
