"""The Python API: load a model by alias or path, then run a prompt.

    from eager_local import load
    model = load()                                  # the embedded default model
    result = model.run("Tom had 15 marbles ...", method="eager", theta=1.0, max_seqs=8)
    for ev in model.stream("...", method="parallel", max_seqs=4): ...
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Iterator

from .controller import collect, generate
from .events import Event
from . import branch_region
from .registry import ModelSpec, apply_file_defaults, load_registry, model_path
from .result import ModelInfo, RunResult
from .errors import ModelError, PromptError, SettingsError
from .settings import MAX_SEQUENCES, Settings

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
        if self.spec.stop:
            s = s.with_(stop=tuple(dict.fromkeys(s.stop + self.spec.stop)))
        region = branch_region.resolve(s.branch_region, self.spec.think)
        if region != s.branch_region:
            s = s.with_(branch_region=region)
        return s.validate()

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
        if not isinstance(prompt, str):
            raise PromptError(
                f"the prompt must be text (str), not {type(prompt).__name__}: decode it first"
            )
        return generate(
            self.engine, prompt, self.settings(settings, **overrides),
            model=self.info, cancel=cancel, resume=resume,
        )

    def run(self, prompt: str, settings: Settings | None = None, **overrides) -> RunResult:
        """Run to the end and return the result."""
        return collect(self.stream(prompt, settings, **overrides))

    def close(self) -> None:
        close = getattr(self.engine, "close", None)
        if close:
            close()


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
    from .engine.llama import LlamaEngine, gpu_offload_supported
    from .model_file import check_gguf, sha256_of

    if model is not None and not isinstance(model, (str, os.PathLike)):
        raise ModelError(f"model must be an alias or a path, not {type(model).__name__} ({model!r})")
    if n_ctx is not None and (not isinstance(n_ctx, int) or n_ctx < 64):
        raise SettingsError(f"n_ctx must be an integer of at least 64 (got {n_ctx!r})")
    if not isinstance(n_seq_max, int) or not 1 <= n_seq_max <= MAX_SEQUENCES:
        raise SettingsError(f"n_seq_max must be between 1 and {MAX_SEQUENCES} (got {n_seq_max!r})")
    if n_threads is not None and (not isinstance(n_threads, int) or n_threads < 1):
        raise SettingsError(f"n_threads must be at least 1 (got {n_threads!r})")
    if n_gpu_layers is not None and (not isinstance(n_gpu_layers, int) or n_gpu_layers < -1):
        raise SettingsError(f"gpu layers must be -1 (all), 0 (none) or a count (got {n_gpu_layers!r})")
    spec = load_registry().get(os.fspath(model) if model is not None else None)
    if spec.n_gpu_layers is not None and spec.n_gpu_layers < -1:
        raise SettingsError(f"n_gpu_layers of {spec.alias!r} in {spec.origin} must be -1, 0 or a count")
    # what the caller gives wins; what models.toml leaves unset comes from the file
    spec = replace(spec, n_ctx=n_ctx or spec.n_ctx,
                   n_gpu_layers=spec.n_gpu_layers if n_gpu_layers is None else n_gpu_layers)
    spec = apply_file_defaults(spec, gpu=gpu_offload_supported())
    path = model_path(spec)
    check_gguf(path)
    engine = LlamaEngine(
        path,
        n_ctx=spec.n_ctx,
        n_seq_max=n_seq_max,
        n_threads=n_threads,
        n_gpu_layers=spec.n_gpu_layers,
        prompt_format=spec.prompt_format,
    )
    sha = sha256_of(path) if hash_file else None
    info = ModelInfo(spec.alias, str(Path(path).resolve()), sha, n_ctx=engine.n_ctx,
                     n_gpu_layers=spec.n_gpu_layers, prompt_format=spec.prompt_format,
                     think=spec.think or None)
    return Model(spec, engine, info, spec.notes)
