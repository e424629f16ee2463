"""The user's models.toml, written: add and remove aliases (``eager models add/rm``).

Read with tomllib, changed as a dict, written back whole by a small serializer
for the flat keys a model entry has (strings, numbers, lists of strings), to a
temporary file that then replaces the old one (a crash never leaves half a
file), under a lock, so concurrent edits lose no entry. Comments do not survive a rewrite: a file that had any is first copied
to ``models.toml.bak``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
import tomllib
from pathlib import Path

from . import locations
from ..errors import ConfigError, ModelError

ALIAS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
"""What an alias may look like: a bare TOML key, easy to type after -m."""


def alias_for(path: Path) -> str:
    """An alias made from a file name: ``Qwen3-4B-Q4_K_M.gguf`` -> ``qwen3-4b-q4_k_m``."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "-", path.stem).strip("-._").lower()
    return stem or "model"


def read_user(file: Path) -> dict:
    """The user's file as a dict ({} when it does not exist)."""
    from .registry import read_toml_text

    if not file.is_file():
        return {}
    try:
        return tomllib.loads(read_toml_text(file))
    except (tomllib.TOMLDecodeError, OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{file}: cannot read it ({e}); fix it before `eager models add/rm`") from None


def add_model(path: str, alias: str | None, make_default: bool, known: set[str],
              file: Path | None = None) -> tuple[str, Path]:
    """Add ``[models.ALIAS] path = ...`` (and ``default``) to the user's file; return (alias, file)."""
    from .model_file import check_gguf

    file = file or locations.user_models_toml()
    gguf = Path(path).expanduser().resolve()
    check_gguf(gguf)
    alias = alias or alias_for(gguf)
    if not ALIAS.match(alias):
        raise ModelError(f"alias {alias!r}: use letters, digits, '.', '_' and '-' (starting with a letter or digit)")
    if alias in known:
        raise ModelError(f"{alias!r} already names a model: pick another ⟨alias⟩, or `eager models rm {alias}` first")
    with edit_lock(file):  # read, change and write as one step: a concurrent add loses nothing
        doc = read_user(file)
        if alias in doc.get("models", {}):
            raise ModelError(f"{alias!r} already names a model: pick another ⟨alias⟩, or "
                             f"`eager models rm {alias}` first")
        doc.setdefault("models", {})[alias] = {"path": str(gguf)}
        if make_default:
            doc["default"] = alias
        write_user(doc, file)
    return alias, file


def remove_model(alias: str, file: Path | None = None) -> Path:
    """Remove ``[models.ALIAS]`` (and a ``default`` naming it) from the user's file."""
    file = file or locations.user_models_toml()
    with edit_lock(file):
        doc = read_user(file)
        if alias not in doc.get("models", {}):
            raise ModelError(f"{alias!r} is not in your models.toml ({file}); `eager models` lists the aliases")
        del doc["models"][alias]
        if doc.get("default") == alias:
            del doc["default"]
        write_user(doc, file)
    return file


#: Longest an edit waits for another `eager models add/rm` to finish, in seconds.
LOCK_WAIT_S = 30.0


@contextlib.contextmanager
def edit_lock(file: Path):
    """Hold an exclusive lock on ``file``'s edits, waiting up to LOCK_WAIT_S for another
    editor. The lock is on the file's directory (the file itself is replaced on each
    write, and a lock file would be left behind)."""
    file.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(file.parent, os.O_RDONLY | os.O_DIRECTORY)
    except OSError as e:
        raise ConfigError(f"{file}: cannot lock it for editing ({e.strerror}); check the directory's "
                          "permissions") from None
    try:
        deadline = time.monotonic() + LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise ConfigError(f"{file} is being changed by another `eager models add/rm` "
                                      f"(waited {LOCK_WAIT_S:g} s): try again when it has finished") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def write_user(doc: dict, file: Path) -> None:
    """Write ``doc`` to ``file`` atomically (comments of an old file go to .bak first)."""
    text = dumps(doc)
    tomllib.loads(text)  # never write what cannot be read back
    file.parent.mkdir(parents=True, exist_ok=True)
    if file.is_file() and any(ln.lstrip().startswith("#") for ln in file.read_text(encoding="utf-8").splitlines()):
        shutil.copyfile(file, file.with_name(file.name + ".bak"))
    tmp = file.with_name(f".{file.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, file)
    finally:
        tmp.unlink(missing_ok=True)


def dumps(doc: dict) -> str:
    """TOML for ``{"default": str, "models": {alias: {key: scalar | list}}}``."""
    lines = ["# eager-local models (written by `eager models add/rm`; keys: see the built-in models.toml)"]
    if doc.get("default") is not None:
        lines.append(f"default = {_value(doc['default'])}")
    for alias, table in doc.get("models", {}).items():
        lines += ["", f"[models.{_key(alias)}]"]
        lines += [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


def _key(k: str) -> str:
    return k if re.match(r"^[A-Za-z0-9_-]+$", k) else _value(k)


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a JSON string is a TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    raise ConfigError(f"cannot write {type(v).__name__} values to models.toml")
