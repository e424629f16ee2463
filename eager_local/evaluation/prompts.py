"""Prompts for evaluation items: few-shot for base models, plain questions for chat models.

A chat model's template is applied by the engine (``prompt_format = "chat"`` in
models.toml, the template from the GGUF metadata), so a chat prompt here is only
the user's message. Exemplars never come from the items being evaluated.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ..errors import DatasetError
from .datasets import Dataset, Item, load_jsonl

STYLES = ("fewshot", "chat", "code")

#: Stop strings of the few-shot format: the model starts the next question or a blank line.
FEWSHOT_STOP = ("\nQuestion:", "\n\n")
#: Stop strings for code completion: a new top-level statement ends the function body.
CODE_STOP = ("\ndef ", "\nclass ", "\nif __name__", "\nprint(", "\nassert ", "\n#")
#: Added to a chat question with ``--reasoning``.
REASONING = (
    "Think it through step by step, then give the final answer as "
    "\\boxed{ANSWER} on the last line."
)


@dataclass(frozen=True)
class PromptFormat:
    """How an item becomes the text the model continues."""

    style: str
    """``fewshot`` (base models), ``chat`` (instruct models) or ``code`` (HumanEval prompt as is)."""
    exemplars: tuple[Item, ...] = ()
    """Solved items shown before the question (few-shot only)."""
    reasoning: bool = False
    """Add a step-by-step instruction to a chat question."""
    source: str = ""
    """Where the exemplars came from, for reports."""

    def render(self, item: Item) -> str:
        if self.style == "code":
            return item.question
        if self.style == "chat":
            return item.question + ("\n\n" + REASONING if self.reasoning else "")
        shots = "".join(
            f"Question: {ex.question.strip()}\nAnswer: {_worked(ex)}\n\n" for ex in self.exemplars
        )
        return f"{shots}Question: {item.question.strip()}\nAnswer:"

    @property
    def stop(self) -> tuple[str, ...]:
        """Stop strings this format needs (added to the user's)."""
        return {"fewshot": FEWSHOT_STOP, "code": CODE_STOP}.get(self.style, ())

    def describe(self) -> dict:
        return {
            "style": self.style,
            "exemplars": [ex.id for ex in self.exemplars],
            "exemplar_source": self.source,
            "reasoning": self.reasoning,
        }


def builtin_exemplars() -> Path:
    """The packaged one-operation word problems (written for eager-local)."""
    return Path(str(resources.files(__package__) / "exemplars" / "singleop.jsonl"))


def choose_format(
    dataset: Dataset,
    model_format: str,
    *,
    style: str | None = None,
    exemplars: str | None = None,
    shots: int = 4,
    reasoning: bool = False,
) -> PromptFormat:
    """Pick the prompt style from the dataset and the model, and load exemplars.

    ``style`` None: ``code`` for code datasets, ``chat`` for chat models, else ``fewshot``.
    ``exemplars``: a JSONL file whose first ``shots`` items are the exemplars
    (a train split works); None: the packaged exemplars.
    """
    if style is None:
        style = "code" if dataset.kind == "code" else ("chat" if model_format == "chat" else "fewshot")
    if style not in STYLES:
        raise DatasetError(f"unknown prompt style {style!r}: use one of {', '.join(STYLES)}")
    if style != "fewshot":
        return PromptFormat(style, reasoning=reasoning)
    if shots < 0:
        raise DatasetError(f"⟨shots⟩ must be ≥ 0 (got {shots})")
    src = Path(exemplars).expanduser() if exemplars else builtin_exemplars()
    pool = load_jsonl(src).items if shots else ()
    if len(pool) < shots:
        raise DatasetError(f"{src} holds {len(pool)} exemplars but ⟨shots⟩ asks for {shots}")
    chosen = tuple(pool[:shots])
    ids = {it.id for it in dataset.items}
    questions = {it.question.strip() for it in dataset.items}
    for ex in chosen:
        if ex.id in ids or ex.question.strip() in questions:
            raise DatasetError(
                f"exemplar {ex.id!r} of {src} is also an evaluated item: take exemplars "
                "from a train split, never from the items being evaluated"
            )
    return PromptFormat("fewshot", chosen, reasoning, str(src))


def _worked(ex: Item) -> str:
    if ex.solution:
        return " ".join(ex.solution.split())
    return f"The answer is {ex.answer}."
