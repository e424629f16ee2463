"""The token inspector: one token's candidates as bars, its entropy against θ, and
the branch (if any) that happened there."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from eager_local.palette import entropy_hex, scale_max

from ..live_run import LiveRun

BAR = "█"
LABEL_CELLS = 12


def label_of(text: str | None, token: int) -> str:
    """A candidate as the inspector names it: its text quoted, or its id."""
    if text is None:
        return f"#{token}"
    if text == "":
        return "⟨no text⟩"
    shown = repr(text)
    while cell_len(shown) > LABEL_CELLS:
        shown = shown[:-2] + "…"
    return shown


def bar(fraction: float, cells: int) -> str:
    """A bar ``fraction`` of ``cells`` long, in eighths of a cell."""
    eighths = round(max(0.0, min(fraction, 1.0)) * cells * 8)
    full, rest = divmod(eighths, 8)
    return BAR * full + (" ▏▎▍▌▋▊▉"[rest] if rest else "")


def inspect_text(run: LiveRun | None, seq: int | None, index: int | None, width: int) -> Text:
    """Everything the inspector says about token ``index`` of sequence ``seq``."""
    t = Text()
    if run is None or seq is None or index is None or seq >= len(run.seqs):
        t.append("Select a token (arrows in the text, or click) to inspect it.", style="dim")
        return t
    q = run.seqs[seq]
    if index >= len(q.tokens):
        return t
    s = run.settings
    h, theta, k = q.entropies[index], s.theta, s.top_k_entropy
    t.append(f"seq {seq} · token {index} ", style="bold")
    t.append(repr(q.pieces[index]) + "\n", style="bold")
    top = scale_max(theta, k)
    cells = max(width - 24, 6)
    t.append("H ")
    t.append(f"{h:.2f}", style=f"bold {entropy_hex(h, theta, k)}")
    t.append(" ")
    hb = bar(h / top if top else 0, cells)
    mark = min(int(theta / top * cells), cells - 1) if top else 0
    line = (hb + " " * cells)[:cells]
    for i, ch in enumerate(line):
        t.append("┃" if i == mark and ch == " " else ch,
                 style=entropy_hex(h, theta, k) if ch != " " else ("bold white" if i == mark else ""))
    side = "≥" if h >= theta else "<"
    t.append(f" {side} θ {theta:g}\n", style="bold red" if h >= theta else "dim")
    hit = run.branch_at(seq, index)
    if hit is not None:
        b, where = hit
        t.append("⋔ branch here: ", style="bold magenta")
        t.append(f"seq {b.parent} took {b.parent_piece!r} (1st), seq {b.child} took "
                 f"{b.child_piece!r} (2nd); this is the {where}\n")
    elif h >= theta and s.method == "eager":
        t.append("no branch: the cap M was reached or monitoring had stopped\n", style="dim")
    cands = q.candidates[index] if index < len(q.candidates) else None
    if not cands:
        t.append("no candidates recorded for this token", style="dim")
        return t
    t.append(f"top {len(cands)} candidates (p after τ)\n", style="dim")
    width_bar = max(width - LABEL_CELLS - 10, 4)
    for tok, p in cands:
        chosen = tok == q.tokens[index]
        label = label_of(run.token_text(tok), tok)
        t.append(label + " " * (LABEL_CELLS - cell_len(label) + 1), style="bold yellow" if chosen else "")
        t.append(bar(p, width_bar).ljust(width_bar), style="yellow" if chosen else "cyan")
        t.append(f" {p:.3f}" + (" ◀" if chosen else "") + "\n")
    t.rstrip()
    return t


class Inspector(Widget):
    """Shows ``inspect_text`` for the token under the text cursor."""

    DEFAULT_CSS = """
    Inspector { height: auto; padding: 0 1; }
    """

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.run: LiveRun | None = None
        self.seq: int | None = None
        self.index: int | None = None

    def show(self, run: LiveRun | None, seq: int | None, index: int | None) -> None:
        self.run, self.seq, self.index = run, seq, index
        self.refresh(layout=True)

    def render(self) -> Text:
        return inspect_text(self.run, self.seq, self.index, self.content_size.width or 40)
