"""The eager-local TUI: run a prompt and watch its sequence tree grow, token by token.

Generation runs in a thread worker that posts ``EventBatch`` messages; every
widget change happens here, in message handlers on the UI thread. With "vs" set,
a second configuration runs on the same prompt in the same batch (the scheduler
decodes both together) and its tree grows beside the first.
"""

from __future__ import annotations

import threading
from typing import Iterable

from textual import work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer
from textual.worker import Worker, WorkerState

from eager_local.errors import EagerError
from eager_local.events import Notice, RunFinished, SequenceFinished, TokenSampled
from eager_local.settings import Settings
from eager_local.view.pruned import PRUNE_MARK, prune_note, pruned_window

from .conversations import Conversations
from .files import RunFiles
from .manual import ManualFork
from .messages import EventBatch, ModelStatus, RunFailed
from .runner import Loader, ModelCache, default_loader, pump_paced
from .screens.help import HelpScreen, help_markdown
from .teaching import Teaching
from .widgets.controls import Controls, ModelChoice, registry_choices, setting_label
from .widgets.entropy_plot import EntropyPlot
from .widgets.inspector import Inspector
from .widgets.legend import Legend
from .widgets.sequence_tree import SequenceTreeView
from .widgets.stats_bar import StatsBar
from .widgets.token_view import TokenView
from .widgets.turn_history import TurnHistory
from eager_local.conversation import Conversation
from eager_local.view.live_run import LiveRun

GUARDED = {"run", "stop", "save", "load", "help", "toggle_controls", "next_turn"}
"""App actions that do nothing while a dialog is open."""


class EagerApp(RunFiles, Teaching, ManualFork, Conversations, App):
    """Prompt and settings on the left; tree, coloured text, inspector and plot on the right."""

    CSS_PATH = "app.tcss"
    TITLE = "eager-local"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("f5,ctrl+r", "run", "Run", priority=True),
        Binding("f6", "stop", "Stop", priority=True),
        Binding("f1", "help", "Help"),
        Binding("f2", "toggle_controls", "Controls"),
        Binding("ctrl+s", "save", "Save", priority=True),
        Binding("ctrl+o", "load", "Load", priority=True),
        Binding("left_square_bracket", "what_if(-0.1)", "θ what-if lower", show=False),
        Binding("right_square_bracket", "what_if(0.1)", "θ what-if higher", show=False),
        Binding("backslash", "what_if_off", "θ what-if off", show=False),
        Binding("K", "toggle_confidence", "confidence", show=False),
        Binding("f3", "prompts", "prompts of the eval file", show=False),
        Binding("f", "fork_here", "fork by hand", show=False),
        Binding("n", "next_turn", "next turn", show=False),
    ]

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        model: str | None = None,
        load: str | None = None,
        prompt: str = "",
        loader: Loader = default_loader,
        choices: list[ModelChoice] | None = None,
        show_rates: bool = True,
    ) -> None:
        super().__init__()
        self.base_settings = settings or Settings()
        self.models = ModelCache(loader)
        self._registry_error = None
        if choices is None:
            choices, model, self._registry_error = registry_choices(model)
        self.choices, self.model_spec = choices, model
        self.load_path, self.prompt = load, prompt
        self.show_rates = show_rates
        self.live: LiveRun | None = None
        """The run shown in the text view, inspector and plot."""
        self.runs: list[LiveRun] = []
        """Every run of the last Run: one, or two when compared (same prompt, one batch)."""
        self.sel: int | None = None
        """The sequence shown in the text view."""
        self.cursor: int | None = None
        """Token under the cursor; None follows the newest token."""
        self.running = False
        self._cancel: threading.Event | None = None
        self._run_id = 0

    def compose(self) -> ComposeResult:
        with Horizontal(id="body"):
            yield Controls(self.choices, self.model_spec, self.base_settings, self.prompt, id="controls")
            with Vertical(id="main"):
                yield StatsBar(self.show_rates, id="stats")
                yield TurnHistory(id="history")
                with Horizontal(id="top"):
                    yield SequenceTreeView(id="tree")
                    yield SequenceTreeView(id="tree-b")
                    with Vertical(id="textbox"):
                        yield Legend(id="legend")
                        yield TokenView(id="text")
                with Horizontal(id="bottom"):
                    with VerticalScroll(id="inspector-box"):
                        yield Inspector(id="inspector")
                    yield EntropyPlot(id="plot")
        yield Footer()

    def on_mount(self) -> None:
        self._main.query_one("#controls").border_title = "run"
        self._main.query_one("#tree").border_title = "sequence tree"
        self._main.query_one("#tree-b").display = False
        self._main.query_one("#textbox").border_title = "text (coloured by entropy)"
        self._main.query_one("#inspector-box").border_title = "token inspector"
        self._main.query_one("#plot").border_title = "entropy per token"
        self.show_legend()
        if self._registry_error:
            self.notify(self._registry_error, severity="error", title="models.toml")
        if self.load_path:
            self.open_run(self.load_path)
        else:
            self._main.query_one("#prompt").focus()

    def notify(self, message: str, *, title: str = "", severity="information",
               timeout: float | None = None, markup: bool = False) -> None:
        """As App.notify, but plain text by default: messages carry paths and model text."""
        super().notify(message, title=title, severity=severity, timeout=timeout, markup=markup)

    def _alive(self) -> bool:
        """False while the app shuts down (messages from the worker may still arrive)."""
        return self.is_running and bool(self.screen_stack)

    @property
    def _main(self) -> Screen:
        """The app's own screen (queries must not land on a dialog or help on top)."""
        return self.screen_stack[0]

    # running -------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action in GUARDED and isinstance(self.screen, ModalScreen):
            return False
        return True

    def action_run(self) -> None:
        if self.running:
            self.notify("a run is in progress: stop it (F6) first", severity="warning")
            return
        try:
            controls = self._main.query_one(Controls)
            prompt, spec, settings = controls.read(self.base_settings)
            settings = settings.with_(record_candidates=settings.top_k_entropy)
            other = controls.read_compare(settings)
        except EagerError as e:
            self.notify(e.worded(setting_label), severity="error", title=e.title)
            return
        self._run_id += 1
        self._cancel = threading.Event()
        every = [settings] + ([other] if other is not None else [])
        self.show_runs([LiveRun(prompt=prompt, settings=s) for s in every])
        self._set_running(True, "running" if self.models.loaded(spec) else "loading")
        self._main.query_one(TokenView).focus()  # arrows now walk the tokens as they come
        self._generate(self._run_id, spec, prompt, every, self._cancel)

    def show_runs(self, runs: list[LiveRun]) -> None:
        """Show ``runs`` (the first in the text view); a second tree only when there are two."""
        self.runs, self.live = runs, runs[0]
        self.sel, self.cursor = (0 if runs[0].seqs or not runs[0].finished else None), None
        self._main.query_one("#tree-b").display = len(runs) > 1
        self._main.query_one("#tree").border_title = "sequence tree" + (
            f" · {runs[0].settings.method}" if len(runs) > 1 else "")
        if len(runs) > 1:
            s = runs[1].settings
            self._main.query_one("#tree-b").border_title = f"vs · {s.method} θ={s.theta:g}"
        self._main.query_one(TurnHistory).show(runs[0].conversation)
        self._redraw_all()

    @work(thread=True, exclusive=True, exit_on_error=False, group="generate")
    def _generate(self, run_id: int, spec: str | None, prompt: str, settings: list[Settings],
                  cancel: threading.Event, conversation: Conversation | None = None) -> None:
        """The worker: load (or reuse) the model, decode, post batches. Touches no widget.
        With a ``conversation``, its newest turn's prompt (built for the model) is run."""
        post = self.post_message
        try:
            with self.models.lock:
                if not self.models.loaded(spec):
                    post(ModelStatus(run_id, "loading"))
                model = self.models.get(spec)
                post(ModelStatus(run_id, "running"))
                if conversation is not None:
                    prompt = conversation.prompt(model.engine)
                events = model.stream_many([prompt] * len(settings), settings, cancel=cancel)
                pump_paced(events, model.engine,
                           lambda evs, vocab, drawn: post(EventBatch(run_id, evs, vocab, drawn)))
        except EagerError as e:
            post(RunFailed(run_id, e.one_line(setting_label)))

    def action_stop(self) -> None:
        if self.running and self._cancel is not None:
            self._cancel.set()
            self._main.query_one(StatsBar).show(self.live, "stopping")

    def on_model_status(self, msg: ModelStatus) -> None:
        if msg.run_id == self._run_id and self.running and self._alive():
            self._main.query_one(StatsBar).show(self.live, msg.text)

    def on_event_batch(self, msg: EventBatch) -> None:
        self.call_after_refresh(msg.drawn.set)  # the worker may send the next batch
        if msg.run_id != self._run_id or not self.runs or not self._alive():
            return  # a batch from a run that has been replaced, or the app is closing
        structural = [False] * len(self.runs)
        touched: list[set[int]] = [set() for _ in self.runs]
        for run in self.runs:
            run.vocab.update(msg.vocab)
        for i, ev in msg.events:
            structural[i] |= self.runs[i].apply(ev)
            if isinstance(ev, (TokenSampled, SequenceFinished)):
                touched[i].add(ev.seq)
            elif isinstance(ev, Notice):
                self.notify(ev.message, severity="warning", title="note", timeout=8)
        for i, run in enumerate(self.runs):
            self._draw_tree(i, structural[i], touched[i])
        shown = self.runs.index(self.live)
        if structural[shown] or self.sel in touched[shown]:
            self._show_selection()
        if all(run.finished for run in self.runs):
            self._all_finished()
        else:
            self._main.query_one(StatsBar).show(self.live, "stopping" if self._cancel and self._cancel.is_set() else "running")

    def _tree(self, i: int) -> SequenceTreeView:
        """The tree of run ``i`` (the second only when two runs are compared)."""
        return self._main.query_one("#tree" if i == 0 else "#tree-b", SequenceTreeView)

    def _draw_tree(self, i: int, structural: bool, touched: set[int]) -> None:
        run = self.runs[i]
        sel = self.sel if run is self.live else None
        if structural:
            self._tree(i).rebuild(run, sel)  # the legend follows in _show_selection
        else:
            self._tree(i).update_leaves(run, touched, sel)

    def _all_finished(self) -> None:
        stopped = bool(self._cancel and self._cancel.is_set())
        self._set_running(False, "stopped" if stopped else "finished")
        lines = []
        for run in self.runs:
            st = run.result.stats
            lines.append(f"{st.n_sequences} sequences, {len(run.forks)} forks, {st.generated_tokens} tokens"
                         + (f" ({run.settings.method})" if len(self.runs) > 1 else ""))
        self.notify(" · vs ".join(lines), title="stopped" if stopped else "finished")

    def on_run_failed(self, msg: RunFailed) -> None:
        if not self._alive():
            return
        if msg.run_id == self._run_id:
            self._set_running(False, "failed")
        self.notify(msg.message, severity="error", title="run failed", timeout=10)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "generate" and event.state == WorkerState.ERROR and self._alive():
            self._set_running(False, "failed")
            self.notify(f"internal error: {event.worker.error!r}", severity="error", title="bug", timeout=15)

    def _set_running(self, running: bool, state: str) -> None:
        self.running = running
        self._main.query_one(Controls).set_running(running)
        self._main.query_one(StatsBar).show(self.live, state)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_run()
        elif event.button.id == "stop":
            self.action_stop()

    # selection -------------------------------------------------------------
    def on_sequence_tree_view_chosen(self, msg: SequenceTreeView.Chosen) -> None:
        i = 1 if msg.view.id == "tree-b" else 0
        if i >= len(self.runs) or msg.ref.seq >= len(self.runs[i].seqs):
            return
        switched = self.runs[i] is not self.live
        self.live = self.runs[i]
        self.sel, self.cursor = msg.ref.seq, msg.ref.pos
        for j, run in enumerate(self.runs):
            self._tree(j).update_leaves(run, (), self.sel if run is self.live else None)
        if switched:
            self._main.query_one(Legend).show(self.live.settings.theta, self.live.settings.top_k_entropy)
        self._show_selection()

    def on_token_view_cursor_moved(self, msg: TokenView.CursorMoved) -> None:
        self.cursor = msg.index
        self._show_inspector()

    def _show_selection(self) -> None:
        run, view = self.live, self._main.query_one(TokenView)
        w = self.what_if_now()
        self.show_legend(w)
        if run is None or self.sel is None or self.sel >= len(run.seqs):
            view.what_if = set()
            view.show(None, 2.0, 20, set(), None)
        else:
            s = run.settings
            view.what_if = run.what_if_marks(w, self.sel) if w is not None else set()
            view.show(run.seqs[self.sel], s.theta, s.top_k_entropy, run.fork_positions(self.sel), self.cursor)
        self._show_inspector()

    def _show_inspector(self) -> None:
        index = self._main.query_one(TokenView).cursor_index
        self._main.query_one(Inspector).show(self.live, self.sel, index)
        self._update_plot()

    def _update_plot(self) -> None:
        run, plot = self.live, self._main.query_one(EntropyPlot)
        if run is None or self.sel is None or self.sel >= len(run.seqs):
            plot.show([], self.base_settings.theta, self.base_settings.top_k_entropy, None, "")
            return
        s, q = run.settings, run.seqs[self.sel]
        cut = pruned_window(len(q.tokens), s) if q.finish_reason == "pruned" else None
        title = f"seq {self.sel}" + (f" · {PRUNE_MARK} pruned: {prune_note(q.entropies, s, None)}" if cut else "")
        plot.show(q.entropies, s.theta, s.top_k_entropy,
                  self._main.query_one(TokenView).cursor_index, title, cut)

    def _redraw_all(self) -> None:
        for i, run in enumerate(self.runs or [None]):
            self._tree(i).rebuild(run, self.sel if run is self.live else None)
        self._show_selection()

    # teaching aids -------------------------------------------------------------
    def action_help(self) -> None:
        s = self.live.settings if self.live is not None else self.base_settings
        index = self._main.query_one(TokenView).cursor_index
        self.push_screen(HelpScreen(help_markdown(s, self.live, self.sel, index)))

    def action_toggle_controls(self) -> None:
        controls = self._main.query_one(Controls)
        controls.display = not controls.display

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Run", "Decode the prompt with the current settings (F5)", self.action_run)
        yield SystemCommand("Stop", "Stop the run; live sequences end as cancelled (F6)", self.action_stop)
        yield SystemCommand("Save run", "Save as JSON, HTML page or SVG drawing of the tree (ctrl+s)", self.action_save)
        yield SystemCommand("Load run", "Browse a saved JSON run without a model (ctrl+o)", self.action_load)
        yield SystemCommand("Explain EAGER", "Top-K entropy, θ and M with this run's numbers (F1)", self.action_help)
        yield SystemCommand("Toggle controls", "Hide or show the settings panel (F2)", self.action_toggle_controls)
        yield SystemCommand("θ what-if", "Mark where the tree would fork at a trial θ ([ and ] move it, \\ ends it)",
                            lambda: self.action_what_if(0.0))
        yield SystemCommand("Fork here by hand", "A new sequence takes another candidate at this token (F)",
                            self.action_fork_here)
        yield SystemCommand("Next turn", "Write the next message to the selected sequence, or text that "
                            "continues it (N)", self.action_next_turn)
        yield SystemCommand("Sequence confidence", "Show each sequence's confidence in the tree (K)",
                            self.action_toggle_confidence)
        if getattr(self, "eval_path", None):
            yield SystemCommand("Prompts of the eval file", "Back to the list of prompts (F3)", self.action_prompts)

    def on_unmount(self) -> None:
        if self._cancel is not None:
            self._cancel.set()  # let the worker thread end
