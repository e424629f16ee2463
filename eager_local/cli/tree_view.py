"""The compact view of a finished tree: one header and two lines per sequence.

``eager run``'s default on a terminal, so that a first run reads on one screen:
each sequence says where it forked (⑂), why it finished and how long it is,
then the first and the last line of its text, or its extracted answer.
``--full`` prints every token coloured instead (cli/live.py).
"""

from __future__ import annotations

from rich.text import Text

from ..method.final_answer import final_answer
from ..result import RunResult
from ..view.palette import entropy_hex
from ..view.pruned import PRUNE_MARK, prune_note

FORK_MARK = "⑂"
INDENT = "  "


def ends(text: str, width: int) -> tuple[str, str | None]:
    """The first and last non-blank line of ``text``, each cut to ``width``; the last is
    None when it is the first. One long line gives its start and its end."""
    width = max(width, 8)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if not lines:
        return "(no text)", None
    first, last = lines[0], lines[-1]
    if len(lines) == 1:
        if len(first) <= width:
            return first, None
        return first[: width - 1] + "…", "…" + first[max(width - 1, len(first) - width + 1):]
    cut_first = first if len(first) <= width else first[: width - 1] + "…"
    cut_last = last if len(last) <= width else "…" + last[-(width - 1):]
    return cut_first, cut_last


def compact_tree(result: RunResult, think: tuple[str, ...] | None, width: int) -> list[Text]:
    """The lines of the compact view, sequences in creation order."""
    s = result.settings
    fork_h = {f.child: f.entropy for f in result.forks}
    out = []
    for seq in result.sequences:
        head = Text(f"seq {seq.id} ", style="bold cyan")
        if seq.parent is None:
            head.append("root", style="bold cyan")
        else:
            h = fork_h.get(seq.id)
            head.append(f"{FORK_MARK} seq {seq.parent} at token {seq.fork_pos}", style="bold magenta")
            if h is not None:
                head.append(f" (H {h:.2f})", style=entropy_hex(h, s.theta, s.top_k_entropy))
        if seq.finish_reason == "pruned":
            head.append(f" · {PRUNE_MARK} pruned at {len(seq.tokens)} tokens", style="bold red")
            head.append(f" ({prune_note(seq.entropies, s, result.stats.prune_threshold)})", style="red")
        else:
            head.append(f" · {seq.finish_reason} · {len(seq.tokens)} tokens", style="bold cyan")
        out.append(head)
        body = width - len(INDENT)
        first, last = ends(seq.text, body)
        out.append(Text(INDENT + first))
        answer = final_answer(seq.text, think)
        if answer is not None:
            out.append(Text.assemble(INDENT, ("answer: ", "bold green"), _cut(answer, body - 8)))
        elif last is not None:
            out.append(Text(INDENT + last, style="dim"))
    return out


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= max(width, 8) else text[: max(width, 8) - 1] + "…"
