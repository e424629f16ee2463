"""``eager sweep``: does EAGER pay on my model? Parallel at M and EAGER at several θ,
then a table, a plot (PNG and SVG) and the sentence that answers it."""

from __future__ import annotations

import argparse
import sys

from .cluster import add_ray_args, open_workers, report_faults
from .common import add_concurrency_arg, add_model_args, add_settings_args
from .eval import add_data_args


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="parallel at M against EAGER at several θ (table, plot, verdict)",
        description="Run full parallel at M and EAGer-init at each θ (plus eager-adapt / eager-full) on the "
                    "same items and seeds, one run file per configuration in --out, then compare them "
                    "with parallel's Pass@k curve at the same generated tokens.",
    )
    p.add_argument("data", metavar="DATA", help="a JSONL file (id, question, answer) or the word humaneval")
    p.add_argument("--out", "-o", required=True, metavar="DIR", help="directory for the run files and plots")
    p.add_argument("--resume", action="store_true", help="continue the run files in --out")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument("--adapt", action="store_true", help="also eager-adapt at each θ")
    p.add_argument("--full", action="store_true", help="also eager-full at each θ")
    # --prune (the pruning group below) adds parallel+prune and EAGer-init+prune at each θ
    add_data_args(p)
    g = p.add_argument_group("answer checking")
    g.add_argument("--code-timeout", type=float, default=10.0, metavar="S", help="seconds per HumanEval test run (default 10)")
    g.add_argument("--code-memory", type=int, default=512, metavar="MB", help="memory limit of a test run (default 512)")
    add_concurrency_arg(p)
    add_model_args(p)
    add_ray_args(p)
    add_settings_args(p, methods=("sweep",), default_method="sweep")
    for a in p._actions:  # θ is a list here
        if a.dest == "theta":
            a.type, a.required, a.metavar = str, True, "θ1,θ2,…"
            a.help = "θ values in nats, comma-separated (e.g. 0.3,0.5,0.8,1.2)"
        if a.dest == "method":
            a.help = argparse.SUPPRESS  # the sweep runs parallel and EAGER
    p.set_defaults(func=main)


def main(args) -> int:
    from pathlib import Path

    from ..errors import OutputError, SettingsError
    from ..evaluation.sweep import configurations, parse_thetas
    from ..files.user_files import check_output_path, expand_path
    from .eval import check_eval_args

    if args.method != "sweep":
        raise SettingsError("--method is not used by eager sweep: it runs parallel and EAGER at each --theta")
    thetas = parse_thetas(args.theta)
    # parallel keeps the model's default θ (unused by it, but part of its run file's settings),
    # so its file does not depend on the θ list and a sweep can --resume with more θ values
    args.method, args.theta, args.init_from = "parallel", None, None
    _, base, ds, fmt = check_eval_args(args)
    out = expand_path(args.out, "output", OutputError)
    if out.exists() and not out.is_dir():
        raise OutputError(f"--out {out} is a file: give a directory (it is created if missing)")
    if not out.parent.is_dir():
        raise OutputError(f"--out {out}: its parent directory does not exist (mkdir -p {out.parent})")
    try:
        out.mkdir(exist_ok=True)
    except OSError as e:
        raise OutputError(f"--out {out}: cannot create the directory ({e.strerror}); give a writable place") from None
    for name in ("sweep.png", "sweep.svg"):  # the plot, written at the end: refused now
        check_output_path(out / name, "plot", "a directory where the plot can be written")
    configs = configurations(thetas, adapt=args.adapt, full=args.full, prune=args.prune == "confidence")
    return _run(args, base.with_(method="eager"), ds, fmt, Path(out), configs)


def _run(args, base, ds, fmt, out, configs) -> int:
    from ..evaluation.answers import Checker
    from ..evaluation.interrupts import stop_on_signals
    from ..evaluation.records import check_output
    from ..evaluation.runner import Interrupted
    from ..evaluation.sweep import Sweep
    from .common import load_model_from_args
    from .eval import _ProgressBar

    for c in configs:  # refused before the model loads
        check_output(out / c.file_name, resume=args.resume)
    checker = Checker(ds.kind, timeout_s=args.code_timeout, memory_mb=args.code_memory)
    model = None if args.ray else load_model_from_args(args)
    workers = None
    try:
        with stop_on_signals() as stop:
            # --ray: one pool of workers (each has loaded the model) serves every configuration
            workers = open_workers(args, stop.event) if args.ray else None
            bars = {}

            def start(c):
                for b in bars.values():  # one live display at a time
                    b.stop()
                bars[c] = _ProgressBar(ds.name, c.label)
                bars[c].__enter__()

            sweep = Sweep(model or workers, ds, fmt, checker, base, out, configs, resume=args.resume,
                          cancel=stop.event, on_start=start,
                          on_progress=lambda p: list(bars.values())[-1].update(p),
                          concurrency=args.concurrency, workers=workers)
            try:
                paths = sweep.run()
            except Interrupted as e:
                print(f"eager sweep: {e}; rerun with --resume to finish {out}", file=sys.stderr)
                return stop.exit_code
            finally:
                for b in bars.values():
                    b.stop()
    finally:
        if workers is not None:
            report_faults(workers, args)
            workers.close()
        if model is not None:
            model.close()
    report(out, [paths[c] for c in configs])
    return 0


def report(out, paths) -> None:
    """The table, the sentence and the plot of a finished sweep."""
    from ..evaluation import sweep_report
    from ..evaluation.report import RunSummary, print_table

    runs = [RunSummary.load(str(p)) for p in paths]
    print_table(runs)
    places = sweep_report.placements(runs)
    for line in sweep_report.sentences(runs, places):
        print(line)
    targets = [str(out / "sweep.png"), str(out / "sweep.svg")]
    sweep_report.plot(runs, places, targets)
    print("plot written to " + " and ".join(targets))
