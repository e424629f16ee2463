"""The Python API: load a model by alias or path, then run a prompt, or many together.

    from eager_local import load
    model = load()                                  # the embedded default model
    result = model.run("Tom had 15 marbles ...", method="eager", theta=1.0, max_seqs=8)
    for ev in model.stream("...", method="parallel", max_seqs=4): ...
    results = model.run_many(["...", "..."], Settings(max_seqs=8))   # one batched decode per step
    for i, ev in model.stream_many(["...", "..."]): ...               # i: the prompt's index
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator, Sequence

from .controller import collect, generate
from .events import Event, RunFinished
from .scheduler import Scheduler, for_concurrency
from .registry import ModelSpec, load_registry, model_path
from .result import ModelInfo, RunResult
from .errors import ModelError, PromptError, SettingsError
from .settings import MAX_SEQUENCES, Settings

_SETTING_NAMES = tuple(f.name for f in fields(Settings))


@dataclass
class Model:
    """A loaded model: its registry entry, its engine and what identifies the file."""

    spec: ModelSpec
    engine: object
    info: ModelInfo

    def settings(self, base: Settings | None = None, **overrides) -> Settings:
        """Settings with the model's own stop strings added."""
        s = base or Settings()
        unknown = sorted(set(overrides) - set(_SETTING_NAMES))
        if unknown:
            raise SettingsError(
                f"unknown setting {unknown[0]!r}; known: {', '.join(_SETTING_NAMES)}"
            )
        if overrides:
            s = s.with_(**overrides)
        return s.with_stops(self.spec.stop)

    def stream(
        self,
        prompt: str,
        settings: Settings | None = None,
        *,
        cancel: threading.Event | None = None,
        resume: RunResult | None = None,
        **overrides,
    ) -> Iterator[Event]:
        """Yield the run's events (see eager_local.events)."""
        _check_prompt(prompt)
        return generate(
            self.engine, prompt, self.settings(settings, **overrides),
            model=self.info, cancel=cancel, resume=resume,
        )

    def run(self, prompt: str, settings: Settings | None = None, **overrides) -> RunResult:
        """Run to the end and return the result."""
        return collect(self.stream(prompt, settings, **overrides))

    def submit(self, scheduler: Scheduler, prompt: str, settings: Settings | None = None, *,
               cancel: threading.Event | None = None, resume: RunResult | None = None,
               **overrides) -> int:
        """Queue ``prompt`` on ``scheduler`` (see ``scheduler.for_concurrency``); return its run id."""
        _check_prompt(prompt)
        return scheduler.add(prompt, self.settings(settings, **overrides), model=self.info,
                             cancel=cancel, resume=resume)

    def stream_many(
        self,
        prompts: Sequence[str],
        settings: Settings | Sequence[Settings] | None = None,
        *,
        concurrency: int | str = "auto",
        cancel: threading.Event | None = None,
        **overrides,
    ) -> Iterator[tuple[int, Event]]:
        """Decode every prompt together (one batched decode per step); yield
        ``(i, event)`` with ``i`` the prompt's index. ``settings``: one for all prompts
        (seed included) or one per prompt. Bad input is refused before anything runs."""
        per_prompt = _settings_per_prompt(settings, len(prompts))
        scheduler = for_concurrency(self.engine, concurrency)
        for prompt, s in zip(prompts, per_prompt):
            self.submit(scheduler, prompt, s, cancel=cancel, **overrides)
        return scheduler.events()

    def run_many(self, prompts: Sequence[str], settings: Settings | Sequence[Settings] | None = None,
                 **kw) -> list[RunResult]:
        """Run every prompt to the end; the results in prompt order."""
        results: dict[int, RunResult] = {}
        for i, ev in self.stream_many(prompts, settings, **kw):
            if isinstance(ev, RunFinished):
                results[i] = ev.result
        return [results[i] for i in range(len(prompts))]

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close:
            close()


def _check_prompt(prompt) -> None:
    if not isinstance(prompt, str):
        raise PromptError(
            f"the prompt must be text (str), not {type(prompt).__name__}: decode it first"
        )


def _settings_per_prompt(settings, n: int) -> list[Settings | None]:
    if settings is None or isinstance(settings, Settings):
        return [settings] * n
    settings = list(settings)
    if len(settings) != n or not all(isinstance(s, Settings) for s in settings):
        raise SettingsError(f"give one Settings, or one per prompt ({n}), not {len(settings)} values")
    return settings


def check_load_options(
    *,
    n_ctx: int | None = None,
    n_seq_max: int = MAX_SEQUENCES,
    n_threads: int | None = None,
    n_gpu_layers: int | None = None,
) -> None:
    """Refuse ``load`` options out of range (before anything is loaded)."""
    if n_ctx is not None and (not isinstance(n_ctx, int) or n_ctx < 64):
        raise SettingsError(f"⟨n_ctx⟩ must be an integer of at least 64 (got {n_ctx!r})")
    if not isinstance(n_seq_max, int) or not 1 <= n_seq_max <= MAX_SEQUENCES:
        raise SettingsError(f"⟨n_seq_max⟩ must be between 1 and {MAX_SEQUENCES} (got {n_seq_max!r})")
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise SettingsError(f"⟨n_threads⟩ must be at least 1 (got {n_threads!r})")
    if n_gpu_layers is not None and (not isinstance(n_gpu_layers, int) or n_gpu_layers < -1):
        raise SettingsError(f"⟨n_gpu_layers⟩ must be -1 (all), 0 (none) or a count (got {n_gpu_layers!r})")


def load(
    model: str | None = None,
    *,
    n_ctx: int | None = None,
    n_gpu_layers: int | None = None,
    n_threads: int | None = None,
    n_seq_max: int = 256,
    hash_file: bool = True,
) -> Model:
    """Load a registry alias, a .gguf path, or (None) the registry's default model."""
    from .engine.llama import LlamaEngine
    from .model_file import sha256_of

    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ModelError(f"model must be an alias or a path, not {type(model).__name__} ({model!r})")
    check_load_options(n_ctx=n_ctx, n_seq_max=n_seq_max, n_threads=n_threads, n_gpu_layers=n_gpu_layers)
    spec = load_registry().get(os.fspath(model) if model is not None else None)
    if spec.n_gpu_layers < -1:
        raise SettingsError(f"n_gpu_layers of {spec.alias!r} in {spec.origin} must be -1, 0 or a count")
    path = model_path(spec)
    engine = LlamaEngine(  # checks the GGUF file before llama.cpp sees it
        path,
        n_ctx=n_ctx or spec.n_ctx,
        n_seq_max=n_seq_max,
        n_threads=n_threads,
        n_gpu_layers=spec.n_gpu_layers if n_gpu_layers is None else n_gpu_layers,
        prompt_format=spec.prompt_format,
    )
    sha = sha256_of(path) if hash_file else None
    return Model(spec, engine, ModelInfo(spec.alias, str(Path(path).resolve()), sha))
