"""Section S of ``eager bench``: the sampling paths, on the prompts where rows are flat.

Full parallel at M sequences, τ 0.6 and 1.2, on two prompts: the first MAWPS
item (sure rows) and an open-ended story opening (``OPEN_PROMPT``, flat rows:
where EAGER forks). Per configuration: the step, the time outside
``llama_decode`` (wall and this thread's CPU) and, for the host path, the CPU
cost per row of ``sampling.distributions`` against the full-row reference on
logits recorded in the same run. The backend path (llama.cpp's ``top_k(N)``
candidates) runs beside the host path on the MAWPS prompt when the build has it.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from ..decoding import sampling
from ..decoding.controller import generate
from ..events import StepFinished
from ..settings import Settings
from .figures import SamplingFigures

#: The open-ended prompt of section S (a story opening: the TUI's everyday case).
OPEN_PROMPT = "Once upon a time, in a small village"
#: Steps of logits kept per host configuration for the per-row costs.
_RECORDED_STEPS = 3


def steps(engine, prompt, s: Settings, M: int, proof: list | None = None,
          record: list | None = None) -> list[tuple[float, float, float]]:
    """(step seconds, seconds in llama_decode, CPU seconds outside it) of every step
    with all M sequences live. The CPU time (this thread's) does not grow when other
    programs take the cores, so it shows the work done outside llama_decode.
    ``proof``: gets, per backend row, whether its nucleus was proved; ``record``:
    gets copies of up to ``_RECORDED_STEPS`` full M-row logits arrays."""
    timed = _TimedEngine(engine, s if proof is not None else None, proof, record)
    out, last = [], None
    for ev in generate(timed, prompt, s):
        if isinstance(ev, StepFinished):
            now = (ev.elapsed_s, ev.decode_s, time.thread_time(), timed.cpu)
            if last is not None and ev.live == M:
                out.append((now[0] - last[0], now[1] - last[1], (now[2] - last[2]) - (now[3] - last[3])))
            last = now
    return out


class _TimedEngine:
    """The engine, with this thread's CPU time inside ``decode`` added up."""

    def __init__(self, engine, settings: Settings | None = None, proof: list | None = None,
                 record: list | None = None) -> None:
        self._e = engine
        self._s, self._proof, self._record = settings, proof, record
        self.cpu = 0.0

    def __getattr__(self, name):
        return getattr(self._e, name)

    def decode(self, *args):
        t = time.thread_time()
        try:
            out = self._e.decode(*args)
            if self._s is not None and isinstance(out, sampling.Candidates) and len(out) > 1:
                self._proof.extend(sampling.nucleus_proved(out, self._s.temperature, self._s.top_p).tolist())
            if (self._record is not None and isinstance(out, np.ndarray) and len(out) == len(args[0])
                    and len(self._record) < _RECORDED_STEPS and len(out) > 1):
                self._record.append(out.copy())  # a full decode step, every row (not the prompt)
            return out
        finally:
            self.cpu += time.thread_time() - t


def sampling_paths(model, cfg, prompt, prompt_len, notes, log) -> list[SamplingFigures]:
    """Section S: host path on both prompts; the backend path beside it on ``prompt``."""
    from ..engine import llama as L

    e = model.engine
    top_n = e.top_n or min(L.DEFAULT_TOP_N, e.n_vocab // 4)
    backend = L.backend_sampling_available() and top_n >= 2 * Settings().top_k_entropy
    if not backend:
        notes.append("no backend sampling in this llama-cpp-python (or too small a vocabulary): "
                     "section S measures the host path only")
    M, out = cfg.max_seqs, []
    open_len = len(e.prompt_tokens(OPEN_PROMPT))
    kw = dict(n_ctx=max(prompt_len, open_len) + M * (cfg.steps + 2) + 64, n_seq_max=M, n_threads=e.n_threads,
              n_gpu_layers=e.n_gpu_layers, prompt_format=e.prompt_format, top_n=top_n)
    with L.LlamaEngine(e.path, sampling="host", **kw) as old, \
            (L.LlamaEngine(e.path, sampling="backend", **kw) if backend else _Nothing()) as new:
        for tau in cfg.sampling_taus:
            log(f"[S] τ={tau}: host sampling (MAWPS and open-ended prompts)"
                + (f" vs backend top-{top_n}" if backend else "") + f", M={M}, {cfg.rounds} × {cfg.steps} steps")
            s = model.settings(method="parallel", max_seqs=M, max_new_tokens=cfg.steps + 1, seed=cfg.seed,
                               stop=(), temperature=tau)
            rows = {("host", "mawps"): [], ("host", "open"): [], ("backend", "mawps"): []}
            rec = {"mawps": [], "open": []}
            proof: list = []
            for _ in range(cfg.rounds):
                rows[("host", "mawps")].extend(steps(old, prompt, s, M, record=rec["mawps"]))
                if backend:
                    rows[("backend", "mawps")].extend(steps(new, prompt, s, M, proof))
                rows[("host", "open")].extend(steps(old, OPEN_PROMPT, s, M, record=rec["open"]))
            for (path, which), r in rows.items():
                if path == "backend" and not backend:
                    continue
                costs = row_costs(rec[which], s) if path == "host" else (None, None)
                inexact = (1 - sum(proof) / len(proof)) if path == "backend" and proof else None
                out.append(sampling_row(path, which, tau, M, top_n if path == "backend" else 0, r, inexact, costs))
    return out


class _Nothing:
    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


def row_costs(recorded: list[np.ndarray], s: Settings) -> tuple[float | None, float | None]:
    """CPU µs per row of ``sampling.distributions`` and of the full-row reference
    (``sampling.reference_rows``) on the same recorded rows (best of two passes)."""
    if not recorded:
        return None, None
    tau, k, p = s.temperature, s.top_k_entropy, s.top_p
    n = sum(len(x) for x in recorded)
    new = best_cpu(lambda: [sampling.distributions(x, tau, k, top_p=p, exact_probs=False) for x in recorded])
    ref = best_cpu(lambda: [sampling.reference_rows(x, tau, k, p) for x in recorded])
    return 1e6 * new / n, 1e6 * ref / n


def best_cpu(f, rounds: int = 2) -> float:
    """The least CPU time (this thread) of ``rounds`` calls of ``f``."""
    best = float("inf")
    for _ in range(rounds):
        t = time.thread_time()
        f()
        best = min(best, time.thread_time() - t)
    return best


def sampling_row(path, prompt, tau, M, top_n, rows, inexact, costs=(None, None)) -> SamplingFigures:
    step = statistics.median(t for t, _, _ in rows) if rows else float("nan")
    dec = statistics.median(d for _, d, _ in rows) if rows else float("nan")
    outside = statistics.median(t - d for t, d, _ in rows) if rows else float("nan")
    cpu = statistics.median(c for _, _, c in rows) if rows else float("nan")
    return SamplingFigures(
        path=path, tau=tau, M=M, top_n=top_n, step_ms=1e3 * step, decode_ms=1e3 * dec, outside_ms=1e3 * outside,
        outside_cpu_ms=1e3 * cpu, overhead_share=outside / step if step > 0 else None, tok_s=M / step,
        inexact_rows=inexact, steps_measured=len(rows), prompt=prompt, row_us=costs[0], row_us_reference=costs[1],
    )
