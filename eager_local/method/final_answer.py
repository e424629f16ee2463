"""A sequence's answer: the text after the think block, and the last ``\\boxed{}`` in it.

Used by the JSON document (``answer`` per sequence), the compact view of
``eager run`` and the answer checking of ``eager eval``. Pure string functions.
"""

from __future__ import annotations

BOXED = ("\\boxed{", "\\fbox{")


def answer_part(text: str, think: tuple[str, ...] | None) -> str | None:
    """The text after the last think end marker; the whole text for a model without
    markers; None when a reasoning model never closed its think block."""
    if not think:
        return text
    end = think[1]
    cut = text.rfind(end)
    if cut < 0:
        return None
    return text[cut + len(end):]


def last_boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{…}`` (braces balanced), or None."""
    start = max(text.rfind(b) for b in BOXED)
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, j = 1, i
    while j < len(text):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i:j].strip()
        j += 1
    return None  # unbalanced: the sequence was cut inside the box


def final_answer(text: str, think: tuple[str, ...] | None) -> str | None:
    """The extracted answer: the last ``\\boxed{}`` after the think block, else (for a
    reasoning model) the stripped text after it; None when there is none."""
    part = answer_part(text, think)
    if part is None:
        return None
    boxed = last_boxed(part)
    if boxed is not None:
        return boxed
    if think:
        return part.strip() or None
    return None
