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

    runs = [RunSummary.load(p) for p in args.runs]
    if args.plot:
        from pathlib import Path

        from ..errors import OutputError

        parent = Path(args.plot).expanduser().parent
        if not parent.is_dir():
            raise OutputError(f"plot directory {parent} does not exist: create it first")
    print_table(runs)
    if args.plot:
        plot(runs, args.plot)
        print(f"plot written to {args.plot}")
    return 0
