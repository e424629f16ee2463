"""models.toml → ModelSpec: the built-in registry plus the user's own file.

The built-in file is the repository's models.toml (packaged as
eager_local/models.toml in a wheel). The user's file (``locations.user_models_toml``)
adds aliases and overrides keys of existing ones.
"""

from __future__ import annotations

import importlib
import os
import secrets
import tomllib
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from . import locations
from ..errors import ConfigError, EagerError, ModelError
from ..settings import Settings
from ..files.user_files import expand_path

KEYS = {
    "path": str,
    "package": str,
    "n_ctx": int,
    "n_gpu_layers": int,
    "prompt_format": str,
    "stop": list,
    "theta": (int, float),
    "sha256": str,
    "description": str,
    "think": list,
}
FORMATS = ("raw", "chat")
DEFAULT_THETA = Settings().theta
"""θ for a model without its own ``theta`` (the paper's 2.0, for 3B-20B models)."""


@dataclass(frozen=True)
class ModelSpec:
    """One registry entry."""

    alias: str | None
    """Name in models.toml; None for a model given by path."""
    path: str | None = None
    """GGUF file (``~`` expanded when resolved)."""
    package: str | None = None
    """Package whose ``assemble(path)`` writes the GGUF (the embedded default model)."""
    n_ctx: int | None = None
    """KV cells of the context; None: the file's training context, capped to fit memory."""
    n_gpu_layers: int | None = None
    """Layers to offload (-1 = all); None: all when llama.cpp has a GPU backend, else 0."""
    prompt_format: str | None = None
    """``raw`` or ``chat``; None: chat when the file has a chat template."""
    stop: tuple[str, ...] = ()
    theta: float | None = None
    """Default entropy threshold for this model (calibrate it with `eager calibrate`)."""
    sha256: str | None = None
    description: str = ""
    origin: str = ""
    """The models.toml this entry came from."""
    think: tuple[str, ...] | None = None
    """Think markers (start, end) of a reasoning model; () for none; None: from the file."""
    notes: tuple[str, ...] = ()
    """What ``apply_file_defaults`` chose, one line each (for the notice on stderr)."""

    @property
    def source(self) -> str:
        return f"package {self.package}" if self.package else str(self.path)

    @property
    def default_theta(self) -> float:
        """The one θ rule (CLI, API, TUI, server): the model's ``theta``, else the default."""
        return self.theta if self.theta is not None else DEFAULT_THETA


@dataclass(frozen=True)
class Registry:
    default: str | None
    models: dict[str, ModelSpec]
    files: tuple[str, ...]
    """The models.toml files read, built-in first."""

    def get(self, name: str | None) -> ModelSpec:
        """An alias, a path to a .gguf file, or None for the default."""
        from_default = not name
        name = name or self.default
        if name is None:
            raise ModelError("no model given and models.toml names no default: pass ⟨model⟩")
        if name in self.models:
            return self.models[name]
        p = expand_path(name, "model", ModelError)
        if name.endswith(".gguf") or "/" in name or p.exists():
            return ModelSpec(alias=None, path=str(p.resolve()), origin="command line")
        known = ", ".join(sorted(self.models)) or "none"
        if from_default:
            raise ConfigError(
                f"default = {name!r} in {self.files[-1]} is not a model alias (known: {known}); "
                "fix the default or add [models." + name + "]"
            )
        raise ModelError(
            f"unknown model alias {name!r} (known: {known}); give a .gguf path or add it to "
            f"{locations.user_models_toml()}"
        )


def builtin_toml() -> Path:
    packaged = resources.files("eager_local") / "models.toml"
    if packaged.is_file():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "models.toml"


def load_registry(user_file: Path | None = None) -> Registry:
    files = [builtin_toml()]
    user = user_file or locations.user_models_toml()
    if user.is_file():
        files.append(user)
    default, models = None, {}
    for f in files:
        d, entries = _read(f)
        default = d or default
        for alias, fields in entries.items():
            base = models.get(alias, ModelSpec(alias=alias))
            if "path" in fields:
                base = replace(base, package=None)
            if "package" in fields:
                base = replace(base, path=None)
            models[alias] = replace(base, origin=str(f), **fields)
    return Registry(default, models, tuple(str(f) for f in files))


#: Largest models.toml read (a registry is a few kilobytes).
MAX_TOML_BYTES = 4 << 20


def read_toml_text(f: Path) -> str:
    """The text of a models.toml, at most MAX_TOML_BYTES, only from a regular file."""
    from ..files.user_files import read_user_file

    return read_user_file(f, "the file", ConfigError, "a TOML file", limit=MAX_TOML_BYTES).decode("utf-8")


def _read(f: Path) -> tuple[str | None, dict[str, dict]]:
    try:
        doc = tomllib.loads(read_toml_text(f))
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{f}: {e}; fix the syntax") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{f}: cannot read ({e}); save it as UTF-8 text") from None
    unknown = set(doc) - {"default", "models"}
    if unknown:
        raise ConfigError(f"{f}: unknown top-level key {sorted(unknown)[0]!r}; use default or [models.NAME]")
    default = doc.get("default")
    if default is not None and not isinstance(default, str):
        raise ConfigError(f"{f}: default must be a model alias string")
    models = doc.get("models", {})
    if not isinstance(models, dict):
        raise ConfigError(f"{f}: models must be tables like [models.NAME]")
    out = {}
    for alias, table in models.items():
        where = f"{f}: [models.{alias}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where} must be a table")
        fields = {}
        for key, value in table.items():
            if key not in KEYS:
                raise ConfigError(f"{where}: unknown key {key!r}; known keys: {', '.join(KEYS)}")
            want = KEYS[key]
            if not isinstance(value, want) or isinstance(value, bool):
                name = "number" if isinstance(want, tuple) else want.__name__
                raise ConfigError(
                    f"{where}: {key} must be {name}, not {type(value).__name__} ({value!r})"
                )
            fields[key] = value
        if "path" in fields and "package" in fields:
            raise ConfigError(f"{where}: give path or package, not both")
        if "path" in fields:
            p = fields["path"]
            if not (p.startswith("~") or Path(p).is_absolute()):
                raise ConfigError(f"{where}: path {p!r} is relative; use an absolute path or ~/...")
        if fields.get("prompt_format", "raw") not in FORMATS:
            raise ConfigError(f"{where}: prompt_format must be raw or chat")
        if "n_ctx" in fields and not 64 <= fields["n_ctx"] <= 1 << 20:
            raise ConfigError(f"{where}: n_ctx must be between 64 and 1048576")
        if "theta" in fields:
            fields["theta"] = float(fields["theta"])
            if not 0 <= fields["theta"] < float("inf"):
                raise ConfigError(f"{where}: theta must be a number ≥ 0")
        if "think" in fields:
            t = fields["think"]
            if t and (len(t) != 2 or not all(isinstance(x, str) and x for x in t)):
                raise ConfigError(f'{where}: think must be ["<start>", "<end>"] (or [] for none)')
            fields["think"] = tuple(t)
        if "stop" in fields:
            if not all(isinstance(x, str) and x for x in fields["stop"]):
                raise ConfigError(f"{where}: stop must be a list of non-empty strings")
            fields["stop"] = tuple(fields["stop"])
        out[alias] = fields
    return default, out


def model_path(spec: ModelSpec, *, assemble: bool = True) -> Path:
    """The GGUF file of ``spec``; an embedded model is assembled into the cache on first use."""
    if spec.path is not None:
        return expand_path(spec.path, f"path of model {spec.alias!r} in {spec.origin}:", ModelError)
    if spec.package is None:
        raise ModelError(f"model {spec.alias!r} has neither path nor package in {spec.origin}")
    try:
        mod = importlib.import_module(spec.package)
    except ImportError:
        raise ModelError(
            f"model {spec.alias!r} needs the package {spec.package!r}: "
            f"pip install {spec.package.replace('_', '-')}"
        ) from None
    target = locations.cache_dir() / "models" / mod.MODEL_NAME
    if target.is_file() and target.stat().st_size == _chunks_size(mod):
        return target
    if not assemble:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # assembled under a name of its own, then renamed: two processes starting at once
    # (Ray workers, two terminals) never write into, or read, a half-written file
    part = target.with_name(f".{target.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
    try:
        mod.assemble(part, overwrite=True)  # checks the sha256 of what it wrote
        os.replace(part, target)
    except (OSError, ValueError) as e:
        raise ModelError(f"could not assemble {spec.alias!r} into {target}: {e}") from None
    finally:
        part.unlink(missing_ok=True)
    return target


def apply_file_defaults(spec: ModelSpec, *, gpu: bool = False, memory: int | None = None) -> ModelSpec:
    """``spec`` with every key models.toml left unset taken from the GGUF file.

    prompt_format: chat when the file has a chat template; n_ctx: its training
    context, capped so the KV cache fits in memory; think: markers in its
    template; n_gpu_layers: all when ``gpu`` (llama.cpp has a GPU backend).
    ``notes`` says what was chosen. The embedded model is assembled if needed.
    """
    from . import gguf_metadata as gm
    from .model_file import check_gguf

    changes, notes = {}, []
    if spec.n_ctx is None or spec.prompt_format is None or spec.think is None:
        path = model_path(spec)
        check_gguf(path)  # before the metadata reader sees the file
        facts = gm.read_facts(path)
        if spec.prompt_format is None:
            changes["prompt_format"] = "chat" if facts.chat_template else "raw"
            notes.append("prompt format " + ("chat (the file's chat template)" if facts.chat_template
                                             else "raw (the file has no chat template)"))
        if spec.n_ctx is None:
            changes["n_ctx"], why = gm.default_n_ctx(facts, memory or gm.physical_memory())
            notes.append(f"context {changes['n_ctx']} cells ({why})")
        if spec.think is None:
            changes["think"] = facts.think or ()
            if facts.think:
                notes.append(f"reasoning model: thinks inside {' … '.join(facts.think)}")
        layers = f"all {facts.n_layer} layers" if facts.n_layer else "all layers"
    else:
        layers = "all layers"
    if spec.n_gpu_layers is None:
        changes["n_gpu_layers"] = -1 if gpu else 0
        notes.append(f"{layers} on the GPU (-ngl 0 keeps them on the CPU)" if gpu else
                     f"{layers} on the CPU (this llama.cpp has no GPU backend)")
    return replace(spec, notes=spec.notes + tuple(notes), **changes)


def _chunks_size(mod) -> int:
    try:
        return sum(p.stat().st_size for p in mod.chunk_paths())
    except OSError:
        return -1


def expected_sha256(spec: ModelSpec) -> str | None:
    if spec.sha256:
        return spec.sha256.lower()
    if spec.package:
        try:
            return importlib.import_module(spec.package).EXPECTED_SHA256
        except ImportError:
            return None
    return None


def default_theta(model: str | None) -> float:
    """θ for a model when none is given: the one rule (``ModelSpec.default_theta``)."""
    try:
        spec = load_registry().get(model)
    except EagerError:
        return DEFAULT_THETA  # the model error is reported when the model is loaded
    return spec.default_theta


def describe_model(spec: ModelSpec, verify: bool = False) -> dict:
    """What ``eager models`` and the TUI's picker show: where the file is, whether it is
    present, its size and (``verify``) whether its header and sha256 check out."""
    from .model_file import check_gguf, sha256_of

    row = {"alias": spec.alias, "source": spec.source, "n_ctx": spec.n_ctx,
           "n_gpu_layers": spec.n_gpu_layers, "prompt_format": spec.prompt_format,
           "theta": spec.default_theta, "description": spec.description, "origin": spec.origin}
    try:
        path = model_path(spec, assemble=False)
    except ModelError as e:
        row.update(path=None, present=False, status=e.message)
        return row
    row["path"] = str(path)
    present = Path(path).is_file()
    row["present"] = present
    row["size"] = Path(path).stat().st_size if present else None
    if not present:
        row["status"] = "assembled on first use" if spec.package else "missing"
    else:
        row["status"] = "present"
    if verify and present:
        try:
            check_gguf(Path(path))
            digest = sha256_of(Path(path))
            want = expected_sha256(spec)
            row["sha256"] = digest
            row["status"] = ("verified" if want == digest else "SHA256 MISMATCH") if want else "ok (no sha256 to compare)"
        except ModelError as e:
            row["status"] = e.message
    return row
