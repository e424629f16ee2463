"""Errors in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``.

Every refusal the server makes is an ``ApiError``; a user error of the core
(``EagerError``) becomes one through ``from_eager``. Anything else is a bug:
its traceback goes to the server's stderr, never into a response.
"""

from __future__ import annotations

from ..errors import ContextError, EagerError, PromptError, SettingsError

INVALID = "invalid_request_error"


class ApiError(Exception):
    """A request the server refuses, with the HTTP status and OpenAI error fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = INVALID,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = " ".join(message.split())
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict:
        """The JSON object OpenAI clients expect."""
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_field(param: str, message: str, code: str | None = "invalid_value") -> ApiError:
    """400 for one field of the body; the message starts with the field's name."""
    return ApiError(400, f"{param}: {message}", param=param, code=code)


def from_eager(e: EagerError, prompt_field: str = "prompt", seqs_field: str = "n") -> ApiError:
    """A core user error as a 400 naming the field it is about."""
    if isinstance(e, PromptError):
        code = "context_length_exceeded" if "context holds" in e.message else "invalid_value"
        return bad_field(prompt_field, e.message, code)
    if isinstance(e, ContextError):  # the sequences do not fit in the context
        return bad_field(seqs_field, e.message, "context_length_exceeded")
    if isinstance(e, SettingsError):
        return ApiError(400, e.message, code="invalid_value")
    return ApiError(400, e.one_line(), code="invalid_value")


def internal_error() -> ApiError:
    """What a client sees of a bug: no traceback, a pointer to the server's log."""
    return ApiError(
        500,
        "the server failed on this request (the traceback is in the server's log); "
        "it keeps serving other requests",
        type="server_error",
        code="internal_error",
    )
