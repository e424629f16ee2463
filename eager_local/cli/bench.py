"""``eager bench``: the performance table (see eager_local.bench.runner), optionally as JSON."""

from __future__ import annotations

from ..errors import SettingsError
from .common import add_model_args, load_model_from_args


def register(sub) -> None:
    p = sub.add_parser(
        "bench", help="measure wall-clock time against llama.cpp and the alternatives",
        description="Ceiling (bare llama_decode), engine overhead, host vs backend sampling, the high-level Llama loop, "
                    "EAGer-init vs full parallel on MAWPS SingleOp, and KV memory; one table.",
    )
    p.add_argument("--quick", action="store_true", help="a short run (a few minutes)")
    p.add_argument("--json", metavar="PATH", help="also write the figures to PATH")
    p.add_argument("--data", metavar="PATH", default="../shared/data/mawps_singleop_dev.jsonl",
                   help="MAWPS SingleOp JSONL (default: %(default)s; section 4 is skipped without it)")
    p.add_argument("--items", type=int, metavar="N", help="items of the EAGER-vs-parallel section")
    p.add_argument("--max-seqs", "-M", type=int, metavar="M", help="sequences per prompt (default 32)")
    p.add_argument("--max-new-tokens", "-T", type=int, metavar="T", help="tokens per sequence")
    p.add_argument("--steps", type=int, metavar="N", help="decode steps per ceiling/engine measurement")
    p.add_argument("--rounds", type=int, metavar="N", help="interleaved repetitions of those")
    p.add_argument("--highlevel-items", type=int, metavar="N", help="prompts run through the high-level Llama")
    p.add_argument("--calibration-items", type=int, metavar="N", help="items sampled to calibrate θ")
    p.add_argument("--target-seqs", type=float, metavar="X", help="θ gives about X sequences per prompt (default 8)")
    p.add_argument("--long-prompt-tokens", type=int, metavar="N", help="shared prompt of the memory section")
    p.add_argument("--seed", type=int, help="base seed (default 0)")
    p.add_argument("--only", choices=("eval-throughput", "prefix-cache"), help="run one section only")
    add_model_args(p)
    p.set_defaults(func=main)


def config_from_args(args):
    from ..bench.runner import BenchConfig

    given = {
        k: getattr(args, k)
        for k in ("data", "items", "max_seqs", "max_new_tokens", "steps", "rounds", "highlevel_items",
                  "calibration_items", "target_seqs", "long_prompt_tokens", "seed")
        if getattr(args, k) is not None
    }
    for k, v in given.items():
        if k not in ("data", "target_seqs", "seed") and v < 1:
            raise SettingsError(f"--{k.replace('_', '-')} must be at least 1 (got {v})")
    if given.get("max_seqs", 32) > 256:
        raise SettingsError("--max-seqs must be at most 256")
    return BenchConfig.quick_config(**given) if args.quick else BenchConfig(**given)


def main(args) -> int:
    from ..bench.runner import format_table, run_bench, write_json

    cfg = config_from_args(args)
    if args.json:  # checked now: a benchmark takes minutes
        from ..files.user_files import check_output_path

        args.json = str(check_output_path(args.json, "--json output", "a file name ending in .json"))
    model = load_model_from_args(args, hash_file=False)
    try:
        if args.only == "prefix-cache":
            from ..bench.runner import run_prefix_cache

            fig = run_prefix_cache(model, cfg)
        elif args.only:
            from ..bench.throughput import run_section

            fig = run_section(model, cfg)
        else:
            fig = run_bench(model, cfg)
    finally:
        model.close()
    print(format_table(fig))
    if args.json:
        write_json(fig, args.json)
    return 0
