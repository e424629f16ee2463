"""``eager calibrate``: propose θ for this model and task from plain samples."""

from __future__ import annotations

import sys

from .common import add_model_args, check_model_args, load_model_from_args
from .eval import add_data_args


def register(sub) -> None:
    from ..settings import Settings

    d = Settings()
    p = sub.add_parser(
        "calibrate", help="propose θ for a target branch rate or sequences per prompt",
        description="Sample a few prompts plainly, record every token's top-K entropy, show the "
                    "histogram and propose θ.",
    )
    p.add_argument("data", metavar="DATA", help="a JSONL file (id, question, answer) or humaneval")
    p.add_argument("--limit", type=int, default=20, metavar="N", help="prompts to sample (default 20)")
    p.add_argument("--offset", type=int, default=0, metavar="N",
                   help="skip the first N items (e.g. calibrate on items you will not evaluate)")
    t = p.add_argument_group("target (one of)")
    t.add_argument("--branch-rate", type=float, metavar="R", help="share of tokens that should fork (default 0.02)")
    t.add_argument("--target-seqs", type=float, metavar="S", help="sequences per prompt EAGer-init should reach")
    add_data_args(p)
    g = p.add_argument_group("sampling")
    g.add_argument("--samples", type=int, default=4, metavar="N", help="plain samples per prompt (default 4)")
    g.add_argument("--max-seqs", "-M", type=int, default=16, metavar="M", help="cap M used to predict sequences per prompt (default 16)")
    g.add_argument("--temperature", type=float, default=d.temperature, help=f"τ (default {d.temperature})")
    g.add_argument("--top-p", type=float, default=d.top_p, help=f"nucleus mass (default {d.top_p})")
    g.add_argument("--top-k-entropy", type=int, default=d.top_k_entropy, help=f"K (default {d.top_k_entropy})")
    g.add_argument("--max-new-tokens", "-T", type=int, default=d.max_new_tokens, help=f"T (default {d.max_new_tokens})")
    g.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    g.add_argument("--stop", action="append", default=[], metavar="TEXT", help="stop string (repeatable; \\n for newline)")
    g.add_argument("--plot", metavar="PNG", help="also write the entropy histogram as a PNG")
    add_model_args(p)
    p.set_defaults(func=main)


def main(args) -> int:
    from rich.console import Console

    from ..errors import SettingsError
    from ..evaluation import calibration as cal_mod
    from ..evaluation.interrupts import stop_on_signals
    from ..models.registry import apply_file_defaults, load_registry
    from ..settings import Settings
    from .common import unescape
    from .eval import load_data

    if args.branch_rate is not None and args.target_seqs is not None:
        raise SettingsError("give --branch-rate or --target-seqs, not both")
    rate = args.branch_rate if args.target_seqs is None else None
    rate = 0.02 if rate is None and args.target_seqs is None else rate
    cal_mod.check_target(rate, args.target_seqs, args.max_seqs)
    if args.plot:
        from ..files.user_files import check_plot_path

        from ..extras import require

        require("matplotlib", "--plot")  # before minutes of sampling
        args.plot = str(check_plot_path(args.plot))
    check_model_args(args)
    settings = Settings(method="parallel", max_seqs=args.samples, temperature=args.temperature,
                        top_p=args.top_p, top_k_entropy=args.top_k_entropy,
                        max_new_tokens=args.max_new_tokens, seed=args.seed,
                        stop=tuple(unescape(s) for s in args.stop)).validate()
    Settings(max_seqs=args.max_seqs).validate()
    spec = apply_file_defaults(load_registry().get(args.model))  # the file says chat or raw
    ds, fmt = load_data(args, spec.prompt_format)
    model = load_model_from_args(args)
    err = Console(stderr=True)
    try:
        with stop_on_signals() as stop:
            with err.status("sampling…") as status:
                cal = cal_mod.sample_entropies(
                    model, ds, fmt, settings, cancel=stop.event,
                    on_prompt=lambda i, n: status.update(f"sampling prompt {i}/{n}…"))
            if stop.event.is_set():
                print("eager calibrate: interrupted", file=sys.stderr)
                return stop.exit_code
    finally:
        model.close()
    if args.target_seqs is not None:
        theta = cal_mod.theta_for_sequences(cal, args.target_seqs, args.max_seqs)
    else:
        theta = cal_mod.theta_for_rate(cal, rate)
    show(cal, theta, args.max_seqs, ds, model.info)
    if args.plot:
        plot_histogram(cal, theta, args.plot)
        print(f"plot written to {args.plot}")
    return 0


def show(cal, theta: float, cap: int, ds, info) -> None:
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from ..evaluation.calibration import histogram, mean_sequences

    c = Console()
    h = cal.entropies
    s = cal.settings
    c.print(f"model {info.alias or info.path} · {ds.name}: {len(cal.paths)} prompts × {s.max_seqs} samples, "
            f"{h.size:,} tokens · τ={s.temperature:g} top-p={s.top_p:g} K={s.top_k_entropy} T={s.max_new_tokens}",
            markup=False, highlight=False)
    q = np.quantile(h, [0.5, 0.9, 0.99, 0.999])
    c.print(f"top-{s.top_k_entropy} entropy (nats): median {q[0]:.3f}, p90 {q[1]:.3f}, p99 {q[2]:.3f}, "
            f"p99.9 {q[3]:.3f}, max {h.max():.3f}", markup=False, highlight=False)
    bins = histogram(h, 0.1)
    peak = max(n for _, n in bins) or 1
    for lo, n in bins:
        # bar length on a log scale: the mass sits near 0 and the tail matters
        bar = "█" * (0 if n == 0 else 1 + int(39 * np.log1p(n) / np.log1p(peak)))
        mark = " ◀ θ" if lo <= theta < lo + 0.1 else ""
        c.print(f"{lo:4.1f}–{lo + 0.1:3.1f} {n:7d} {bar}{mark}", markup=False, highlight=False)
    t = Table("θ", "branch rate (H ≥ θ)", f"predicted sequences / prompt (M={cap})")
    cands = sorted({theta, *[round(float(x), 3) for x in np.quantile(h, [0.9, 0.95, 0.98, 0.99, 0.995])]})
    for th in cands:
        style = "bold" if th == theta else None
        t.add_row(f"{th:.3f}", f"{cal.branch_rate(th):.4f}", f"{mean_sequences(cal, th, cap):.2f}", style=style)
    c.print(t)
    c.print(f"proposed θ = {theta:.3f}  (eager eval ... --method eager --theta {theta:.3f} --max-seqs {cap})",
            markup=False, highlight=False)


def plot_histogram(cal, theta: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(cal.entropies, bins=60, log=True, color="C0")
    ax.axvline(theta, color="C3", linestyle="--", label=f"θ = {theta:.3f}")
    ax.set_xlabel(f"top-{cal.settings.top_k_entropy} entropy (nats)")
    ax.set_ylabel("tokens (log scale)")
    ax.legend()
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=120)
    except OSError as e:
        from ..files.user_files import write_error

        raise write_error(path, "plot", e) from None
    finally:
        plt.close(fig)
