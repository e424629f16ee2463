"""What ``eager bench`` measured, as frozen values, and how it is shown (table, JSON).

Every figure of one run is a field of ``Figures``; ``Figures.summary()`` holds
the headline ratios, which are the top-level keys of the JSON document (the
rest goes under ``details``, with the same names as the fields here).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from .prefix_cache import PrefixCacheFigures, prefix_cache_lines


@dataclass(frozen=True)
class ShapeFigures:
    """Sections 1–2 at one M: the bare ``llama_decode`` ceiling against the engine (medians)."""

    M: int
    """Sequences decoded per step."""
    ceiling_step_ms: float
    """A bare ``llama_decode`` of M rows (logits requested, never read)."""
    ceiling_tok_s: float
    engine_step_ms: float
    """A full-parallel step through the controller."""
    engine_decode_ms: float
    """Of which inside the engine's ``decode``."""
    engine_outside_ms: float
    """Of which outside it (sampling, bookkeeping, events)."""
    engine_outside_cpu_ms: float
    """This thread's CPU time outside ``decode`` (robust to a busy machine)."""
    engine_tok_s: float
    overhead_share: float | None
    """engine_outside_ms / engine_step_ms."""
    engine_vs_ceiling: float | None
    """ceiling / engine step time."""
    steps_measured: int


@dataclass(frozen=True)
class SamplingFigures:
    """Section S at one path and τ: full logits + host sampling (old) or backend top-N (new)."""

    path: str
    """``host`` (full logits to the host) or ``backend`` (llama.cpp's top_k(N) candidates)."""
    tau: float
    """Temperature of the runs."""
    M: int
    top_n: int
    """Candidates per row on the backend path (0 on the host path)."""
    step_ms: float
    """Median step with all M sequences live."""
    decode_ms: float
    """Of which inside the engine's ``decode``."""
    outside_ms: float
    outside_cpu_ms: float
    """This thread's CPU time outside ``decode``."""
    overhead_share: float | None
    """outside_ms / step_ms."""
    tok_s: float
    inexact_rows: float | None
    """Share of rows whose top-p nucleus could not be proved inside the candidates
    (backend path; docs/sampling.md's policy applied), None on the host path."""
    steps_measured: int
    prompt: str = "mawps"
    """``mawps`` (the first MAWPS item, or the fallback question) or ``open`` (a story opening)."""
    row_us: float | None = None
    """Host path: CPU µs per row of ``sampling.distributions`` on rows recorded in this run."""
    row_us_reference: float | None = None
    """Host path: CPU µs per row of the full-row reference on the same rows."""


@dataclass(frozen=True)
class HighLevelFigures:
    """Section 3: llama-cpp-python's high-level ``Llama``, M samples one after another."""

    prompts: int
    highlevel_wall_s: float
    highlevel_tokens: int
    parallel_wall_s: float
    """Our full parallel on the same prompts."""
    eager_wall_s: float | None
    """Our EAGer-init on the same prompts (None without the dataset)."""
    speedup_parallel: float | None
    speedup_eager: float | None
    sampler: str
    """The high-level loop's sampling settings."""


@dataclass(frozen=True)
class EagerFigures:
    """Section 4: EAGer-init against full parallel on MAWPS SingleOp items."""

    theta: float
    """θ calibrated on other items of the file."""
    items: int
    totals: dict
    """Per method: wall_s, decode_s, generated, decoded, sequences."""
    speedup_wall: float
    token_ratio: float
    """Generated tokens, EAGER / parallel."""
    decoded_ratio: float
    seqs_per_prompt_eager: float
    passk_parallel: float
    passk_eager: float
    passk_diff: float
    passk_diff_ci95: list
    """Paired bootstrap 95% interval of the Pass@k difference."""
    runs: list
    """Per item and method: the figures above."""


@dataclass(frozen=True)
class MemoryFigures:
    """Section 5: M sequences forked from a long shared prompt in a small context."""

    prompt_tokens: int
    sequences: int
    suffix_tokens: int
    n_ctx: int
    peak_kv_cells: int
    naive_kv_cells: int
    """M × (prompt + suffix): what unshared sequences would hold."""
    kv_ratio_naive_vs_peak: float
    generated_tokens: int
    context_full: int
    """Sequences that ended for want of KV cells."""
    rss_before_load_mib: float | None
    rss_loaded_mib: float | None
    rss_after_run_mib: float | None
    rss_run_growth_mib: float | None
    rss_peak_mib: float | None


@dataclass(frozen=True)
class Pass:
    """One method over the items at one concurrency."""

    concurrency: str
    """``1`` or ``auto``."""
    wall_s: float
    """Wall time of the whole pass."""
    generated_tokens: int
    """Tokens of every tree, shared prefixes counted once."""
    tokens_per_s: float
    prompts_per_min: float
    passk: float
    """Share of prompts with at least one correct sequence."""


@dataclass(frozen=True)
class MethodFigures:
    """Concurrency 1 against auto for one method."""

    method: str
    max_seqs: int
    theta: float | None
    one: Pass
    auto: Pass
    speedup: float
    """Tokens/s at auto ÷ tokens/s at 1 (same tokens: the wall-time ratio)."""
    auto_unshared: Pass
    """``auto`` with prompt-prefix sharing off."""
    sharing_speedup: float
    """Wall time at auto without prefix sharing ÷ with it."""
    differing_prompts: int
    """Prompts whose tokens differ between the two passes (batch-shape float differences)."""
    passk_diff_ci95: tuple[float, float]
    """Paired-bootstrap 95% interval of Pass@k(auto) − Pass@k(1)."""


@dataclass(frozen=True)
class ThroughputFigures:
    """The section: both methods over the same items."""

    items: int
    """Items decoded (all the file holds when it has fewer than MIN_ITEMS)."""
    max_new_tokens: int
    eager: MethodFigures
    parallel: MethodFigures


@dataclass(frozen=True)
class Figures:
    """Everything one ``eager bench`` run measured."""

    config: dict
    """The ``BenchConfig`` it ran with."""
    model: str
    n_threads: int
    shapes: tuple[ShapeFigures, ...] = ()
    sampling: tuple[SamplingFigures, ...] = ()
    highlevel: HighLevelFigures | None = None
    eager: EagerFigures | None = None
    memory: MemoryFigures | None = None
    throughput: ThroughputFigures | None = None
    """Section 6 (bench.throughput)."""
    prefix_cache: PrefixCacheFigures | None = None
    """Section P (bench.prefix_cache)."""
    notes: tuple[str, ...] = ()
    wall_s: float = 0.0
    load_average: tuple = ()
    """1-minute load average at the start and the end (other work on the machine)."""

    def _sampling(self, path: str, tau: float, prompt: str = "mawps") -> SamplingFigures | None:
        return next((s for s in self.sampling if s.path == path and s.tau == tau and s.prompt == prompt), None)

    def summary(self) -> dict:
        m32 = next((s for s in self.shapes if s.M == self.config["max_seqs"]), None)
        new6, new12 = self._sampling("backend", 0.6), self._sampling("backend", 1.2)
        old6, old12 = self._sampling("host", 0.6), self._sampling("host", 1.2)
        open6, open12 = self._sampling("host", 0.6, "open"), self._sampling("host", 1.2, "open")
        e, h, mem = self.eager, self.highlevel, self.memory
        return {
            "overhead_share_m32_open": open6.overhead_share if open6 else None,
            "overhead_share_m32_open_tau12": open12.overhead_share if open12 else None,
            "host_rows_speedup_open": _ratio(open6),
            "host_rows_speedup_open_tau12": _ratio(open12),
            "overhead_share_m32": new6.overhead_share if new6 else (m32.overhead_share if m32 else None),
            "overhead_share_m32_tau12": (new12 or old12).overhead_share if (new12 or old12) else None,
            "speedup_backend_sampling_m32": old6.step_ms / new6.step_ms if old6 and new6 else None,
            "overhead_share_m32_host": old6.overhead_share if old6 else None,
            "overhead_share_m32_tau12_host": old12.overhead_share if old12 else None,
            "speedup_eager_vs_parallel_wall": e.speedup_wall if e else None,
            "speedup_parallel_vs_highlevel": h.speedup_parallel if h else None,
            "speedup_eager_vs_highlevel": h.speedup_eager if h else None,
            "token_ratio_eager_vs_parallel": e.token_ratio if e else None,
            "passk_parallel": e.passk_parallel if e else None,
            "passk_eager": e.passk_eager if e else None,
            "peak_kv_cells_m32": mem.peak_kv_cells if mem else None,
            **throughput_summary(self.throughput),
            "speedup_prefix_cache_warm": self.prefix_cache.warm_speedup if self.prefix_cache else None,
            "speedup_prefix_cache_warm_vs_llama": self.prefix_cache.warm_vs_llama if self.prefix_cache else None,
        }

    def to_json(self) -> dict:
        details = asdict(self)
        for k in ("highlevel", "eager", "memory", "throughput", "prefix_cache"):  # as before: an empty object when skipped
            details[k] = details[k] or {}
        return {**self.summary(), "details": details}


def _ratio(r: SamplingFigures | None) -> float | None:
    """The full-row reference's CPU per row over ``sampling.distributions``'s."""
    return r.row_us_reference / r.row_us if r and r.row_us and r.row_us_reference else None


def write_json(fig: Figures, path: str | Path) -> None:
    Path(path).expanduser().write_text(json.dumps(fig.to_json(), indent=1) + "\n", encoding="utf-8")


def format_table(fig: Figures) -> str:
    """The figures as a plain-text table (ratios first: they are what the run shows)."""
    L = [f"eager bench ({'quick' if fig.config['quick'] else 'full'}) · {Path(fig.model).name} · "
         f"{fig.n_threads} threads · {fig.wall_s:.0f} s · load average "
         f"{' → '.join(f'{x:.1f}' for x in fig.load_average if x is not None)}", ""]
    L.append("1-2  ceiling (bare llama_decode) vs engine (full parallel), per step, medians")
    L.append(f"     {'M':>3} {'ceiling ms':>11} {'engine ms':>10} {'in decode':>10} {'outside':>9} "
             f"{'outside %':>10} {'ceiling tok/s':>14} {'engine tok/s':>13} {'outside CPU ms':>15}")
    for r in fig.shapes:
        L.append(f"     {r.M:>3} {r.ceiling_step_ms:>11.1f} {r.engine_step_ms:>10.1f} "
                 f"{r.engine_decode_ms:>10.1f} {r.engine_outside_ms:>9.2f} "
                 f"{100 * (r.overhead_share or 0):>9.1f}% {r.ceiling_tok_s:>14.1f} {r.engine_tok_s:>13.1f} "
                 f"{r.engine_outside_cpu_ms:>15.2f}")
    L += _sampling_lines(fig)
    L += _highlevel_lines(fig) + _eager_lines(fig) + _memory_lines(fig)
    L += throughput_lines(fig.throughput)
    L += prefix_cache_lines(fig.prefix_cache)
    L += [f"note: {n}" for n in fig.notes]
    return "\n".join(L)


def _sampling_lines(fig: Figures) -> list[str]:
    if not fig.sampling:
        return []
    L = ["", f"S    sampling: host path (full logits) and llama.cpp backend top-N, M = {fig.sampling[0].M}, "
             f"per step, medians; host CPU per row: sampling.distributions vs the full-row reference",
         f"     {'prompt':<6} {'path':<8} {'τ':>4} {'N':>5} {'step ms':>8} {'in decode':>10} {'outside':>8} "
         f"{'outside %':>10} {'outside CPU ms':>15} {'tok/s':>7} {'inexact rows':>13} {'row µs':>7} "
         f"{'ref µs':>7}"]
    for r in sorted(fig.sampling, key=lambda r: (r.prompt != "mawps", r.tau, r.path)):
        inexact = "" if r.inexact_rows is None else f"{100 * r.inexact_rows:.1f}%"
        us = "" if r.row_us is None else f"{r.row_us:.0f}"
        ref = "" if r.row_us_reference is None else f"{r.row_us_reference:.0f}"
        L.append(f"     {r.prompt:<6} {r.path:<8} {r.tau:>4.1f} {r.top_n:>5} {r.step_ms:>8.1f} {r.decode_ms:>10.1f} "
                 f"{r.outside_ms:>8.2f} {100 * (r.overhead_share or 0):>9.1f}% {r.outside_cpu_ms:>15.2f} "
                 f"{r.tok_s:>7.1f} {inexact:>13} {us:>7} {ref:>7}")
    sp = fig.summary()["speedup_backend_sampling_m32"]
    if sp:
        L.append(f"     backend sampling: {_x(sp)} the host path's tokens/s at τ = 0.6")
    L.append("     open = \"Once upon a time, in a small village\" (flat rows); load average "
             + " → ".join(f"{x:.1f}" for x in fig.load_average if x is not None))
    return L


def _highlevel_lines(fig: Figures) -> list[str]:
    h = fig.highlevel
    if not h:
        return []
    return ["", f"3    high-level Llama, {fig.config['max_seqs']} samples one after another "
                f"({h.prompts} prompt{'s' if h.prompts != 1 else ''}; {h.sampler})",
            f"     high-level {h.highlevel_wall_s:.1f} s · our parallel {h.parallel_wall_s:.1f} s "
            f"({_x(h.speedup_parallel)} faster)"
            + (f" · our EAGer-init {h.eager_wall_s:.1f} s ({_x(h.speedup_eager)} faster)" if h.eager_wall_s else "")]


def _eager_lines(fig: Figures) -> list[str]:
    e = fig.eager
    if not e:
        return []
    tp, te = e.totals["parallel"], e.totals["eager"]
    lo, hi = e.passk_diff_ci95
    return [
        "", f"4    EAGer-init vs full parallel, {e.items} MAWPS SingleOp items, M = "
            f"{fig.config['max_seqs']}, θ = {e.theta:.3f} (calibrated)",
        f"     {'':<10} {'generated':>10} {'decoded':>9} {'wall s':>8} {'seqs/prompt':>12} {'Pass@k':>7}",
        f"     {'parallel':<10} {tp['generated']:>10} {tp['decoded']:>9} {tp['wall_s']:>8.1f} "
        f"{tp['sequences'] / e.items:>12.1f} {e.passk_parallel:>7.2f}",
        f"     {'eager':<10} {te['generated']:>10} {te['decoded']:>9} {te['wall_s']:>8.1f} "
        f"{te['sequences'] / e.items:>12.1f} {e.passk_eager:>7.2f}",
        f"     EAGER: {_x(e.speedup_wall)} less wall time, {e.token_ratio:.2f}× the generated "
        f"tokens; Pass@k {e.passk_diff:+.2f} (95% CI {lo:+.2f} to {hi:+.2f})",
    ]


def _memory_lines(fig: Figures) -> list[str]:
    m = fig.memory
    if not m:
        return []
    return ["", f"5    memory: {m.sequences} sequences × {m.suffix_tokens} tokens after a "
                f"{m.prompt_tokens}-token shared prompt, in a {m.n_ctx}-cell context",
            f"     peak KV cells {m.peak_kv_cells} vs {m.naive_kv_cells} unshared "
            f"({m.kv_ratio_naive_vs_peak:.1f}× fewer); context_full: {m.context_full}; "
            f"RSS grew {m.rss_run_growth_mib or 0:.0f} MiB during the run "
            f"(process {m.rss_after_run_mib or 0:.0f} MiB)"]


def _x(v) -> str:
    return "n/a" if v is None else f"{v:.1f}×"


def throughput_summary(figures: ThroughputFigures | None) -> dict:
    """The headline ratios, under the keys ``eager bench --json`` promises."""
    f = figures
    return {
        "speedup_eval_concurrency_eager": f.eager.speedup if f else None,
        "speedup_eval_concurrency_parallel": f.parallel.speedup if f else None,
        "speedup_prefix_sharing_eager": f.eager.sharing_speedup if f else None,
        "speedup_prefix_sharing_parallel": f.parallel.sharing_speedup if f else None,
        "eager_vs_parallel_wall_ratio_auto": f.parallel.auto.wall_s / f.eager.auto.wall_s if f else None,
        "eager_vs_parallel_token_ratio_auto": (f.parallel.auto.generated_tokens
                                               / max(f.eager.auto.generated_tokens, 1)) if f else None,
    }


def throughput_lines(figures: ThroughputFigures | None) -> list[str]:
    """The section's lines of the table."""
    if not figures:
        return []
    lines = ["", f"6    eval throughput: {figures.items} MAWPS SingleOp items, T = "
                 f"{figures.max_new_tokens}, concurrency 1 vs auto (same settings and seeds)",
             f"     {'':<16} {'concurrency':>14} {'wall s':>8} {'generated':>10} {'tok/s':>8} "
             f"{'prompts/min':>12} {'Pass@k':>7}"]
    for m in (figures.eager, figures.parallel):
        name = f"{m.method} M={m.max_seqs}"
        for p in (m.one, m.auto, m.auto_unshared):
            lines.append(f"     {name:<16} {p.concurrency:>14} {p.wall_s:>8.1f} {p.generated_tokens:>10} "
                         f"{p.tokens_per_s:>8.1f} {p.prompts_per_min:>12.1f} {p.passk:>7.2f}")
        lo, hi = m.passk_diff_ci95
        lines.append(f"     {name}: {m.speedup:.2f}× the throughput at auto; Pass@k difference 95% CI "
                     f"{lo:+.2f} to {hi:+.2f}; {m.differing_prompts} of {figures.items} prompts' "
                     "tokens differ from their solo run")
        lines.append(f"     {name}: prompt-prefix sharing: {m.sharing_speedup:.2f}× less wall time at auto")
    h = throughput_summary(figures)
    lines.append(f"     at auto, EAGER took {h['eager_vs_parallel_wall_ratio_auto']:.2f}× less wall time than "
                 f"parallel for {h['eager_vs_parallel_token_ratio_auto']:.2f}× fewer generated tokens")
    return lines
