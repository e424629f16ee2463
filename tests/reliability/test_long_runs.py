"""Many consecutive generations in one process (short version of benchmarks/long_run.py).

Sequence ids are recycled (never above M - 1), llama.cpp's own cache is empty
after every run, and resident memory does not creep. No timing is asserted.
"""

from __future__ import annotations

import gc
import importlib.util
from pathlib import Path

import llama_cpp as C  # only to ask llama.cpp itself whether its cache is empty

from eager_local.decoding.controller import collect, generate
from eager_local.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
RUNS = 100


def _bench():
    spec = importlib.util.spec_from_file_location("long_run", ROOT / "benchmarks" / "long_run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def llama_cache_empty(engine) -> bool:
    """Ask llama.cpp (not our bookkeeping) for the last position of every sequence id."""
    return all(C.llama_memory_seq_pos_max(engine.native.context.memory, s) == -1
               for s in range(engine.n_seq_max))


def test_hundred_runs_recycle_ids_and_empty_the_cache(tiny_gguf):
    from eager_local.engine.llama import LlamaEngine

    bench = _bench()
    engine = LlamaEngine(tiny_gguf, n_ctx=512, n_threads=1)
    watch = bench.SeqWatch(engine)
    m = 6
    try:
        rss = []
        for i in range(RUNS):
            s = Settings(method="eager" if i % 3 else "parallel", theta=0.6, max_seqs=m,
                         max_new_tokens=24, seed=i)
            result = collect(generate(engine, bench.PROMPTS[i % len(bench.PROMPTS)], s))
            assert result.stats.n_sequences <= m
            assert llama_cache_empty(engine), f"run {i} left cells in the KV cache"
            assert not engine._held.any()
            if i in (0, RUNS // 2, RUNS - 1):
                gc.collect()
                rss.append(bench.rss_bytes())
        assert watch.max_id <= m - 1  # ids recycled, lowest first
        assert watch.copies > RUNS  # the runs did fork, so recycling was exercised
        growth = rss[-1] - rss[0]
        print(f"RSS after run 1 {rss[0] / 2**20:.1f} MiB, middle {rss[1] / 2**20:.1f} MiB, "
              f"end {rss[2] / 2**20:.1f} MiB, growth {growth / 2**20:+.1f} MiB")
        assert growth < 32 * 2**20, "resident memory grew by more than 32 MiB over 100 runs"
    finally:
        engine.close()


def test_the_benchmark_script_runs(tiny_gguf, capsys):
    bench = _bench()
    code = bench.main(["--runs", "30", "--model", str(tiny_gguf), "--n-ctx", "512",
                       "--threads", "1", "-T", "12", "--theta", "0.6"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "growth" in out and "runs that left KV cells behind: 0" in out
