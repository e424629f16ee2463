"""Response bodies and stream chunks in OpenAI's shape, from choices and deltas.

``Reply`` knows what kind of request it answers (completion or chat, logprobs,
the ``eager`` extension) and writes the finished body (``body``) or one
chunk per delta (``chunk``). Plain dictionaries: the app serialises them.
"""

from __future__ import annotations

import time
import uuid

from .choices import Choice, Delta, TokenInfo, choices_of, forks_of, usage_of
from .requests import CompletionRequest


class Reply:
    """The answer to one request, in the shape its endpoint uses."""

    def __init__(self, req: CompletionRequest, model_id: str, piece) -> None:
        self.req = req
        self.model_id = model_id
        self.piece = piece
        self.id = ("chatcmpl-" if req.chat else "cmpl-") + uuid.uuid4().hex
        self.created = int(time.time())

    # finished ----------------------------------------------------------------
    def body(self, result, warnings: list[str] = ()) -> dict:
        """The whole response of a finished run (``warnings``: the run's notices, as a
        top-level list that OpenAI clients ignore)."""
        req = self.req
        choices = choices_of(result, self.piece, req.logprobs)
        doc = self._head("chat.completion" if req.chat else "text_completion")
        doc["choices"] = [self._choice(c) for c in choices]
        doc["usage"] = usage_of(result)
        if warnings:
            doc["warnings"] = list(warnings)
        if req.eager is not None:
            doc["eager"] = {
                "theta": result.settings.theta,
                "max_seqs": result.settings.max_seqs,
                "sequences": len(choices),
                "forks": forks_of(result, self.piece),
            }
        return doc

    def _choice(self, c: Choice) -> dict:
        out: dict = {"index": c.index}
        if self.req.chat:
            out["message"] = {"role": "assistant", "content": c.text}
            out["logprobs"] = None if c.tokens is None else {"content": [self._chat_lp(t) for t in c.tokens]}
        else:
            out["text"] = c.text
            out["logprobs"] = None if c.tokens is None else _completion_lp(c.tokens, self.req.logprobs)
        out["finish_reason"] = c.finish_reason
        if self.req.eager is not None:
            out["parent"], out["fork_pos"] = c.parent, c.fork_pos
            if self.req.eager.entropies:
                out["entropies"] = [round(h, 6) for h in c.entropies]
        return out

    # streamed ----------------------------------------------------------------
    def chunk(self, d: Delta) -> dict | None:
        """One stream chunk for ``d``; None when it says nothing."""
        if not (d.text or d.opens or d.finish_reason or d.tokens):
            return None
        doc = self._head("chat.completion.chunk" if self.req.chat else "text_completion")
        ch: dict = {"index": d.index}
        if self.req.chat:
            delta: dict = {"role": "assistant"} if d.opens else {}
            if d.text or d.opens:
                delta["content"] = d.text
            ch["delta"] = delta
            ch["logprobs"] = {"content": [self._chat_lp(t) for t in d.tokens]} if d.tokens else None
        else:
            ch["text"] = d.text
            ch["logprobs"] = _completion_lp(d.tokens, self.req.logprobs) if d.tokens else None
        ch["finish_reason"] = d.finish_reason
        if self.req.eager is not None:
            if d.opens:
                ch["parent"], ch["fork_pos"] = d.parent, d.fork_pos
            if d.entropies:
                ch["entropies"] = [round(h, 6) for h in d.entropies]
            if d.fork is not None:
                doc["eager"] = {"fork": d.fork}
        doc["choices"] = [ch]
        return doc

    def last_chunk(self, result) -> dict:
        """stream_options.include_usage: no choices, the usage (and the forks)."""
        doc = self._head("chat.completion.chunk" if self.req.chat else "text_completion")
        doc["choices"] = []
        doc["usage"] = usage_of(result)
        if self.req.eager is not None:
            doc["eager"] = {"forks": forks_of(result, self.piece)}
        return doc

    def notice_chunk(self, message: str) -> dict:
        """A stream chunk with no choices that carries one of the run's notices."""
        doc = self._head("chat.completion.chunk" if self.req.chat else "text_completion")
        doc["choices"] = []
        doc["warnings"] = [message]
        return doc

    # shared ------------------------------------------------------------------
    def _head(self, obj: str) -> dict:
        return {"id": self.id, "object": obj, "created": self.created, "model": self.model_id}

    def _chat_lp(self, t: TokenInfo) -> dict:
        n = self.req.logprobs or 0
        return {
            "token": t.text, "logprob": t.logprob, "bytes": list(t.raw),
            "top_logprobs": [{"token": s, "logprob": lp, "bytes": list(b)} for s, b, lp in t.top[:n]],
        }


def _completion_lp(tokens: list[TokenInfo], n: int | None) -> dict:
    """The legacy completions logprobs object: parallel lists and text offsets."""
    offsets, pos = [], 0
    for t in tokens:
        offsets.append(pos)
        pos += len(t.text)
    return {
        "tokens": [t.text for t in tokens],
        "token_logprobs": [t.logprob for t in tokens],
        "top_logprobs": [{s: lp for s, _, lp in t.top[: n or 0]} for t in tokens] if n else None,
        "text_offset": offsets,
    }


def models_list(model_id: str, created: int) -> dict:
    """GET /v1/models: the one loaded model."""
    return {"object": "list",
            "data": [{"id": model_id, "object": "model", "created": created, "owned_by": "eager-local"}]}
