"""The prompts of an eval run file; choosing one opens its tree."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from eager_local.evaluation.eval_record import EvalRecord

from ..eval_runs import prompt_line


class EvalBrowser(ModalScreen[int | None]):
    """Returns the index of the prompt chosen, or None (escape)."""

    DEFAULT_CSS = """
    EvalBrowser { align: center middle; }
    EvalBrowser > Vertical { width: 95%; height: 90%; padding: 0 1; background: $panel;
                             border: thick $primary; }
    EvalBrowser Label { width: 1fr; margin-bottom: 1; }
    EvalBrowser OptionList { height: 1fr; }
    """
    BINDINGS = [Binding("escape", "cancel", "close")]

    def __init__(self, path: str, records: list[EvalRecord], current: int | None = None) -> None:
        super().__init__()
        self.path, self.records, self.current = path, records, current

    def compose(self) -> ComposeResult:
        r = self.records
        right = sum(x.pass_any for x in r)
        first = r[0]
        theta = "" if first.method in ("parallel", "greedy") else f" θ={first.run_config['settings']['theta']:g}"
        with Vertical():
            yield Label(f"{Path(self.path).name}: {first.method}{theta}, {len(r)} prompts, {right} with a right "
                        "sequence (✓), vote = majority answer right. Enter opens a prompt's tree; F3 comes back here.",
                        markup=False)
            yield OptionList(*[Option(prompt_line(x), id=str(i)) for i, x in enumerate(r)])

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self.current or 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(int(event.option.id))

    def action_cancel(self) -> None:
        self.dismiss(None)
