"""Paths a user names, for reading and for writing, with one-line errors that name them.

Every face goes through here, so a device, FIFO, socket or symlink loop is
refused before anything is read or written (``/dev/zero`` would be read until
the kernel kills the process; ``/dev/null`` cannot be fsynced; a FIFO blocks),
reads are bounded, and ``~nosuchuser/...`` is a one-line error, not a traceback.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from pathlib import Path

from ..errors import EagerError, OutputError

#: No input eager-local reads (prompt, dataset, run file) needs more than this.
MAX_INPUT_BYTES = 1 << 30


def expand_path(path: str | os.PathLike, noun: str, error: type[EagerError] = EagerError) -> Path:
    """``path`` with ``~`` / ``~user`` expanded; ``error`` naming ``noun`` when it cannot be."""
    text = os.fspath(path)
    if isinstance(text, bytes) or "\0" in text:
        raise error(f"{noun} {text!r} is not a usable path (it holds a NUL byte)")
    if _unencodable(text):
        raise error(f"{noun} {text!r} is not valid UTF-8: rename it or give another path")
    try:
        return Path(text).expanduser()
    except RuntimeError:  # ~nosuchuser
        user = text[1:].split("/", 1)[0]
        raise error(f"{noun} {text}: there is no user {user!r} to expand ~{user}; give a full path") from None


def _unencodable(text: str) -> bool:
    """True for text holding surrogate escapes (non-UTF-8 bytes in an argument)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _kind(mode: int) -> str | None:
    """What a non-regular, non-directory file is, in words (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _stat(path: Path, noun: str, error: type[EagerError]) -> os.stat_result | None:
    """``os.stat(path)``; None when it does not exist; ``error`` for loops and the like."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise error(f"{noun} {path} is a symlink loop: give a real file") from None
        if e.errno == errno.ENOTDIR:
            return None
        raise error(f"cannot use {noun} {path}: {e.strerror}") from None


def read_user_file(path: str | Path, noun: str, error: type[EagerError], want: str,
                   limit: int = MAX_INPUT_BYTES) -> bytes:
    """The bytes of ``path``; ``error`` naming ``noun`` and ``path`` when it cannot be read.

    ``want`` completes "is a directory: give ..." (e.g. "a .jsonl file"). Only
    regular files are read, and at most ``limit`` bytes.
    """
    path = expand_path(path, noun, error)
    st = _stat(path, noun, error)
    if st is None:
        raise error(f"{noun} {path} not found")
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{noun} {path} is a directory: give {want}")
    kind = _kind(st.st_mode)
    if kind:
        raise error(f"{noun} {path} is {kind}, not a regular file: give {want}")
    if st.st_size > limit:
        raise error(f"{noun} {path} is {st.st_size:,} bytes, more than the {limit:,} eager-local reads: give {want}")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise error(f"cannot read {noun} {path}: {e.strerror}") from None
    if len(data) > limit:
        raise error(f"{noun} {path} grew past {limit:,} bytes while read: give {want}")
    return data


def check_output_path(path: str | Path, noun: str, want: str, *, suffixes: tuple[str, ...] = (),
                      error: type[EagerError] = OutputError) -> Path:
    """Refuse an output path before any work: it must be a regular file (or not exist yet)
    in a writable directory, not standard output, and end in one of ``suffixes`` if given."""
    p = expand_path(path, noun, error)
    st = _stat(p, noun, error)
    if st is not None and stat.S_ISDIR(st.st_mode):
        raise error(f"{noun} {p} is a directory: give {want}")
    if st is not None and _kind(st.st_mode):
        raise error(f"{noun} {p} is {_kind(st.st_mode)}, not a regular file: give {want}")
    if st is not None and _is_stdout(st):
        raise error(f"{noun} {p} is the standard output of this command: give another file")
    if suffixes and p.suffix.lower() not in suffixes:
        raise error(f"{noun} {p} must end in {' or '.join(suffixes)}: give {want}")
    parent = p.parent
    pst = _stat(parent, "directory of the " + noun, error)
    if pst is None:
        raise error(f"{noun} directory {parent} does not exist: create it first (mkdir -p {parent})")
    if not stat.S_ISDIR(pst.st_mode):
        raise error(f"{noun} {p}: {parent} is a file, not a directory; give {want}")
    if not os.access(parent, os.W_OK):
        raise error(f"{noun} directory {parent} is not writable: give {want} elsewhere")
    return p


def _is_stdout(st: os.stat_result) -> bool:
    try:
        out = os.fstat(sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (out.st_dev, out.st_ino) == (st.st_dev, st.st_ino)


def write_error(path: Path | str, noun: str, e: OSError) -> OutputError:
    """The one line for a write that failed (full disk, file too large, ...)."""
    why = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
           errno.EFBIG: "the file is larger than this system allows"}.get(e.errno, e.strerror or str(e))
    return OutputError(f"cannot write {noun} {path}: {why}; free some space or choose another path")


#: What ``--plot`` can write (matplotlib picks the format from the suffix).
PLOT_SUFFIXES = (".png", ".svg", ".pdf")


def check_plot_path(path: str | Path) -> Path:
    """A ``--plot`` path, refused before any work unless it ends in .png, .svg or .pdf."""
    return check_output_path(path, "plot", "a file name ending in .png", suffixes=PLOT_SUFFIXES)


def read_prompts(path: str | Path) -> list[str]:
    """The prompts of a prompts file: JSONL with a ``prompt`` field on every line (a
    ``.jsonl`` name, or a first line that starts with ``{``), else plain text with one
    prompt per line. Blank lines are skipped."""
    import json

    from ..errors import PromptError

    path = expand_path(path, "prompts file", PromptError)
    data = read_user_file(path, "prompts file", PromptError, "a text or .jsonl file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PromptError(f"prompts file {path} is not UTF-8 (byte {e.start}): convert it to UTF-8") from None
    lines = [(n, line.rstrip("\r")) for n, line in enumerate(text.split("\n"), 1) if line.strip()]
    if not lines:
        raise PromptError(f"prompts file {path} holds no prompts: one per line, or JSONL with a prompt field")
    if not (path.suffix == ".jsonl" or lines[0][1].lstrip().startswith("{")):
        return [line for _, line in lines]
    prompts = []
    for n, line in lines:
        try:
            doc = json.loads(line)
        except json.JSONDecodeError as e:
            raise PromptError(f"{path}, line {n}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("prompt"), str) or not doc["prompt"].strip():
            raise PromptError(f"{path}, line {n}: needs a non-empty text field \"prompt\"")
        prompts.append(doc["prompt"])
    return prompts
