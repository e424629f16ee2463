"""The ``--ray`` options of ``eager eval``: run the items on a Ray cluster's workers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import SettingsError


def add_ray_args(p) -> None:
    g = p.add_argument_group("several machines (Ray; pip install \"eager-local[distributed]\")")
    g.add_argument("--ray", nargs="?", const="auto", metavar="auto|ADDRESS",
                   help="run the items on a Ray cluster: auto (the cluster this machine joined), "
                        "host:6379, or local (a new one here); every node needs the model at the same path")
    g.add_argument("--workers", type=int, metavar="N",
                   help="Ray workers, each loading the model once (default: as many as the cluster fits)")
    g.add_argument("--cpus-per-worker", type=int, default=None, metavar="C",
                   help="CPUs each worker asks Ray for, and its llama.cpp threads unless --threads (default 1)")
    g.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                   help="GPUs each worker asks for; above 0 it offloads all layers unless --gpu-layers (default 0: CPU)")


def check_ray_args(args) -> None:
    """Refuse the worker options without --ray, and counts out of range."""
    given = [f for f, v in (("--workers", args.workers), ("--cpus-per-worker", args.cpus_per_worker),
                            ("--gpus-per-worker", args.gpus_per_worker)) if v is not None]
    if args.ray is None:
        if given:
            raise SettingsError(f"{given[0]} is for a run on Ray: add --ray (auto, or the cluster's address)")
        return
    if args.workers is not None and args.workers < 1:
        raise SettingsError(f"--workers must be 1 or more (got {args.workers})")
    if args.cpus_per_worker is not None and args.cpus_per_worker < 1:
        raise SettingsError(f"--cpus-per-worker must be 1 or more (got {args.cpus_per_worker})")
    if args.gpus_per_worker is not None and args.gpus_per_worker < 0:
        raise SettingsError(f"--gpus-per-worker must be 0 or more (got {args.gpus_per_worker})")
    from ..extras import require

    require("ray", "eager eval --ray")


def open_workers(args, cancel):
    """The pool of Ray workers for ``args`` (each has loaded the model)."""
    from ..evaluation.ray_workers import RayWorkers
    from .common import check_model_args, show_notes

    options = check_model_args(args)
    cpus = args.cpus_per_worker or 1
    gpus = args.gpus_per_worker or 0.0
    options["n_threads"] = args.threads or cpus
    if args.gpu_layers is None:
        options["n_gpu_layers"] = -1 if gpus > 0 else 0
    if show_notes(args):
        print(f"note: starting Ray workers at {args.ray} ...", file=sys.stderr)
    # --concurrency N: each worker is handed N prompts at a time and decodes them together
    per_worker = args.concurrency if isinstance(getattr(args, "concurrency", 1), int) else 1
    pool = RayWorkers.open(args.ray, worker_path(args.model), options, workers=args.workers,
                           cpus=cpus, gpus=gpus, per_worker=per_worker, cancel=cancel)
    if show_notes(args):
        print(f"note: {len(pool.actors)} Ray workers on {', '.join(pool.nodes)} loaded {pool.info.path}",
              file=sys.stderr)
    return pool


def worker_path(model: str | None) -> str | None:
    """A path the workers can open wherever their working directory is: absolute.
    An alias stays an alias (each worker reads its own models.toml)."""
    if model is None or not (os.sep in model or model.endswith(".gguf")):
        return model
    return str(Path(model).expanduser().absolute())


def report_faults(pool, args) -> None:
    """What the pool lost on the way, one line each, and the retries (0 too; not with --quiet)."""
    if getattr(args, "quiet", False):
        return
    for note in pool.notes:
        print(f"note: {note}", file=sys.stderr)
    print(f"note: Ray: {pool.started} workers, {pool.died} died, {pool.retried} prompts retried "
          "(each prompt is recorded once)", file=sys.stderr)
