"""Reading a file a user named, with one-line errors that name it."""

from __future__ import annotations

from pathlib import Path

from .errors import EagerError


def read_user_file(path: Path, noun: str, error: type[EagerError], want: str) -> bytes:
    """The bytes of ``path``; ``error`` naming ``noun`` and ``path`` when it cannot be read.

    ``want`` completes "is a directory: give ..." (e.g. "a .jsonl file").
    """
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise error(f"{noun} {path} not found") from None
    except IsADirectoryError:
        raise error(f"{noun} {path} is a directory: give {want}") from None
    except OSError as e:
        raise error(f"cannot read {noun} {path}: {e.strerror}") from None
