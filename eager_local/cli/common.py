"""Arguments shared by the subcommands: model selection and generation settings,
and how the CLI words a setting in an error (its flag)."""

from __future__ import annotations

import argparse

from ..registry import default_theta
from ..settings import METHODS, Settings

#: Settings whose flag is not ``--`` + the name with dashes.
_FLAGS = {"n_threads": "--threads", "n_gpu_layers": "--gpu-layers", "n_seq_max": "n_seq_max"}


def flag(name: str) -> str:
    """The CLI's word for a setting in an error message: its flag."""
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def add_model_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", metavar="ALIAS|PATH", help="registry alias or .gguf path (default: the registry's default)")
    g.add_argument("--n-ctx", type=int, metavar="N", help="KV cells of the context (default: from models.toml)")
    g.add_argument("--gpu-layers", type=int, metavar="N", help="layers to offload to the GPU (-1 = all)")
    g.add_argument("--threads", type=int, metavar="N", help="CPU threads (default: all cores)")


def add_settings_args(p: argparse.ArgumentParser, methods=METHODS, default_method="eager") -> None:
    d = Settings()
    g = p.add_argument_group("generation")
    g.add_argument("--method", default=default_method, help=f"{' | '.join(methods)} (default {default_method})")
    g.add_argument("--theta", type=float, default=None,
                   help=f"entropy threshold θ in nats (default: the model's theta in models.toml, else {d.theta})")
    g.add_argument("--max-seqs", "-M", type=int, default=d.max_seqs, help=f"cap M on sequences per prompt (default {d.max_seqs})")
    g.add_argument("--temperature", type=float, default=d.temperature, help=f"τ (default {d.temperature})")
    g.add_argument("--top-p", type=float, default=d.top_p, help=f"nucleus mass (default {d.top_p})")
    g.add_argument("--top-k-entropy", type=int, default=d.top_k_entropy, help=f"K of the top-K entropy (default {d.top_k_entropy})")
    g.add_argument("--max-new-tokens", "-T", type=int, default=d.max_new_tokens, help=f"T (default {d.max_new_tokens})")
    g.add_argument("--seed", type=int, default=d.seed, help=f"sampling seed (default {d.seed})")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable; \\n for newline)")
    g.add_argument("--monitor-window", type=int, default=d.monitor_window, help=f"tokens without a fork before monitoring stops (default {d.monitor_window})")


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
    ).validate()


def load_options(args) -> dict:
    """The ``load`` options of the model arguments, checked before anything loads."""
    from ..api import check_load_options

    options = dict(n_ctx=args.n_ctx, n_gpu_layers=args.gpu_layers, n_threads=args.threads)
    check_load_options(**options)
    return options


def load_model_from_args(args, **kw):
    from ..api import load

    return load(args.model, **load_options(args), **kw)


def unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")
