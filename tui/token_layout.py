"""Lay a sequence's tokens out in lines of a given width, keeping token identity.

Lines wrap at token boundaries where a token fits (tokens usually start with a
space, so this reads like word wrap); a newline inside a token shows as ↵ and
ends the line; a token with no visible text shows as a dim dot so it can still
be selected. Pure functions of strings and numbers.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len

NEWLINE = "↵"
EMPTY = "·"


@dataclass(frozen=True)
class Span:
    """Part of one token on one line."""

    token: int
    """Index of the token in the sequence."""
    x: int
    """First cell on the line."""
    text: str
    placeholder: bool = False
    """True when the token has no visible text and ``text`` is a stand-in."""


@dataclass(frozen=True)
class TokenLayout:
    lines: tuple[tuple[Span, ...], ...]
    where: tuple[tuple[int, int], ...]
    """(line, x) of each token's first cell, by token index."""

    def hit(self, x: int, y: int) -> int | None:
        """The token under cell (x, y), or the nearest one before it on that line."""
        if not 0 <= y < len(self.lines):
            return None
        best = None
        for span in self.lines[y]:
            if span.x <= x:
                best = span.token
        return best if best is not None else (self.lines[y][0].token if self.lines[y] else None)


def clean(text: str) -> str:
    """Make a piece printable: tabs as spaces, other control characters as �."""
    text = text.replace("\t", "    ").replace("\r", "")
    return "".join(ch if ch.isprintable() or ch == " " else "\ufffd" for ch in text)


def layout(pieces: list[str] | tuple[str, ...], width: int) -> TokenLayout:
    """Place ``pieces`` in lines at most ``width`` cells wide."""
    width = max(width, 4)
    lines: list[list[Span]] = [[]]
    where: list[tuple[int, int]] = []
    col = 0

    def put(i: int, text: str, placeholder: bool) -> None:
        nonlocal col
        w = cell_len(text)
        if col > 0 and col + w > width and w <= width:
            lines.append([])
            col = 0
        while text:
            room = width - col
            head = _fit(text, room)
            if not head:  # not even one character fits: wrap
                lines.append([])
                col = 0
                continue
            lines[-1].append(Span(i, col, head, placeholder))
            col += cell_len(head)
            text = text[len(head):]
            if text:
                lines.append([])
                col = 0

    for i, piece in enumerate(pieces):
        where.append((len(lines) - 1, col))
        parts = piece.split("\n")
        if piece == "":
            put(i, EMPTY, True)
            where[i] = _first(lines, i, where[i])
            continue
        for j, part in enumerate(parts):
            last = j == len(parts) - 1
            shown = clean(part) + ("" if last else NEWLINE)
            if shown:
                put(i, shown, False)
            if not last:
                lines.append([])
                col = 0
        where[i] = _first(lines, i, where[i])
    return TokenLayout(tuple(tuple(line) for line in lines), tuple(where))


def _fit(text: str, room: int) -> str:
    """The longest prefix of ``text`` that fits in ``room`` cells."""
    out, used = [], 0
    for ch in text:
        w = cell_len(ch)
        if used + w > room:
            break
        out.append(ch)
        used += w
    return "".join(out)


def _first(lines: list[list[Span]], token: int, fallback: tuple[int, int]) -> tuple[int, int]:
    """Where ``token`` actually starts (it may have wrapped to a new line)."""
    for y in range(fallback[0], len(lines)):
        for span in lines[y]:
            if span.token == token:
                return (y, span.x)
    return fallback
