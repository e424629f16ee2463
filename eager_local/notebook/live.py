"""A run drawn while it decodes: ``watch(model.stream(prompt, settings))`` in a cell.

Every event is folded into a ``LiveRun`` (as the TUI does); one output area is
redrawn at most ``every_s`` apart (the tree against token position, the coloured
tokens, the counters) and once more at the end with the whole inline display.
Ctrl-C (the kernel's interrupt) closes the stream, which frees the run's KV
cells, so the model can run again; an ``EagerError`` from the stream is shown as
its one line in the output area, and in IPython as one line instead of a traceback.
IPython is imported only when no output area is given.
"""

from __future__ import annotations

import html
import sys
import time
from collections.abc import Iterator

from ..errors import EagerError
from ..events import Event
from ..result import RunResult
from ..view.html_export import sequence_html
from ..view.live_run import LiveRun
from ..view.tree_graph import tree_svg
from . import display

#: Seconds between two redraws of a running run (a few per second).
EVERY_S = 0.25


class CellOutput:
    """One output area of the running cell (IPython's display handle)."""

    def __init__(self) -> None:
        from IPython.display import display as show  # the notebook extra; lazily

        quiet_errors()
        self.handle = show(_Html(""), display_id=True)

    def update(self, text: str) -> None:
        self.handle.update(_Html(text))


class _Html:
    """Raw HTML for IPython's display (what ``IPython.display.HTML`` does, without
    its warning about iframes)."""

    def __init__(self, text: str) -> None:
        self.text = text

    def _repr_html_(self) -> str:
        return self.text


def watch(events: Iterator[Event], *, model=None, output=None, every_s: float = EVERY_S) -> RunResult:
    """Draw ``events`` (``model.stream(...)``) in one output area as they arrive; return
    the run's result. ``model`` names the candidate tokens; ``output``: anything with
    ``update(html: str)`` (default: a new output area of the cell)."""
    out = output if output is not None else CellOutput()
    run, shown = LiveRun(), 0.0
    try:
        for ev in events:
            run.apply(ev)
            if time.monotonic() - shown >= every_s and run.seqs:
                out.update(progress_html(run))
                shown = time.monotonic()
    except KeyboardInterrupt:
        _close(events)  # the run stops here: its sequences and KV cells are released
        out.update(progress_html(run) + _line("interrupted: the run was stopped; the model is ready"))
        raise
    except EagerError as e:
        _close(events)
        out.update(progress_html(run) + _line(e.one_line()))
        raise
    if run.result is None:
        raise EagerError("the event stream ended without a result: pass model.stream(...) to watch")
    if model is not None:
        display.learn_vocab(run.result, model.engine)
    out.update(display.result_html(run.result, run.vocab))
    return run.result


def progress_html(run: LiveRun) -> str:
    """The running run: counters, the tree against token position, the coloured tokens."""
    c, s = run.counters, run.settings
    head = (f"{s.method} θ={s.theta:g} M={s.max_seqs} · step {c.step} · {len(run.seqs)} sequences · "
            f"{c.generated_tokens} tokens")
    seqs = "".join(sequence_html(run, q, s.theta, s.top_k_entropy) for q in run.seqs)
    return (f'<div style="background:#15171c;color:#dde1e8;padding:8px;font:13px ui-monospace,monospace">'
            f"<div>{html.escape(head)}</div>{tree_svg(run, standalone=False)}"
            f'<div style="white-space:pre-wrap;color:#111">{seqs}</div></div>')


def _close(events) -> None:
    close = getattr(events, "close", None)  # a generator (model.stream); a plain iterator has none
    if close is not None:
        close()


def _line(text: str) -> str:
    return (f'<div style="color:#b00020;font:13px ui-monospace,monospace;padding:4px 0">'
            f"{html.escape(text)}</div>")


def quiet_errors() -> None:
    """In IPython, show an ``EagerError`` raised in a cell as its one line (a user
    mistake, not a bug): no traceback wall. Other errors are left alone."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return

    def one_line(shell, etype, value, tb, tb_offset=None):
        print(value.one_line(), file=sys.stderr)

    shell.set_custom_exc((EagerError,), one_line)
