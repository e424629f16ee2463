"""A sweep: full parallel at M and EAGER at several θ on the same items and seeds,
one run file per configuration, each one ``Runner`` call (so each is resumable
like ``eager eval``, and a scheduler can later run them side by side).
"""

from __future__ import annotations

import threading
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ..errors import SettingsError
from ..settings import Settings
from .records import RunFileLock, check_output
from .runner import Progress, Runner


@dataclass(frozen=True)
class Configuration:
    """One point of the sweep."""

    method: str
    """parallel, eager, eager-adapt or eager-full."""
    theta: float | None
    """θ of an EAGER method; None for parallel."""
    prune: bool = False
    """With online confidence pruning (the sweep's pruning settings)."""

    @property
    def label(self) -> str:
        name = self.method + ("+prune" if self.prune else "")
        return name if self.theta is None else f"{name} θ={self.theta:g}"

    @property
    def file_name(self) -> str:
        name = self.method + ("-prune" if self.prune else "")
        return f"{name}.jsonl" if self.theta is None else f"{name}-theta{self.theta:g}.jsonl"


def parse_thetas(text: str) -> tuple[float, ...]:
    """``0.3,0.5,0.8`` -> (0.3, 0.5, 0.8); ``SettingsError`` naming a bad value."""
    out = []
    for part in text.split(","):
        try:
            v = float(part)
        except ValueError:
            raise SettingsError(f"--theta: {part.strip()!r} is not a number; give θ values like 0.5,0.8,1.2") from None
        if not (v >= 0 and v != float("inf")):
            raise SettingsError(f"--theta: {part.strip()} must be a finite number ≥ 0")
        out.append(v)
    if len(set(out)) != len(out):
        raise SettingsError("--theta: a θ value is given twice")
    return tuple(out)


def configurations(thetas, *, adapt: bool = False, full: bool = False,
                   prune: bool = False) -> list[Configuration]:
    """Parallel first (the baseline), then EAGer-init at each θ, then eager-adapt / eager-full;
    with ``prune``, parallel+prune after parallel and EAGer-init+prune after each EAGer-init."""
    methods = ["eager"] + (["eager-adapt"] if adapt else []) + (["eager-full"] if full else [])
    out = [Configuration("parallel", None)] + ([Configuration("parallel", None, True)] if prune else [])
    for m in methods:
        for t in thetas:
            out.append(Configuration(m, t))
            if prune and m == "eager":
                out.append(Configuration(m, t, True))
    return out


class Sweep:
    """Runs every configuration into ``out_dir``, one after another."""

    def __init__(self, model, dataset, fmt, checker, settings: Settings, out_dir: str | Path,
                 configs: list[Configuration], *, resume: bool = False,
                 cancel: threading.Event | None = None,
                 on_start: Callable[[Configuration], None] | None = None,
                 on_progress: Callable[[Progress], None] | None = None,
                 concurrency: int | str = 1, workers=None) -> None:
        self.model, self.data, self.fmt, self.checker = model, dataset, fmt, checker
        self.concurrency, self.workers = concurrency, workers
        """Prompts decoded together, and the Ray workers (None: this process) — as for Runner."""
        self.settings, self.dir, self.configs = settings, Path(out_dir), configs
        self.resume, self.cancel = resume, cancel or threading.Event()
        self.on_start = on_start or (lambda c: None)
        self.on_progress = on_progress

    def paths(self) -> dict[Configuration, Path]:
        return {c: self.dir / c.file_name for c in self.configs}

    def run(self) -> dict[Configuration, Path]:
        """Every configuration's run file (finished ones are skipped by ``--resume``)."""
        paths = self.paths()
        with ExitStack() as locks:
            for p in paths.values():  # every file refused or locked before any decoding
                locks.enter_context(RunFileLock(check_output(p, resume=self.resume)))
            for c in self.configs:
                self.on_start(c)
                self.runner(c, paths).run()
        return paths

    def runner(self, c: Configuration, paths: dict[Configuration, Path]) -> Runner:
        """The one Runner of configuration ``c``."""
        s = self.settings if c.theta is None else self.settings.with_(theta=c.theta)
        s = s if c.prune else s.with_(prune="none", stop_on_consensus=None)
        donor = paths.get(Configuration("eager", c.theta)) if c.method in ("eager-adapt", "eager-full") else None
        return Runner(self.model, self.data, self.fmt, self.checker, c.method, s, str(paths[c]),
                      resume=self.resume, init_from=str(donor) if donor else None,
                      cancel=self.cancel, on_progress=self.on_progress,
                      concurrency=self.concurrency, workers=self.workers)
