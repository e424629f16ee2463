"""The app's teaching aids that read the recorded tree: θ what-if and sequence confidence."""

from __future__ import annotations

from eager_local.method.what_if import WhatIf, what_if

from .widgets.legend import Legend

STEP = 0.1
"""How far one key press moves the trial θ (nats)."""


class Teaching:
    """Mixed into EagerApp: ``[`` / ``]`` move a trial θ, ``\\`` ends the what-if, ``K``
    shows each sequence's confidence in the tree."""

    trial_theta: float | None = None
    """The what-if θ; None when the what-if is off."""

    def what_if_now(self) -> WhatIf | None:
        """The fork points of the run on screen at the trial θ (None: what-if off or no run)."""
        run = self.live
        if self.trial_theta is None or run is None or not run.seqs:
            return None
        s = run.settings
        return what_if(run.seqs, run.forks, self.trial_theta, s.max_seqs, s.monitor_window)

    def action_what_if(self, step: float) -> None:
        if self.live is None:
            self.notify("run a prompt or load a run first: the what-if reads its entropies", severity="warning")
            return
        start = self.live.settings.theta if self.trial_theta is None else self.trial_theta
        self.trial_theta = round(max(0.0, start + step), 4) if self.trial_theta is not None else start
        self._show_selection()

    def action_what_if_off(self) -> None:
        self.trial_theta = None
        self._show_selection()

    def action_toggle_confidence(self) -> None:
        on = not self._tree(0).show_confidence
        for i in range(max(len(self.runs), 1)):  # both trees when two runs are compared
            self._tree(i).show_confidence = on
        self._redraw_all()

    def show_legend(self, w: WhatIf | None = None) -> None:
        run = self.live
        s = run.settings if run is not None else self.base_settings
        self._main.query_one(Legend).show(s.theta, s.top_k_entropy, w)
