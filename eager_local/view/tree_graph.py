"""The sequence tree against token position, as one self-contained SVG: one lane per
sequence (as a git graph draws branches), each token a cell coloured by its entropy,
each fork a link from the parent's lane to the child's at the fork's token.

Used by the HTML page, the TUI's SVG save and ``eager run --svg``. Pure functions.
"""

from __future__ import annotations

import html

from . import tree_model
from ..method.confidence import sequence_confidence
from .live_run import LiveRun
from .palette import entropy_hex

LANE = 18
"""Pixels between two lanes."""
LEFT, TOP = 70, 34
"""Room for the lane names and the token axis."""
LABEL = 260
"""Room after the longest lane for the leaf labels."""


def lanes(run: LiveRun) -> list[int]:
    """Sequence ids top to bottom: the tree's leaves in the outline's order."""
    out: list[int] = []
    for node in tree_model.build(run):
        out += tree_model.leaves(node)
    return out


def tree_svg(run: LiveRun, max_width: int = 1100, standalone: bool = True) -> str:
    """The whole drawing (the parent's continuation above each child, as in the outline);
    ``standalone=False`` leaves out the XML namespace, which an HTML page does not need."""
    order = lanes(run)
    row = {s: i for i, s in enumerate(order)}
    longest = max((len(q.tokens) for q in run.seqs), default=1) or 1
    cell = max(2.0, min(10.0, (max_width - LEFT - LABEL) / longest))
    width = LEFT + longest * cell + LABEL
    height = TOP + LANE * max(len(order), 1) + 10
    ns = ' xmlns="http://www.w3.org/2000/svg"' if standalone else ""
    parts = [f'<svg{ns} width="{width:.0f}" height="{height}" '
             f'viewBox="0 0 {width:.0f} {height}" font-family="ui-monospace,monospace" font-size="11">',
             f'<rect width="100%" height="100%" fill="#15171c"/>',
             _axis(longest, cell)]
    for f in run.forks:  # links under the lanes
        if f.parent in row and f.child in row:
            x = LEFT + f.pos * cell + cell / 2
            y0, y1 = _y(row[f.parent]), _y(row[f.child])
            parts.append(f'<path d="M{x:.1f},{y0} C{x + cell:.1f},{y0} {x - cell:.1f},{y1} {x + cell:.1f},{y1}" '
                         f'stroke="#e05be0" stroke-width="1.5" fill="none"{_dash(f)}><title>⑂ at {f.pos} · '
                         f'H {f.entropy:.2f} · seq {f.parent} | seq {f.child}</title></path>')
    for s in order:
        parts.append(_lane(run, s, row[s], cell))
    parts.append("</svg>")
    return "\n".join(parts)


def _dash(f) -> str:
    """A fork by hand is drawn dashed."""
    return ' stroke-dasharray="4,2"' if f.fork.manual else ""


def _y(row: int) -> int:
    return TOP + row * LANE + LANE // 2


def _axis(longest: int, cell: float) -> str:
    step = next(s for s in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 10**9) if s * cell >= 40)
    ticks = "".join(f'<text x="{LEFT + i * cell:.1f}" y="{TOP - 8}" fill="#9aa3b2">{i}</text>'
                    for i in range(0, longest, step))
    return (f'<text x="4" y="{TOP - 20}" fill="#c9d1dd">token position (generated) →  '
            f'colour: top-K entropy, ⑂ fork</text>{ticks}')


def _lane(run: LiveRun, s: int, row: int, cell: float) -> str:
    """One sequence: its own tokens as cells from its fork on, a name and a label."""
    q, th, k = run.seqs[s], run.settings.theta, run.settings.top_k_entropy
    y = _y(row)
    cells = "".join(
        f'<rect x="{LEFT + i * cell:.1f}" y="{y - 5}" width="{max(cell - 0.5, 1):.1f}" height="10" '
        f'fill="{entropy_hex(q.entropies[i], th, k)}"><title>seq {s} · token {i} · '
        f'{html.escape(repr(q.pieces[i]) if i < len(q.pieces) else "")} · H {q.entropies[i]:.3f}</title></rect>'
        for i in range(q.fork_pos, len(q.tokens)))
    end = LEFT + len(q.tokens) * cell + 6
    return (f'<text x="4" y="{y + 4}" fill="#8fc1ff">seq {s}</text>'
            f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + q.fork_pos * cell:.1f}" y2="{y}" stroke="#333" '
            f'stroke-dasharray="2,3"/>{cells}'
            f'<text x="{end:.1f}" y="{y + 4}" fill="#dde1e8">{html.escape(leaf_words(run, s))}</text>')


def leaf_words(run: LiveRun, s: int) -> str:
    """``eog · 31 tok · ✓ 14 · conf 2.10 low 0.95`` (answer only for eval prompts)."""
    q = run.seqs[s]
    words = f"{q.finish_reason or 'live'} · {len(q.tokens)} tok"
    if s in run.verdicts:
        answer, right = run.verdicts[s]
        words += f" · {'✓' if right else '✗'} {answer if answer is not None else '—'}"
    if q.finish_reason is not None:
        c = sequence_confidence(q.entropies, run.settings.top_k_entropy)
        words += f" · conf {c.mean:.2f} low {c.lowest_window:.2f}"
    return words
