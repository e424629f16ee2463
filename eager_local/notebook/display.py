"""A finished run in a notebook cell: the HTML export inline, and a text summary.

The page of eager_local/view/html_export.py goes into an ``<iframe srcdoc>`` with
``sandbox="allow-scripts"``: its styles and its inspector script stay inside the
frame (no network, nothing loaded from outside, nothing run in the notebook's own
page), and a token's tooltip names its top candidates even where scripts are off.
No IPython here: these are strings, which ``RunResult`` hands to the notebook
through ``eager_local.result.VIEWS`` (``register``).
"""

from __future__ import annotations

import html

from .. import result as result_module
from ..result import RunResult
from ..view.html_export import run_html
from ..view.live_run import LiveRun

#: Token texts learned from the models a notebook used, by model path (filled by
#: ``learn_vocab``), so a result shown later can name its candidates.
KNOWN_VOCAB: dict[str, dict[int, str]] = {}

#: Lines of sequences the text summary lists before "… n more".
SUMMARY_SEQUENCES = 8


def learn_vocab(result: RunResult, engine) -> dict[int, str]:
    """Name every token ``result`` mentions (chosen or candidate) with ``engine``'s text."""
    vocab = KNOWN_VOCAB.setdefault(_model_key(result), {})
    for q in result.sequences:
        for t in list(q.tokens) + [t for c in q.candidates or () for t, _ in c]:
            if t not in vocab:
                vocab[t] = engine.piece(t).decode("utf-8", errors="replace")
    return vocab


def live_run(result: RunResult, vocab: dict[int, str] | None = None) -> LiveRun:
    """The view's picture of ``result``, its tokens named by everything known of the model."""
    names = _pieces_vocab(result)
    names.update(KNOWN_VOCAB.get(_model_key(result), {}))
    names.update(vocab or {})
    return LiveRun.from_result(result, names)


def framed(page: str, height: int = 560) -> str:
    """``page`` (a whole HTML document) in a sandboxed frame of the cell."""
    return (f'<iframe srcdoc="{html.escape(page, quote=True)}" sandbox="allow-scripts" '
            f'style="width:100%;height:{height}px;border:1px solid #333;border-radius:4px" '
            f'title="eager-local run"></iframe>')


def result_html(result: RunResult, vocab: dict[int, str] | None = None) -> str:
    """The inline display of ``result``: the HTML export, framed."""
    return framed(run_html(live_run(result, vocab), title=_title(result)))


def result_text(result: RunResult) -> str:
    """A few lines for a terminal: settings, cost, each sequence's start and answer."""
    s, st = result.settings, result.stats
    lines = [f"RunResult · {_title(result)} · {s.method} θ={s.theta:g} M={s.max_seqs} "
             f"T={s.max_new_tokens} seed={s.seed}",
             f"  {st.n_sequences} sequences · {len(result.forks)} forks · {st.generated_tokens} tokens "
             f"generated ({st.decoded_tokens} decoded) · {st.wall_s:.2f} s",
             f"  prompt: {_clip(result.prompt, 70)}"]
    for q in result.sequences[:SUMMARY_SEQUENCES]:
        origin = "root" if q.parent is None else f"from {q.parent} at {q.fork_pos}"
        lines.append(f"  seq {q.id} ({origin}, {len(q.tokens)} tokens, {q.finish_reason}): {_clip(q.text, 60)}")
    if len(result.sequences) > SUMMARY_SEQUENCES:
        lines.append(f"  … {len(result.sequences) - SUMMARY_SEQUENCES} more sequences")
    return "\n".join(lines)


def register() -> None:
    """Let every ``RunResult`` show itself this way in a notebook."""
    result_module.VIEWS.update(html=result_html, text=result_text)


def _title(result: RunResult) -> str:
    m = result.model
    return "eager-local run" if m is None else (m.alias or m.path.rsplit("/", 1)[-1])


def _clip(text: str, width: int) -> str:
    one = repr(text)
    return one if len(one) <= width else one[:width - 1] + "…"


def _model_key(result: RunResult) -> str:
    return result.model.path if result.model else ""


def _pieces_vocab(result: RunResult) -> dict[int, str]:
    """Token texts the result itself records (each chosen token's piece)."""
    out: dict[int, str] = {}
    for q in result.sequences:
        for t, p in zip(q.tokens, q.pieces or ()):
            out.setdefault(t, p)
    return out
