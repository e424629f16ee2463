"""``eager report``: runs side by side, with differences and an optional PNG."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="compare run files of eager eval (table and plot)",
                       description="Print the runs side by side; the first is the baseline of the "
                                   "paired bootstrap differences.")
    p.add_argument("runs", nargs="+", metavar="RUN.jsonl", help="run files written by eager eval")
    p.add_argument("--plot", metavar="PNG", help="also write Pass@k vs tokens and sequences per prompt")
    p.set_defaults(func=main)


def main(args) -> int:
    from ..evaluation.report import RunSummary, plot, print_table
    from ..files.user_files import check_plot_path

    target = check_plot_path(args.plot) if args.plot else None
    runs = [RunSummary.load(p) for p in args.runs]
    print_table(runs)
    if target:
        plot(runs, str(target))
        print(f"plot written to {target}")
    return 0
