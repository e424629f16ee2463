"""Saving a run (JSON document, HTML page, SVG drawing) and loading a saved JSON run back.
The TUI's Save and ``eager run --html/--svg`` write the same files through these functions.

The JSON is the document ``eager run --json`` prints, plus an optional
top-level ``"vocab"`` ({token id: text}) so a loaded run can name candidate
tokens without the model.
"""

from __future__ import annotations

import json
from pathlib import Path

from . import run_file
from ..conversation import Conversation
from ..errors import OutputError
from .run_file import read_json_file
from ..result import RunResult

from ..view.live_run import LiveRun
from ..view.html_export import run_html
from ..view.tree_graph import tree_svg


RunFileError = run_file.RunFileError
"""A saved run that cannot be read (the core's error: one line naming the first problem)."""


def run_document(run: LiveRun) -> dict:
    """``RunResult.to_json()`` plus the vocab of every token the run mentions."""
    if run.result is None:
        raise OutputError("the run has not finished: wait for it or stop it, then save")
    doc = run.result.to_json()
    used: set[int] = set()
    for q in run.seqs:
        used.update(q.tokens)
        for c in q.candidates:
            used.update(t for t, _ in c or ())
    vocab = {str(t): run.vocab[t] for t in sorted(used) if t in run.vocab}
    if vocab:
        doc["vocab"] = vocab
    if run.conversation is not None:
        doc["conversation"] = run.conversation.to_json()
    return doc


def recorded(events, run: LiveRun):
    """Pass ``events`` on unchanged, folding each into ``run`` (for an export afterwards)."""
    for ev in events:
        run.apply(ev)
        yield ev


def save_json(run: LiveRun, path: str | Path) -> Path:
    return _write(path, json.dumps(run_document(run), ensure_ascii=False, indent=1) + "\n")


def save_html(run: LiveRun, path: str | Path) -> Path:
    if run.result is None:
        raise OutputError("the run has not finished: wait for it or stop it, then export")
    return _write(path, run_html(run))


def save_svg(run: LiveRun, path: str | Path) -> Path:
    """The tree against token position (eager_local/view/tree_graph.py) as an SVG file."""
    if run.result is None:
        raise OutputError("the run has not finished: wait for it or stop it, then export")
    return _write(path, tree_svg(run) + "\n")


def load_run(path: str | Path) -> LiveRun:
    """A saved JSON run, ready to browse (checked first: see eager_local.files.run_file)."""
    doc = read_json_file(path)
    result = RunResult.from_json(doc)
    vocab = {int(k): v for k, v in (doc.get("vocab") or {}).items()}
    run = LiveRun.from_result(result, vocab)
    if doc.get("conversation") is not None:
        run.conversation = Conversation.from_json(doc["conversation"])
    return run


def _write(path: str | Path, text: str) -> Path:
    p = Path(path).expanduser()
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    except OSError as e:
        raise OutputError(f"cannot write {p}: {e.strerror or e}") from None
    return p
