"""Many consecutive generations in one process: memory stays flat, sequence ids are recycled.

    python benchmarks/long_run.py                     # 1000 runs on the default model
    python benchmarks/long_run.py --runs 200 --model ~/models/x.gguf

After each run it checks that every engine sequence id is empty again, and it
records the highest sequence id ever used (it stays below M: ids are
recycled, lowest first). It prints resident memory (RSS) after loading, after
the first run (buffers allocated) and at every tenth of the way, then the
growth from the first run to the end. No timing is asserted; the tokens per
second are printed for information.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eager_local import load  # noqa: E402
from eager_local.settings import Settings  # noqa: E402

PROMPTS = [
    "Q: Tom has 15 marbles and gives 6 away. How many are left?\nA:",
    "The capital of France is",
    "def fibonacci(n):",
    "Once upon a time, in a small village,",
    "Q: What is 12 times 12?\nA:",
    "The three primary colours are",
]


def rss_bytes() -> int:
    """Resident memory of this process now (Linux /proc; elsewhere the peak, from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


class SeqWatch:
    """Wraps an engine's sequence-id calls to record the ids it is asked to use."""

    def __init__(self, engine) -> None:
        self.engine = engine
        self.max_id = -1
        self.copies = 0
        for name in ("decode", "copy_seq", "remove_seq"):
            setattr(self, "_" + name, getattr(engine, name))
            setattr(engine, name, getattr(self, name))

    def decode(self, seq_ids, *rest):
        self.max_id = max(self.max_id, max(seq_ids))
        return self._decode(seq_ids, *rest)

    def copy_seq(self, src, dst, n_pos):
        self.max_id = max(self.max_id, src, dst)
        self.copies += 1
        return self._copy_seq(src, dst, n_pos)

    def remove_seq(self, seq):
        return self._remove_seq(seq)


def kv_is_empty(engine) -> bool:
    held = getattr(engine, "_held", None)
    return held is None or not held.any()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--model", default=None, help="alias or .gguf path (default: the registry's default)")
    p.add_argument("--method", default="eager", choices=("eager", "parallel", "greedy"))
    p.add_argument("--max-seqs", "-M", type=int, default=4)
    p.add_argument("--max-new-tokens", "-T", type=int, default=16)
    p.add_argument("--theta", type=float, default=1.0)
    p.add_argument("--n-ctx", type=int, default=2048)
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)

    rss_start = rss_bytes()
    # each run must leave the KV cache empty and its ids free: the prefix cache would keep them on purpose
    model = load(args.model, n_ctx=args.n_ctx, n_threads=args.threads, hash_file=False, prefix_cache=False)
    watch = SeqWatch(model.engine)
    base = Settings(method=args.method, theta=args.theta, max_seqs=args.max_seqs,
                    max_new_tokens=args.max_new_tokens)
    rss_loaded = rss_bytes()
    print(f"RSS before load {rss_start / 2**20:.1f} MiB · after load {rss_loaded / 2**20:.1f} MiB",
          flush=True)
    checkpoints = sorted({1, *(max(1, args.runs * k // 10) for k in range(1, 11))})
    rows: list[tuple[int, int]] = []
    sequences = tokens = not_empty = 0
    t0 = time.perf_counter()
    try:
        for i in range(1, args.runs + 1):
            result = model.run(PROMPTS[i % len(PROMPTS)], base, seed=i)
            sequences += result.stats.n_sequences
            tokens += result.stats.generated_tokens
            not_empty += not kv_is_empty(model.engine)
            del result
            if i in checkpoints:
                gc.collect()
                rows.append((i, rss_bytes()))
                print(f"  after run {i:>6}: {rows[-1][1] / 2**20:8.1f} MiB "
                      f"({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        model.close()
    wall = time.perf_counter() - t0

    mib = 1 << 20
    first, last = rows[0][1], rows[-1][1]
    middle = min(rows, key=lambda r: abs(r[0] - args.runs // 2))
    print(f"model {model.info.alias or model.info.path} · {args.method} M={args.max_seqs} "
          f"T={args.max_new_tokens} θ={args.theta:g} · {args.runs} runs in {wall:.1f} s "
          f"({tokens / wall:.1f} generated tok/s)")
    print(f"RSS start (after run 1) {first / mib:.1f} MiB · middle (run {middle[0]}) "
          f"{middle[1] / mib:.1f} MiB · end {last / mib:.1f} MiB · "
          f"growth {100 * (last - first) / first:+.2f}%")
    print(f"sequences {sequences} · generated tokens {tokens} · highest sequence id used "
          f"{watch.max_id} (M = {args.max_seqs}) · prefix copies {watch.copies} · "
          f"runs that left KV cells behind: {not_empty}")
    return 1 if not_empty or watch.max_id >= max(args.max_seqs, 1) + 1 else 0


if __name__ == "__main__":
    sys.exit(main())
