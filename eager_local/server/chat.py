"""Chat messages -> one prompt text, through the model's own chat template.

The GGUF's ``tokenizer.chat_template`` is a Jinja template (as on the Hugging
Face hub); it is rendered in jinja2's sandbox, in a child process bounded in time,
memory and output size (template_process.py), with ``messages``, ``bos_token``,
``eos_token`` and ``add_generation_prompt=True``. A model without a template
gets a plain transcript instead (``FALLBACK``): one ``role: content`` line per
message, then ``assistant:`` for the model to continue; the reply then also
stops where the model starts the user's next line (``FALLBACK_STOPS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ApiError
from .template_process import TemplateProcess, TemplateRefused

#: The transcript used when the model has no chat template.
FALLBACK = "{role}: {content}\n"
#: Stop strings added to chat requests when the transcript is used.
FALLBACK_STOPS = ("\nuser:",)


@dataclass(frozen=True)
class ChatFormat:
    """How this model's chat prompts are written."""

    template: str | None
    """The GGUF's Jinja chat template, or None (the plain transcript is used)."""
    bos_token: str = ""
    """Text of the model's BOS token, as templates expect it."""
    eos_token: str = ""
    source: str = ""
    """The model file's name, for the messages that refuse its template."""
    strip_bos: bool = False
    """The tokenizer adds BOS itself: drop a BOS the template wrote at the start."""

    @property
    def stops(self) -> tuple[str, ...]:
        """Stop strings every chat request gets with this format."""
        return FALLBACK_STOPS if self.template is None else ()

    def render(self, messages: tuple[tuple[str, str], ...]) -> str:
        """The prompt text for ``messages`` (raise ApiError 400 if the template refuses)."""
        if self.template is None:
            return "".join(FALLBACK.format(role=r, content=c) for r, c in messages) + "assistant:"
        text = _render(self.template, messages, self.bos_token, self.eos_token, self.source)
        if self.strip_bos and self.bos_token and text.startswith(self.bos_token):
            text = text[len(self.bos_token):]
        return text


_PROCESS = TemplateProcess()
"""The rendering child every ChatFormat of this process shares (started on first use)."""


def _render(template: str, messages, bos: str, eos: str, source: str) -> str:
    """Render ``template`` in jinja2's sandbox, in the bounded child (template_process.py)."""
    try:
        return _PROCESS.render(template, messages, bos, eos)
    except TemplateRefused as e:
        why = str(e) if len(str(e)) <= 300 else str(e)[:300] + "…"
        name = source or "the model file"
        if why.startswith("it refused them"):  # the template's own raise_exception: the messages
            msg = f"messages: the chat template of {name}: {why}"
        else:
            msg = (f"messages: the chat template of {name} was stopped: {why}; the template is "
                   "unusable: serve another model file")
        raise ApiError(400, msg, param="messages", code="invalid_value") from None


def close() -> None:
    """Stop the rendering child (the server's shutdown)."""
    _PROCESS.close()
