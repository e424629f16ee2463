"""The help screen: top-K entropy, θ and M in plain words, with this run's numbers."""

from __future__ import annotations

import math

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

from eager_local.settings import Settings

from eager_local.view.live_run import LiveRun

KEYS = """
| key | what it does |
|---|---|
| F5 / ctrl+r | run the prompt |
| F6 | stop the run (sequences end as *cancelled*) |
| ← → ↑ ↓ (in the text) | move the token cursor; End follows the newest token |
| click a token | inspect it |
| ↑ ↓ enter (in the tree) | pick a sequence or a fork |
| c (in the text) | colour the background or the text |
| F2 | hide or show the controls |
| ctrl+s / ctrl+o | save (JSON, HTML, SVG) / load a saved JSON run or an eval file (.jsonl) |
| [ / ] | θ what-if: a trial θ 0.1 lower / higher; the forks it would make are marked |
| `\\` | end the θ what-if |
| f (on a token of a finished run) | fork by hand: pick another candidate, a new sequence decodes from there |
| n (after a run) | next turn: a message with the selected sequence as the answer (chat model), or text that continues it (raw model) |
| K | show or hide each sequence's confidence in the tree |
| F3 | back to the eval file's prompts |
| tab | next panel · ctrl+p command palette · ctrl+q quit |
"""


def help_markdown(settings: Settings, run: LiveRun | None, seq: int | None, index: int | None) -> str:
    """The help text, with the live numbers filled in (no model text in it)."""
    k, theta, m = settings.top_k_entropy, settings.theta, settings.max_seqs
    lnk = math.log(k)
    parts = [
        "# What you are looking at\n",
        "**Top-K entropy (H).** At every token the model gives each possible next piece of text a "
        f"probability. Keep the K = {k} most likely, rescale them so they add up to 1, and ask how "
        "spread out they are: H = −Σ p·ln p. H = 0 means the model is sure (one candidate has it "
        f"all); H = ln K = {lnk:.2f} means all {k} candidates are equally likely. Each token in the "
        "text is coloured by its H: blue is certain, green a little doubt, amber close to θ, red at "
        "or above θ.\n",
        f"**θ (theta) = {theta:g} nats.** The threshold. When a sequence meets a token with H ≥ θ, EAGER "
        "forks there: the sequence takes the most likely token and a new sequence, which shares "
        "everything before that point, takes the second. A lower θ forks more often and "
        "spends more tokens; a higher θ forks only where the model really hesitates.\n",
        f"**M = {m}.** The cap on sequences for this prompt. Once {m} exist, nobody forks any "
        "more and the live ones run to their end. *parallel* instead samples M independent "
        "sequences from the start; *greedy* always takes the most likely token.\n",
    ]
    if run is not None and run.seqs:
        total = sum(len(q.tokens) for q in run.seqs)
        c = run.counters
        parts.append(
            f"**This run.** {len(run.seqs)} sequences, {len(run.forks)} forks. "
            f"Written out separately the sequences hold {total} tokens; thanks to shared prefixes "
            f"the tree has {c.generated_tokens} distinct generated tokens, and the engine decoded "
            f"{c.decoded_tokens} (prompt included).\n")
        if seq is not None and index is not None and seq < len(run.seqs) and index < len(run.seqs[seq].tokens):
            h = run.seqs[seq].entropies[index]
            hit = run.fork_at(seq, index)
            if hit is not None:
                f = hit[0]
                verdict = (f"at or above θ, and EAGER forked here: sequence {f.parent} took the most "
                           f"likely token, sequence {f.child} the second")
            elif h >= theta:
                verdict = ("at or above θ, but no fork here (the cap M was reached, the method is "
                           "not eager, or monitoring had stopped)")
            else:
                verdict = "below θ, so no fork"
            parts.append(f"**The selected token** (sequence {seq}, token {index}) has H = {h:.2f} "
                         f"of at most {lnk:.2f}: {verdict}.\n")
    parts.append("## Keys\n" + KEYS)
    return "\n".join(parts)


class HelpScreen(ModalScreen[None]):
    """Plain-words help; Escape, q or F1 closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll { width: 90; max-width: 96%; height: 90%; background: $panel;
                                  border: thick $primary; padding: 0 1; }
    """
    BINDINGS = [Binding("escape,q,f1", "close", "close help")]

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Markdown(self.text)

    def action_close(self) -> None:
        self.dismiss(None)
