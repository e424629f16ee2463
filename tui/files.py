"""Saving the run on screen (JSON, HTML, SVG) and opening a saved one: the app's file actions."""

from __future__ import annotations

import time
from pathlib import Path

from eager_local.errors import EagerError, OutputError

from .eval_runs import load_prompts, prompt_run
from .screens.eval_browser import EvalBrowser
from .screens.path_dialog import PathDialog
from .widgets.controls import Controls
from .widgets.sequence_tree import SequenceTreeView
from .widgets.stats_bar import StatsBar
from .widgets.token_view import TokenView
from eager_local.files.run_export import load_run, save_html, save_json, save_svg


class RunFiles:
    """Mixed into EagerApp: ctrl+s and ctrl+o, through PathDialog, with errors as notifications."""

    def action_save(self) -> None:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        self.push_screen(PathDialog("Save this run as (the button sets the format)",
                                    f"eager-run-{stamp}.json", (".json", ".html", ".svg")),
                         callback=self.save_to)

    def save_to(self, path: str | None) -> None:
        """Save as JSON, HTML or SVG (the tree against token position), by the path's suffix;
        the files ``eager run --json/--html/--svg`` write. (A screenshot: the palette's Screenshot.)"""
        if not path:
            return
        suffix = Path(path).suffix.lower()
        try:
            if self.live is None:
                raise OutputError("nothing to save yet: run a prompt or load a run first")
            if suffix in (".html", ".htm"):
                written = save_html(self.live, path)
            elif suffix == ".svg":
                written = save_svg(self.live, path)
            elif suffix == ".json":
                written = save_json(self.live, path)
            else:
                raise OutputError(f"unknown format {suffix or '(none)'}: end the name in .json, .html or .svg")
        except EagerError as e:
            self.notify(e.message, severity="error", title=e.title)
            return
        self.notify(str(written), title="saved")

    def action_load(self) -> None:
        self.push_screen(PathDialog("Load a saved JSON run (eager run --json, Save) or an eval run file (.jsonl)",
                                    "", ()), callback=self.open_run)

    # eval run files ---------------------------------------------------------
    eval_path: str | None = None
    eval_records: list = []
    eval_current: int | None = None

    def open_eval(self, path: str) -> None:
        """List the prompts of an eval run file (``eager tui --load run.jsonl``)."""
        try:
            records = load_prompts(path)
        except EagerError as e:
            self.notify(e.message, severity="error", title=e.title)
            return
        self.eval_path, self.eval_records, self.eval_current = path, records, None
        self.action_prompts()

    def action_prompts(self) -> None:
        if not self.eval_path:
            self.notify("no eval run file is open: load one (ctrl+o, a .jsonl of eager eval)", severity="warning")
            return
        self.push_screen(EvalBrowser(self.eval_path, self.eval_records, self.eval_current),
                         callback=self.open_prompt)

    def open_prompt(self, index: int | None) -> None:
        if index is None:
            return
        try:
            run = prompt_run(self.eval_records[index])
        except EagerError as e:
            self.notify(e.message, severity="error", title=e.title)
            return
        self.eval_current = index
        self._main.query_one(SequenceTreeView).show_confidence = True
        self.show_loaded(run)

    def open_run(self, path: str | None) -> None:
        """Show a saved run (no model needed)."""
        if not path:
            return
        if self.running:
            self.notify("stop the current run (F6) before loading another", severity="warning")
            return
        if Path(path).suffix.lower() == ".jsonl":
            self.open_eval(path)
            return
        try:
            run = load_run(path)
        except EagerError as e:
            self.notify(e.message, severity="error", title=e.title)
            return
        self.show_loaded(run)

    def show_loaded(self, run) -> None:
        """Put a finished run (a saved one, or an eval prompt's) on screen."""
        self._run_id += 1  # drop anything still in flight
        conv = run.conversation  # the prompt box gets the first turn's text
        self._main.query_one(Controls).show(conv.turns[0].message if conv else run.prompt, run.settings)
        self.show_runs([run])
        self._main.query_one(StatsBar).show(run, "loaded")
        self._main.query_one(TokenView).focus()
