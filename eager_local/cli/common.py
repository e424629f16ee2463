"""Arguments shared by the subcommands: model selection and generation settings."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

from ..branch_region import REGIONS
from ..errors import SettingsError
from ..registry import DEFAULT_THETA
from ..settings import METHODS, Settings


def add_model_args(p: argparse.ArgumentParser) -> None:
    """Model options; llama.cpp's names (-c, -ngl, -t, -v) are aliases."""
    g = p.add_argument_group("model")
    g.add_argument("--model", "-m", metavar="ALIAS|PATH", help="registry alias or .gguf path (default: the registry's default)")
    g.add_argument("--n-ctx", "-c", "--ctx-size", dest="n_ctx", type=int, metavar="N",
                   help="KV cells of the context (default: models.toml, else the file's training context fitted to memory)")
    g.add_argument("--gpu-layers", "-ngl", "--n-gpu-layers", dest="gpu_layers", type=int, metavar="N",
                   help="layers to offload to the GPU, -1 = all (default: models.toml, else all when llama.cpp has a GPU backend)")
    g.add_argument("--threads", "-t", type=int, metavar="N", help="CPU threads (default: all cores)")
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
    g.add_argument("--monitor-window", type=int, default=d.monitor_window, help=f"tokens without a branch before monitoring stops (default {d.monitor_window})")
    g.add_argument("--branch-region", choices=REGIONS, default=None,
                   help="where EAGER may fork: think (before a reasoning model's </think>), answer, all "
                        "(default: think for reasoning models, all otherwise)")


def default_theta(model: str | None) -> float:
    """θ for a model when none is given: the core's one rule (``ModelSpec.default_theta``)."""
    from ..errors import EagerError
    from ..registry import load_registry

    try:
        spec = load_registry().get(model)
    except EagerError:
        return DEFAULT_THETA  # the model error is reported when the model is loaded
    return spec.default_theta


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
        branch_region=args.branch_region or "auto",
    ).validate()


def load_model_from_args(args, **kw):
    from ..api import load

    if args.n_ctx is not None and args.n_ctx < 64:
        raise SettingsError(f"--n-ctx must be at least 64 (got {args.n_ctx})")
    if args.threads is not None and args.threads < 1:
        raise SettingsError(f"--threads must be at least 1 (got {args.threads})")
    model = load(args.model, n_ctx=args.n_ctx, n_gpu_layers=args.gpu_layers, n_threads=args.threads, **kw)
    if model.notices and show_notes(args):
        print(f"note: {model.spec.alias or Path(model.info.path).name}: {'; '.join(model.notices)}", file=sys.stderr)
    return model


def show_notes(args) -> bool:
    """Notes on stderr are for a person: on a terminal or with -v, never with --quiet
    (a script reads --json's params; an error stays the only line)."""
    if getattr(args, "quiet", False):
        return False
    return getattr(args, "verbose", False) or sys.stderr.isatty()


def _unescape(s: str) -> str:
    return s.replace("\\n", "\n").replace("\\t", "\t")
