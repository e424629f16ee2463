"""Arguments shared by the subcommands: model selection and generation settings."""

from __future__ import annotations

import argparse
import math
import os

from ..errors import ModelError, SettingsError
from ..settings import MAX_THREADS, METHODS, Settings
from ..user_files import expand_path


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
    g.add_argument("--monitor-window", type=int, default=d.monitor_window, help=f"tokens without a branch before monitoring stops (default {d.monitor_window})")


def default_theta(model: str | None) -> float:
    """θ for a model when none is given: its models.toml ``theta``, else the paper's default."""
    from ..errors import EagerError
    from ..registry import load_registry

    try:
        spec = load_registry().get(model)
    except EagerError:
        return Settings().theta  # the model error is reported when the model is loaded
    return spec.theta if spec.theta is not None else Settings().theta


def settings_from_args(args, method: str | None = None) -> Settings:
    if args.theta is None:
        args.theta = default_theta(getattr(args, "model", None))
    if not math.isfinite(args.theta):
        raise SettingsError(f"theta must be a number ≥ 0 (got {args.theta}); try 1.0")
    stops = tuple(_unescape(s) for s in args.stop)
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


def check_model_args(args) -> None:
    """The model options, checked before any work (the model loads last)."""
    if args.n_ctx is not None and args.n_ctx < 64:
        raise SettingsError(f"--n-ctx must be at least 64 (got {args.n_ctx})")
    if args.threads is not None and not 1 <= args.threads <= MAX_THREADS:
        raise SettingsError(f"--threads must be between 1 and {MAX_THREADS} (got {args.threads}); "
                            f"this machine has {os.cpu_count()} cores")
    if args.model is not None and not args.model.strip():
        raise ModelError("-m/--model is empty: give a registry alias or a .gguf path, or leave it out")
    if args.model is not None:
        expand_path(args.model, "model", ModelError)


def load_model_from_args(args, **kw):
    from ..api import load

    check_model_args(args)
    return load(args.model, n_ctx=args.n_ctx, n_gpu_layers=args.gpu_layers, n_threads=args.threads, **kw)


def _unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")
