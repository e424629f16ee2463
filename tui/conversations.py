"""Conversations: after a run, key N on a sequence writes the next turn; it runs with the
same settings over the whole history (eager_local/conversation.py builds its prompt)."""

from __future__ import annotations

import threading

from eager_local.conversation import Conversation
from eager_local.errors import EagerError
from eager_local.view.live_run import LiveRun

from .screens.turn_dialog import TurnDialog
from .widgets.controls import Controls, setting_label
from .widgets.token_view import TokenView


class Conversations:
    """Mixed into EagerApp."""

    def conversation_of(self, run: LiveRun) -> Conversation:
        """The run's conversation, or one that starts with it."""
        if run.conversation is not None:
            return run.conversation
        return Conversation.start(run.prompt, run.model.prompt_format if run.model else None)

    def action_next_turn(self) -> None:
        run = self.live
        if self.running:
            self.notify("a run is in progress: wait for it or stop it (F6) first", severity="warning")
            return
        if run is None or run.result is None or self.sel is None or self.sel >= len(run.result.sequences):
            self.notify("the next turn follows a finished run: run a prompt, then pick a sequence in the tree",
                        severity="warning")
            return
        chat = self.conversation_of(run).mode == "chat"
        title = (f"Next message; sequence {self.sel} is the assistant's answer" if chat
                 else f"Text to append to sequence {self.sel} (empty: go on as it is); the run continues it")
        self.push_screen(TurnDialog(title, "Send" if chat else "Continue"),
                         callback=lambda text: self.next_turn(self.sel, text))

    def next_turn(self, seq: int, message: str | None) -> None:
        """Run the turn after ``seq`` of the run on screen, ``message`` its new text."""
        if message is None:
            return
        prev = self.live
        try:
            _, spec, _ = self._main.query_one(Controls).read(self.base_settings)
            conv = self.conversation_of(prev).then(seq, prev.result.sequences[seq].text, message)
        except EagerError as e:
            self.notify(e.worded(setting_label), severity="error", title=e.title)
            return
        self._run_id += 1
        self._cancel = threading.Event()
        settings = prev.result.settings  # the same settings, the model's stops included
        self.show_runs([LiveRun(settings=settings, conversation=conv)])
        self._set_running(True, "running" if self.models.loaded(spec) else "loading")
        self._main.query_one(TokenView).focus()
        self._generate(self._run_id, spec, "", [settings], self._cancel, conv)
