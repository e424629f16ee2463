"""The notebook face: a run inline (``RunResult`` shows itself as HTML), drawn live while it
decodes (``watch``), θ what-if as data and a figure, and a saved run loaded for a cell.

Only this package imports IPython (lazily, in ``live``); importing it needs none of
the notebook extra.
"""

from ..files.run_export import load_run
from ..result import RunResult
from . import display
from .display import learn_vocab, register, result_html, result_text
from .live import quiet_errors, watch
from .what_if import entropy_figure, what_if_rows, what_ifs


def load(path) -> RunResult:
    """A saved JSON run (``eager run --json``, the TUI's Save), checked as ``eager tui --load``
    checks it: a damaged file raises the same one-line ``RunFileError``."""
    quiet_errors()
    run = load_run(path)
    display.KNOWN_VOCAB.setdefault(run.result.model.path if run.result.model else "", {}).update(run.vocab)
    return run.result


__all__ = ["entropy_figure", "learn_vocab", "load", "register", "result_html", "result_text",
           "watch", "what_if_rows", "what_ifs"]
