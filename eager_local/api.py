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
import weakref
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Iterator, Sequence

from .decoding.controller import collect, fork_by_hand, generate
from .decoding.prefix_cache import attach as attach_cache
from .decoding.scheduler import Scheduler, for_concurrency
from .errors import ModelError, PromptError, SettingsError
from .events import Event, RunFinished
from .method import branch_region
from .models.registry import ModelSpec, apply_file_defaults, load_registry, model_path
from .result import ModelInfo, RunResult
from .settings import MAX_SEQUENCES, MAX_THREADS, Settings

_SETTING_NAMES = tuple(f.name for f in fields(Settings))


@dataclass
class Model:
    """A loaded model: its registry entry, its engine and what identifies the file."""

    spec: ModelSpec
    """The registry entry with the file's defaults applied (what the engine got)."""
    engine: object
    info: ModelInfo
    notices: tuple[str, ...] = ()
    """What was chosen for the model from its file, one line each (the CLI prints them)."""
    closed: bool = False
    """True after ``close()``: the engine's memory is gone and every run is refused."""
    _streams: weakref.WeakSet = field(default_factory=weakref.WeakSet, repr=False)
    """Generators handed out by ``stream`` and ``stream_many``, and schedulers given runs by
    ``submit``, maybe still suspended: ``close`` finishes them first, so none touches the
    engine after it is freed."""

    def settings(self, base: Settings | None = None, **overrides) -> Settings:
        """Settings with the model's own stop strings added.

        Without ``base``, θ is the model's (``ModelSpec.default_theta``); a ``base``
        is taken as given. ``branch_region`` ``auto`` becomes think for a reasoning
        model, all otherwise.
        """
        s = base or Settings(theta=self.spec.default_theta)
        unknown = sorted(set(overrides) - set(_SETTING_NAMES))
        if unknown:
            raise SettingsError(
                f"unknown setting {unknown[0]!r}; known: {', '.join(_SETTING_NAMES)}"
            )
        if overrides:
            s = s.with_(**overrides)
        s = s.with_stops(self.spec.stop)
        region = branch_region.resolve(s.branch_region, self.spec.think)
        return s if region == s.branch_region else s.with_(branch_region=region)

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
        self._check_open()
        _check_prompt(prompt)
        s = self.settings(settings, **overrides)
        refuse_overlong_prompt(self.engine, prompt)
        events = generate(self.engine, prompt, s, model=self.info, cancel=cancel, resume=resume)
        self._streams.add(events)
        return events

    def fork_by_hand(self, result: RunResult, seq: int, pos: int, token: int, *,
                     cancel: threading.Event | None = None) -> Iterator[Event]:
        """Continue the finished ``result`` with a sequence that takes ``token`` at token
        ``pos`` of sequence ``seq`` (see eager_local/decoding/manual_fork.py); its events."""
        self._check_open()
        events = fork_by_hand(self.engine, result, seq, pos, token, model=self.info, cancel=cancel)
        self._streams.add(events)
        return events

    def run(self, prompt: str, settings: Settings | None = None, **overrides) -> RunResult:
        """Run to the end and return the result."""
        return collect(self.stream(prompt, settings, **overrides))

    def submit(self, scheduler: Scheduler, prompt: str, settings: Settings | None = None, *,
               cancel: threading.Event | None = None, resume: RunResult | None = None,
               **overrides) -> int:
        """Queue ``prompt`` on ``scheduler`` (see ``scheduler.for_concurrency``); return its run id.
        The model tracks the scheduler like a stream: ``close`` finishes it first."""
        self._check_open()
        _check_prompt(prompt)
        s = self.settings(settings, **overrides)
        refuse_overlong_prompt(self.engine, prompt)
        run_id = scheduler.add(prompt, s, model=self.info, cancel=cancel, resume=resume)
        self._streams.add(scheduler)
        return run_id

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
        self._check_open()
        per_prompt = _settings_per_prompt(settings, len(prompts))
        scheduler = for_concurrency(self.engine, concurrency)
        for prompt, s in zip(prompts, per_prompt):
            self.submit(scheduler, prompt, s, cancel=cancel, **overrides)
        events = scheduler.events()
        self._streams.add(events)
        return events

    def run_many(self, prompts: Sequence[str], settings: Settings | Sequence[Settings] | None = None,
                 **kw) -> list[RunResult]:
        """Run every prompt to the end; the results in prompt order."""
        results: dict[int, RunResult] = {}
        for i, ev in self.stream_many(prompts, settings, **kw):
            if isinstance(ev, RunFinished):
                results[i] = ev.result
        return [results[i] for i in range(len(prompts))]

    def close(self) -> None:
        """Finish every stream still suspended (its ``finally`` clears the engine's
        memory), then free the engine. Closing twice is harmless."""
        for events in list(self._streams):
            try:
                events.close()
            except ValueError:  # being iterated by another thread right now
                raise ModelError("a run of this model is still going: stop it before closing the model") from None
        self._streams.clear()
        if self.closed:
            return
        self.closed = True
        close = getattr(self.engine, "close", None)
        if close:
            close()

    def _check_open(self) -> None:
        if self.closed:
            raise ModelError(f"the model {self.info.alias or self.info.path} was closed: load it again")


def refuse_overlong_prompt(engine, prompt: str) -> None:
    """Refuse a prompt longer than the context before tokenizing all of it.

    Tokenizing is a C call that Ctrl-C cannot interrupt and that takes minutes on a
    megabyte of text; growing prefixes (4 characters per cell, then ×4) find a
    prompt that cannot fit after tokenizing a few times the context's worth.
    """
    n_ctx = engine.n_ctx
    size = 4 * n_ctx
    while size < len(prompt):
        n = len(engine.prompt_tokens(prompt[:size]))
        if n >= n_ctx:
            raise PromptError(
                f"the prompt is {len(prompt):,} characters; its first {size:,} are already {n} tokens "
                f"and the context holds {n_ctx}: shorten it or raise n_ctx"
            )
        size *= 4


def _check_prompt(prompt) -> None:
    """Refuse a prompt that is not text, or text that is not UTF-8."""
    if not isinstance(prompt, str):
        raise PromptError(
            f"the prompt must be text (str), not {type(prompt).__name__}: decode it first"
        )
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError as e:
        raise PromptError(f"the prompt holds bytes that are not UTF-8 (character {e.start}): "
                          "convert it to UTF-8") from None


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
    prefix_cache: bool = True,
    prefix_cache_cells: int | None = None,
) -> None:
    """Refuse ``load`` options out of range (before anything is loaded)."""
    if n_ctx is not None and (not isinstance(n_ctx, int) or n_ctx < 64):
        raise SettingsError(f"⟨n_ctx⟩ must be an integer of at least 64 (got {n_ctx!r})")
    if not isinstance(n_seq_max, int) or not 1 <= n_seq_max <= MAX_SEQUENCES:
        raise SettingsError(f"⟨n_seq_max⟩ must be between 1 and {MAX_SEQUENCES} (got {n_seq_max!r})")
    if n_threads is not None and (not isinstance(n_threads, int) or not 1 <= n_threads <= MAX_THREADS):
        raise SettingsError(f"⟨n_threads⟩ must be between 1 and {MAX_THREADS} (got {n_threads!r}); "
                            f"this machine has {os.cpu_count()} cores")
    if n_gpu_layers is not None and (not isinstance(n_gpu_layers, int) or n_gpu_layers < -1):
        raise SettingsError(f"⟨n_gpu_layers⟩ must be -1 (all), 0 (none) or a count (got {n_gpu_layers!r})")
    if not isinstance(prefix_cache, bool):
        raise SettingsError(f"⟨prefix_cache⟩ must be True or False (got {prefix_cache!r})")
    if prefix_cache_cells is not None and (isinstance(prefix_cache_cells, bool)
                                           or not isinstance(prefix_cache_cells, int) or prefix_cache_cells < 0):
        raise SettingsError(f"⟨prefix_cache_cells⟩ must be a count of KV cells, 0 or more (got {prefix_cache_cells!r})")


def load(
    model: str | None = None,
    *,
    n_ctx: int | None = None,
    n_gpu_layers: int | None = None,
    n_threads: int | None = None,
    n_seq_max: int = 256,
    hash_file: bool = True,
    prefix_cache: bool = True,
    prefix_cache_cells: int | None = None,
) -> Model:
    """Load a registry alias, a .gguf path, or (None) the registry's default model.

    ``prefix_cache``: finished runs' prompts and sequences stay in the KV cache, and a
    later prompt that begins alike copies them (decoding/prefix_cache.py), at most
    ``prefix_cache_cells`` cells beyond the live runs' (None: what the context has spare)."""
    from .engine.llama import LlamaEngine, gpu_offload_supported
    from .models.model_file import check_generative, sha256_of

    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ModelError(f"model must be an alias or a path, not {type(model).__name__} ({model!r})")
    if model is not None and not os.fspath(model).strip():
        raise ModelError("the model name is empty: give a registry alias or a .gguf path (or leave ⟨model⟩ out)")
    check_load_options(n_ctx=n_ctx, n_seq_max=n_seq_max, n_threads=n_threads, n_gpu_layers=n_gpu_layers,
                       prefix_cache=prefix_cache, prefix_cache_cells=prefix_cache_cells)
    spec = load_registry().get(os.fspath(model) if model is not None else None)
    if spec.n_gpu_layers is not None and spec.n_gpu_layers < -1:
        raise SettingsError(f"n_gpu_layers of {spec.alias!r} in {spec.origin} must be -1, 0 or a count")
    # what the caller gives wins; what models.toml leaves unset comes from the file
    spec = replace(spec, n_ctx=n_ctx or spec.n_ctx,
                   n_gpu_layers=spec.n_gpu_layers if n_gpu_layers is None else n_gpu_layers)
    spec = apply_file_defaults(spec, gpu=gpu_offload_supported())
    path = model_path(spec)
    check_generative(path)
    engine = LlamaEngine(  # checks the GGUF file before llama.cpp sees it
        path,
        n_ctx=spec.n_ctx,
        n_seq_max=n_seq_max,
        n_threads=n_threads,
        n_gpu_layers=spec.n_gpu_layers,
        prompt_format=spec.prompt_format,
    )
    try:
        check_outputs_finite(engine, path)
        sha = sha256_of(path) if hash_file else None
        if prefix_cache:
            attach_cache(engine, prefix_cache_cells)
    except BaseException:
        engine.close()
        raise
    info = ModelInfo(spec.alias, str(Path(path).resolve()), sha, n_ctx=engine.n_ctx,
                     n_gpu_layers=spec.n_gpu_layers, prompt_format=spec.prompt_format,
                     think=spec.think or None)
    return Model(spec, engine, info, notices=spec.notes)


def check_outputs_finite(engine, path) -> None:
    """One decode of one token: a model whose weights are NaN gives NaN logits at once."""
    import numpy as np

    ids = engine.tokenize("1", add_special=True)[:1]
    try:
        logits = engine.decode([0], ids, [0], [True])
        rows = getattr(logits, "logits", logits)  # full rows, or the backend's candidates
        bad = rows is not None and not np.isfinite(rows).all()
    finally:
        engine.clear()
    if bad:
        raise ModelError(f"{Path(path).name} gives NaN or infinite logits (damaged weights?): download it again")
