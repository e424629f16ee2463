"""Fork by hand from the inspector: key F on a token opens its candidates; the chosen one
starts a new sequence there, decoded live (eager_local/decoding/manual_fork.py), marked manual."""

from __future__ import annotations

import threading

from textual import work

from eager_local.errors import EagerError
from eager_local.view.live_run import LiveRun

from .messages import EventBatch, ModelStatus, RunFailed
from .runner import pump_paced
from .screens.fork_dialog import ForkDialog
from .widgets.controls import Controls, setting_label
from .widgets.token_view import TokenView


class ManualFork:
    """Mixed into EagerApp."""

    def action_fork_here(self) -> None:
        run, index = self.live, self._main.query_one(TokenView).cursor_index
        if self.running or run is None or run.result is None or self.sel is None or index is None:
            self.notify("fork by hand from a finished run: put the cursor on a token first", severity="warning")
            return
        q = run.seqs[self.sel]
        cands = q.candidates[index] if q.candidates and index < len(q.candidates) else None
        if not cands:
            self.notify("no candidates were recorded for this token", severity="warning")
            return
        listed = [(t, p, run.token_text(t)) for t, p in cands]
        title = f"seq {self.sel}, token {index}: the new sequence takes…"
        self.push_screen(ForkDialog(title, listed, q.tokens[index]),
                         callback=lambda tok: self.fork_with(self.sel, index, tok))

    def fork_with(self, seq: int, pos: int, token: int | None) -> None:
        if token is None:
            return
        prev = self.live
        try:
            _, spec, _ = self._main.query_one(Controls).read(self.base_settings)
        except EagerError as e:
            self.notify(e.worded(setting_label), severity="error", title=e.title)
            return
        self._run_id += 1
        self._cancel = threading.Event()
        run = LiveRun.from_result(prev.result, prev.vocab)
        run.verdicts = dict(prev.verdicts)
        run.conversation = prev.conversation
        sel, cursor = self.sel, self.cursor
        self.show_runs([run])  # the forked run alone (a second tree, if any, goes away)
        self.sel, self.cursor = sel, cursor
        self._set_running(True, "running" if self.models.loaded(spec) else "loading")
        self._fork_worker(self._run_id, spec, prev.result, seq, pos, token, self._cancel)

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _fork_worker(self, run_id, spec, result, seq, pos, token, cancel) -> None:
        """Decode the hand-forked sequence and post its events. Touches no widget."""
        post = self.post_message
        try:
            with self.models.lock:
                model = self.models.get(spec)
                post(ModelStatus(run_id, "running"))
                # one run: its events as (0, event), as the app's batches carry them
                events = ((0, ev) for ev in model.fork_by_hand(result, seq, pos, token, cancel=cancel))
                pump_paced(events, model.engine,
                           lambda evs, vocab, drawn: post(EventBatch(run_id, evs, vocab, drawn)))
        except EagerError as e:
            post(RunFailed(run_id, e.one_line(setting_label)))
