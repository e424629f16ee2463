"""Chat messages -> one prompt text, through the model's own chat template.

The GGUF's ``tokenizer.chat_template`` is a Jinja template (as on the Hugging
Face hub); it is rendered in a sandbox with ``messages``, ``bos_token``,
``eos_token`` and ``add_generation_prompt=True``. A model without a template
gets a plain transcript instead (``FALLBACK``): one ``role: content`` line per
message, then ``assistant:`` for the model to continue; the reply then also
stops where the model starts the user's next line (``FALLBACK_STOPS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from .errors import ApiError

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
        text = _render(self.template, messages, self.bos_token, self.eos_token)
        if self.strip_bos and self.bos_token and text.startswith(self.bos_token):
            text = text[len(self.bos_token):]
        return text


def _render(template: str, messages, bos: str, eos: str) -> str:
    """Render ``template`` in jinja2's sandbox (a template cannot reach Python objects)."""
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message):
        raise _TemplateRefused(str(message))

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    try:
        return env.from_string(template).render(
            messages=[{"role": r, "content": c} for r, c in messages],
            bos_token=bos,
            eos_token=eos,
            add_generation_prompt=True,
        )
    except _TemplateRefused as e:
        raise ApiError(400, f"messages: the model's chat template refused them: {e}",
                       param="messages", code="invalid_value") from None
    except jinja2.TemplateError as e:
        raise ApiError(400, f"messages: the model's chat template failed on them ({e})",
                       param="messages", code="invalid_value") from None


class _TemplateRefused(Exception):
    """A template called raise_exception (e.g. roles that do not alternate)."""
