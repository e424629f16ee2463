"""``eager eval``: a method over a dataset, one JSONL record per prompt."""

from __future__ import annotations

import sys

from ..method.budget import EVAL_METHODS
from .cluster import add_ray_args, check_ray_args, open_workers, report_faults
from .common import (add_concurrency_arg, add_model_args, add_settings_args, check_model_args,
                     load_model_from_args, settings_from_args)


def register(sub) -> None:
    p = sub.add_parser(
        "eval", help="evaluate a method over a dataset (JSONL or humaneval)",
        description="Run parallel, eager (EAGer-init), eager-adapt or eager-full over a dataset; "
                    "append one JSON record per prompt to --out.",
    )
    p.add_argument("data", metavar="DATA", help="a JSONL file (id, question, answer) or the word humaneval")
    p.add_argument("--out", "-o", required=True, metavar="PATH", help="run file to write (JSONL)")
    p.add_argument("--resume", action="store_true", help="continue --out, skipping prompts already in it")
    p.add_argument("--limit", type=int, metavar="N", help="only the first N items")
    p.add_argument("--init-from", metavar="RUN.jsonl",
                   help="eager-adapt/-full: take EAGer-init from this eager run (same settings) instead of decoding it again")
    add_concurrency_arg(p)
    add_data_args(p)
    g = p.add_argument_group("answer checking")
    g.add_argument("--code-timeout", type=float, default=10.0, metavar="S", help="seconds per HumanEval test run (default 10)")
    g.add_argument("--code-memory", type=int, default=512, metavar="MB", help="memory limit of a test run (default 512)")
    add_model_args(p)
    add_settings_args(p, methods=EVAL_METHODS)
    add_ray_args(p)
    p.set_defaults(func=main)


def add_data_args(p) -> None:
    g = p.add_argument_group("dataset and prompts")
    g.add_argument("--field", action="append", metavar="OURS=THEIRS",
                   help="read our field from another name, e.g. --field question=problem (repeatable)")
    g.add_argument("--kind", choices=("numeric", "latex", "code"), help="how answers are checked (default: guessed)")
    g.add_argument("--prompt-style", choices=("fewshot", "chat", "code"),
                   help="default: code for humaneval, chat for chat models, else fewshot")
    g.add_argument("--exemplars", metavar="PATH", help="JSONL of solved items (e.g. a train split); default: built-in")
    g.add_argument("--shots", type=int, default=4, metavar="N", help="few-shot exemplars (default 4)")
    g.add_argument("--reasoning", action="store_true", help="ask a chat model to reason step by step")


def load_data(args, model_format: str):
    """(dataset, prompt format) from the shared dataset arguments."""
    from ..errors import SettingsError
    from ..evaluation.datasets import load_dataset, parse_fields
    from ..evaluation.prompts import choose_format

    if args.shots < 0:
        raise SettingsError(f"--shots must be 0 or more (got {args.shots})")
    for name, low, high, unit in (("code_timeout", 0.1, 86400, "seconds"), ("code_memory", 64, 1 << 20, "MB")):
        value = getattr(args, name, None)
        if value is not None and not low <= value <= high:
            raise SettingsError(f"--{name.replace('_', '-')} must be between {low:g} and {high:g} {unit} (got {value})")
    if args.exemplars:
        from ..files.user_files import read_user_file

        read_user_file(args.exemplars, "--exemplars", SettingsError, "a JSONL of solved items")
    ds = load_dataset(args.data, fields=parse_fields(args.field), limit=args.limit, kind=args.kind,
                      offset=getattr(args, "offset", 0))
    fmt = choose_format(ds, model_format, style=args.prompt_style, exemplars=args.exemplars,
                        shots=args.shots, reasoning=args.reasoning)
    return ds, fmt


def main(args) -> int:
    from ..evaluation.records import RunFileLock, check_output

    out = check_output(args.out, resume=args.resume)
    method, base, ds, fmt = check_eval_args(args)
    with RunFileLock(out):  # held until the end: a second eval on the same --out is refused
        return _evaluate(args, method, base, ds, fmt, out)


def check_eval_args(args):
    """Every setting and input of ``eager eval``, checked before the model loads."""
    from ..errors import SettingsError
    from ..evaluation.runner import check_method
    from ..models.registry import apply_file_defaults, load_registry

    method = check_method(args.method)
    if args.init_from and method not in ("eager-adapt", "eager-full"):
        raise SettingsError("--init-from is for --method eager-adapt or eager-full")
    check_model_args(args)
    check_ray_args(args)
    base = settings_from_args(args, method="eager" if method.startswith("eager") else method)
    spec = apply_file_defaults(load_registry().get(args.model))  # the file says chat or raw
    if args.prompt_style == "chat" and spec.prompt_format != "chat":
        raise SettingsError(
            f"--prompt-style chat needs a chat model, and {spec.alias or spec.path} is read as raw text: "
            'use --prompt-style fewshot, or set prompt_format = "chat" for it in models.toml'
        )
    ds, fmt = load_data(args, spec.prompt_format)
    if args.init_from:
        from ..evaluation.records import read_records

        read_records(args.init_from)  # readable and well-formed, before any work
    return method, base, ds, fmt


def _evaluate(args, method, base, ds, fmt, out) -> int:
    from ..evaluation.answers import Checker
    from ..evaluation.interrupts import stop_on_signals
    from ..evaluation.runner import Interrupted

    checker = Checker(ds.kind, timeout_s=args.code_timeout, memory_mb=args.code_memory)
    model = None if args.ray else load_model_from_args(args)
    with stop_on_signals() as stop:
        try:
            records = _run(args, model, (method, base, ds, fmt, checker), out, stop)
        except Interrupted as e:
            print(f"eager eval: {e}; rerun with --resume to finish {out}", file=sys.stderr)
            return stop.exit_code
        finally:
            if model is not None:
                model.close()
    from ..evaluation.report import RunSummary, print_table

    failed = [r for r in records if r.error is not None]
    for r in failed[:3]:
        print(f"note: item {r.id!r} failed: {r.error}", file=sys.stderr)
    if len(failed) > 3:
        print(f"note: {len(failed)} items failed in all (see their \"error\" in {out})", file=sys.stderr)
    print_table([RunSummary.from_records(str(out), records)])
    return 0


def _run(args, model, job, out, stop):
    """The records of the run, on this process's ``model`` or (``--ray``) on a pool of
    Ray workers, which then stands in for the model: each worker has loaded it."""
    from ..evaluation.runner import Runner

    method, base, ds, fmt, checker = job
    workers = open_workers(args, stop.event) if args.ray else None
    try:
        with _ProgressBar(ds.name, method) as bar:
            runner = Runner(model or workers, ds, fmt, checker, method, base, str(out), resume=args.resume,
                            init_from=args.init_from, cancel=stop.event, on_progress=bar.update,
                            concurrency=args.concurrency, workers=workers)
            return runner.run()
    finally:
        if workers is not None:
            report_faults(workers, args)
            workers.close()


class _ProgressBar:
    """A rich progress bar on stderr: prompts done, ETA, running Pass@k and tokens."""

    def __init__(self, name: str, method: str) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn)

        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[stats]}"),
            console=Console(stderr=True), transient=False,
        )
        self.label = f"{method} · {name}"
        self.tasks: dict[str, int] = {}

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.progress.stop()

    def update(self, p) -> None:
        if p.phase not in self.tasks:
            name = {"init": "EAGer-init", "final": "extra budget"}.get(p.phase, p.phase)
            desc = self.label if len(self.tasks) == 0 and p.phase == "final" else f"{self.label} · {name}"
            self.tasks[p.phase] = self.progress.add_task(desc, total=p.total, completed=p.done, stats="")
        stats = f"Pass@k {p.pass_k:.3f} · {p.generated_tokens:,} gen / {p.decoded_tokens:,} dec tokens"
        self.progress.update(self.tasks[p.phase], completed=p.done, stats=stats)
