"""An eval run file, for browsing: its prompts (right or wrong, sequences, tokens) and each
prompt's tree as a LiveRun. Plain data, no Textual."""

from __future__ import annotations

from rich.text import Text

from eager_local.errors import OutputError
from eager_local.evaluation.eval_record import EvalRecord
from eager_local.evaluation.records import final_records, read_records, result_from_doc

from eager_local.view.live_run import LiveRun


def load_prompts(path: str) -> list[EvalRecord]:
    """The final record of every prompt, in item order (a two-phase run's last phase)."""
    recs = sorted(final_records(read_records(path)), key=lambda r: r.index)
    if not recs:
        raise OutputError(f"{path} holds no finished prompts (is it a run file of eager eval?)")
    return recs


def prompt_line(r: EvalRecord) -> Text:
    """``✓ id · 4 seq · 3/4 right · 120 tok · question``, one line."""
    t = Text(no_wrap=True, overflow="ellipsis")
    if r.error is not None:
        t.append("! ", style="bold yellow")
    else:
        t.append("✓ " if r.pass_any else "✗ ", style="bold green" if r.pass_any else "bold red")
    t.append(r.id, style="bold")
    t.append(f" · {r.n_sequences} seq · {r.correct}/{r.n_sequences} right · {r.generated_tokens} tok"
             f" · vote {'✓' if r.cons else '✗'}", style="dim")
    t.append(" · " + " ".join(r.question.split()))
    return t


def prompt_run(r: EvalRecord) -> LiveRun:
    """One prompt's tree, with each sequence's answer and whether it is right."""
    if r.run is None:
        raise OutputError(f"prompt {r.id!r} was not decoded: {r.error}")
    run = LiveRun.from_result(result_from_doc(r.run))
    run.verdicts = {s.id: (s.answer, s.correct) for s in r.sequences}
    return run
