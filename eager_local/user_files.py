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


def read_prompts(path: Path) -> list[str]:
    """The prompts of a prompts file: JSONL with a ``prompt`` field on every line (a
    ``.jsonl`` name, or a first line that starts with ``{``), else plain text with one
    prompt per line. Blank lines are skipped."""
    import json

    from .errors import PromptError

    data = read_user_file(path, "prompts file", PromptError, "a text or .jsonl file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise PromptError(f"prompts file {path} is not UTF-8 (byte {e.start}): convert it to UTF-8") from None
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()]
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
