"""Host path vs backend top-N on the default model: step time, time outside decode,
and how often the backend's nucleus cannot be proved (docs/sampling.md's figures).

    python benchmarks/sampling_paths.py [--tops 64,256,1024] [--taus 0.2,0.6,1.0,1.2,1.5]

Every configuration runs the same prompts with M = 32 full parallel, interleaved
round by round; medians of the steps with all 32 sequences live. Prints one line
per (path, N, τ) and the load average.
"""

from __future__ import annotations

import argparse
import os
import statistics

from eager_local.bench.runner import _fallback_prompt, _steps
from eager_local.engine.llama import LlamaEngine
from eager_local.models.registry import load_registry, model_path
from eager_local.settings import Settings

PROMPTS = [_fallback_prompt(), "Once upon a time, in a small village"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tops", default="64,256,1024")
    ap.add_argument("--taus", default="0.2,0.6,1.0,1.2,1.5")
    ap.add_argument("--host-taus", default=None, help="τ of the host path (default: --taus)")
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    path = model_path(load_registry().get(None))
    kw = dict(n_ctx=2048, n_seq_max=32, n_threads=a.threads)
    engines = {("host", 0): LlamaEngine(path, sampling="host", **kw)}
    for n in (int(x) for x in a.tops.split(",") if x):
        engines[("backend", n)] = LlamaEngine(path, sampling="backend", top_n=n, **kw)
    taus = [float(t) for t in a.taus.split(",")]
    host_taus = [float(t) for t in (a.host_taus or a.taus).split(",")]
    for tau in sorted(set(taus) | set(host_taus)):
        for (kind, n), e in engines.items():
            if tau not in (host_taus if kind == "host" else taus):
                continue
            rows, proof = [], []
            for _ in range(a.rounds):
                for p in PROMPTS:
                    s = Settings(method="parallel", max_seqs=32, max_new_tokens=a.steps + 1, temperature=tau,
                                 seed=0)
                    rows += _steps(e, p, s, 32, proof if kind == "backend" else None)
            step = statistics.median(r[0] for r in rows)
            dec = statistics.median(r[1] for r in rows)
            cpu = statistics.median(r[2] for r in rows)
            inexact = f"{100 * (1 - sum(proof) / len(proof)):5.1f}%" if proof else "    -"
            print(f"{kind:7} N={n:<5} τ={tau:<4} step {1e3 * step:7.1f} ms  decode {1e3 * dec:7.1f}  "
                  f"outside {1e3 * (step - dec):6.1f} ({100 * (step - dec) / step:4.1f}%)  outside CPU "
                  f"{1e3 * cpu:6.1f} ms  unproved rows {inexact}  ({len(rows)} steps, load "
                  f"{os.getloadavg()[0]:.1f})", flush=True)
    for e in engines.values():
        e.close()


if __name__ == "__main__":
    main()
