"""Arguments shared by the subcommands: model selection and generation settings,
and how the CLI words a setting in an error (its flag)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import ModelError
from ..files.user_files import expand_path
from ..method.branch_region import REGIONS
from ..models.registry import DEFAULT_THETA, default_theta
from ..settings import METHODS, PRUNE_RULES, Settings

#: Settings whose flag is not ``--`` + the name with dashes.
_FLAGS = {"n_threads": "--threads", "n_gpu_layers": "--gpu-layers", "n_seq_max": "n_seq_max"}


def flag(name: str) -> str:
    """The CLI's word for a setting in an error message: its flag."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Model options; llama.cpp's names (-c, -ngl, -t, -v) are aliases."""
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", metavar="ALIAS|PATH", help="registry alias or .gguf path (default: the registry's default)")
    g.add_argument("--n-ctx", "-c", "--ctx-size", dest="n_ctx", type=int, metavar="N",
                   help="KV cells of the context (default: models.toml, else the file's training context fitted to memory)")
    g.add_argument("--gpu-layers", "-ngl", "--n-gpu-layers", dest="gpu_layers", type=int, metavar="N",
                   help="layers to offload to the GPU, -1 = all (default: models.toml, else all when llama.cpp has a GPU backend)")
    g.add_argument("--threads", "-t", type=int, metavar="N", help="CPU threads (default: all cores)")
    g.add_argument("--no-prefix-cache", dest="prefix_cache", action="store_false",
                   help="decode every prompt in full (default: finished runs' prompts and sequences stay "
                        "in the KV cache and later prompts that begin alike copy them)")
    g.add_argument("--prefix-cache-cells", type=int, metavar="N",
                   help="most KV cells the prefix cache holds beyond live runs' (default: what the context has spare)")
    g.add_argument("--quiet", action="store_true", help="no notes on stderr (what the model got from its file)")
    g.add_argument("--verbose", "-v", action="store_true", help="show llama.cpp's own log on stderr")


def add_settings_args(p: argparse.ArgumentParser, methods=METHODS, default_method="eager") -> None:
    """Generation options; llama.cpp's names (-n, -s, --temp) are aliases."""
    d = Settings()
    g = p.add_argument_group("generation")
    g.add_argument("--method", default=default_method, choices=methods, help=f"{' | '.join(methods)} (default {default_method})")
    g.add_argument("--theta", type=float, default=None,
                   help=f"entropy threshold θ in nats (default: the model's theta in models.toml, else {DEFAULT_THETA})")
    g.add_argument("--max-seqs", "-M", type=int, default=d.max_seqs, help=f"cap M on sequences per prompt (default {d.max_seqs})")
    g.add_argument("--temperature", "--temp", dest="temperature", type=float, default=d.temperature, help=f"τ (default {d.temperature})")
    g.add_argument("--top-p", type=float, default=d.top_p, help=f"nucleus mass (default {d.top_p})")
    g.add_argument("--top-k-entropy", type=int, default=d.top_k_entropy, help=f"K of the top-K entropy (default {d.top_k_entropy})")
    g.add_argument("--max-new-tokens", "-T", "-n", "--n-predict", dest="max_new_tokens", type=int, default=d.max_new_tokens, help=f"T (default {d.max_new_tokens})")
    g.add_argument("--seed", "-s", type=int, default=d.seed, help=f"sampling seed (default {d.seed})")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable; \\n for newline)")
    g.add_argument("--monitor-window", type=int, default=d.monitor_window, help=f"tokens without a fork before monitoring stops (default {d.monitor_window})")
    g.add_argument("--branch-region", choices=REGIONS, default=None,
                   help="where EAGER may fork: think (before a reasoning model's </think>), answer, all "
                        "(default: think for reasoning models, all otherwise)")
    add_prune_args(p, d)


def add_prune_args(p: argparse.ArgumentParser, d: Settings) -> None:
    """Online confidence pruning (DeepConf-online)."""
    g = p.add_argument_group("pruning")
    g.add_argument("--prune", nargs="?", const="confidence", default=d.prune, choices=PRUNE_RULES,
                   help="confidence: end a sequence whose last --prune-window tokens are less confident "
                        "than a threshold learned from the first --prune-warmup finished sequences (default none)")
    g.add_argument("--prune-window", type=int, default=d.prune_window, metavar="W",
                   help=f"tokens of the confidence window (default {d.prune_window})")
    g.add_argument("--prune-keep", type=float, default=d.prune_keep, metavar="PCT",
                   help=f"percent of the warm-up sequences the threshold keeps (default {d.prune_keep:g}; 10 is DeepConf-low)")
    g.add_argument("--prune-threshold", type=float, default=None, metavar="S",
                   help="a fixed threshold in nats instead of the learned one")
    g.add_argument("--prune-warmup", type=int, default=d.prune_warmup, metavar="N",
                   help=f"first finished sequences of a prompt, never pruned, that set the threshold (default {d.prune_warmup})")
    g.add_argument("--stop-on-consensus", type=float, default=None, metavar="SHARE",
                   help="end a prompt once the confidence-weighted vote of its finished sequences "
                        "gives one answer this share (e.g. 0.95; needs --prune)")


def add_concurrency_arg(p: argparse.ArgumentParser, default: str = "auto") -> None:
    p.add_argument("--concurrency", type=concurrency, default=default, metavar="N|auto",
                   help="prompts decoded together, one batched decode per step (auto: enough to keep "
                        f"about 32 sequences live, as the context allows; 1: one at a time; default {default})")


def concurrency(text: str) -> int | str:
    """``auto`` or a whole number ≥ 1 (argparse type)."""
    if text == "auto":
        return text
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"use auto or a whole number ≥ 1 (got {text!r})") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"use auto or a whole number ≥ 1 (got {n})")
    return n


def settings_from_args(args, method: str | None = None) -> Settings:
    if args.theta is None:
        args.theta = default_theta(getattr(args, "model", None))
    stops = tuple(unescape(s) for s in args.stop)
    return Settings(
        method=method or args.method,
        theta=args.theta,
        max_seqs=args.max_seqs,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k_entropy=args.top_k_entropy,
        max_new_tokens=args.max_new_tokens,
        seed=args.seed,
        stop=stops,
        monitor_window=args.monitor_window,
        branch_region=args.branch_region or "auto",
        prune=args.prune,
        prune_window=args.prune_window,
        prune_keep=args.prune_keep,
        prune_threshold=args.prune_threshold,
        prune_warmup=args.prune_warmup,
        stop_on_consensus=args.stop_on_consensus,
    ).validate()


def load_options(args) -> dict:
    """The ``load`` options of the model arguments, checked before anything loads."""
    from ..api import check_load_options

    options = dict(n_ctx=args.n_ctx, n_gpu_layers=args.gpu_layers, n_threads=args.threads,
                   prefix_cache=getattr(args, "prefix_cache", True),
                   prefix_cache_cells=getattr(args, "prefix_cache_cells", None))
    check_load_options(**options)
    return options


def check_model_args(args) -> dict:
    """The model options, checked before any work (the model loads last); the ``load`` options."""
    if args.model is not None and not args.model.strip():
        raise ModelError("⟨model⟩ is empty: give a registry alias or a .gguf path, or leave it out")
    if args.model is not None:
        expand_path(args.model, "model", ModelError)
    return load_options(args)


def load_model_from_args(args, **kw):
    from ..api import load

    model = load(args.model, **check_model_args(args), **kw)
    if model.notices and show_notes(args):
        print(f"note: {model.spec.alias or Path(model.info.path).name}: {'; '.join(model.notices)}", file=sys.stderr)
    return model


def show_notes(args) -> bool:
    """Notes on stderr are for a person: on a terminal or with -v, never with --quiet
    (a script reads --json's params; an error stays the only line)."""
    if getattr(args, "quiet", False):
        return False
    return getattr(args, "verbose", False) or sys.stderr.isatty()


def unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")
