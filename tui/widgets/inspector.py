"""The token inspector: one token's candidates as bars, its entropy against θ, and
the fork (if any) that happened there."""

from __future__ import annotations

from rich.cells import cell_len
from rich.text import Text
from textual.widget import Widget

from eager_local.view.palette import entropy_hex, scale_max

from eager_local.view.live_run import LiveRun

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
    """Everything the inspector says about token ``index`` of sequence ``seq``.

    Always the same number of lines for a run (5 + candidates recorded), each cut
    to ``width``, so the panel never needs a new layout while tokens stream in.
    """
    lines = _lines(run, seq, index, width)
    if run is not None:
        lines += [Text()] * (5 + run.settings.record_candidates - len(lines))
    for line in lines:
        line.truncate(max(width, 1), overflow="ellipsis")
    return Text("\n").join(lines)


def _lines(run: LiveRun | None, seq: int | None, index: int | None, width: int) -> list[Text]:
    if run is None or seq is None or index is None or seq >= len(run.seqs):
        return [Text("Select a token (arrows in the text, or click) to inspect it.", style="dim")]
    q = run.seqs[seq]
    if index >= len(q.tokens):
        return []
    s = run.settings
    h, theta, k = q.entropies[index], s.theta, s.top_k_entropy
    colour = entropy_hex(h, theta, k)
    head = Text.assemble((f"seq {seq} · token {index} ", "bold"), (repr(q.pieces[index]), "bold"))
    # the entropy as a bar on the scale, θ marked where the bar does not reach
    top = scale_max(theta, k)
    cells = max(width - 20, 6)
    mark = min(int(theta / top * cells), cells - 1) if top else 0
    filled = (bar(h / top if top else 0, cells) + " " * cells)[:cells]
    entropy = Text.assemble("H ", (f"{h:.2f}", f"bold {colour}"), " ")
    for i, ch in enumerate(filled):
        entropy.append("┃" if i == mark and ch == " " else ch,
                       style=colour if ch != " " else ("bold white" if i == mark else ""))
    above = h >= theta
    entropy.append(f" {'≥' if above else '<'} θ {theta:g}", style="bold red" if above else "dim")
    hit = run.fork_at(seq, index)
    if hit is not None:
        f, where = hit
        fork = [Text.assemble(("⑂ forked here", "bold magenta"), f" (this is the {where})"),
                Text(f"  seq {f.parent} took {f.parent_piece!r} · seq {f.child} took {f.child_piece!r}")]
    elif above and s.method == "eager":
        fork = [Text("no fork: the cap M was reached", style="dim"),
                Text("  (or monitoring had stopped)", style="dim")]
    else:
        fork = [Text("no fork here", style="dim"), Text()]
    cands = q.candidates[index] if index < len(q.candidates) else None
    if not cands:
        return [head, entropy, *fork, Text("no candidates recorded for this token", style="dim")]
    out = [head, entropy, *fork, Text(f"top {len(cands)} candidates (p after τ)", style="dim")]
    width_bar = max(width - LABEL_CELLS - 9, 2)  # label, bar, " 0.123 ◀"
    for tok, p in cands:
        chosen = tok == q.tokens[index]
        label = label_of(run.token_text(tok), tok)
        out.append(Text.assemble(
            (label + " " * (LABEL_CELLS - cell_len(label) + 1), "bold yellow" if chosen else ""),
            (bar(p, width_bar).ljust(width_bar), "yellow" if chosen else "cyan"),
            f" {p:.3f}" + (" ◀" if chosen else "")))
    return out


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
        self._text = Text()
        self._lines = 0

    def show(self, run: LiveRun | None, seq: int | None, index: int | None) -> None:
        self.run, self.seq, self.index = run, seq, index
        self._update()

    def on_resize(self) -> None:
        self._update()

    def _update(self) -> None:
        width = self.content_size.width or 40
        self._text = inspect_text(self.run, self.seq, self.index, width)
        lines = self._text.plain.count("\n") + 1
        # a layout pass is costly: only when the height changes (rarely: see inspect_text)
        self.refresh(layout=lines != self._lines)
        self._lines = lines

    def render(self) -> Text:
        return self._text
