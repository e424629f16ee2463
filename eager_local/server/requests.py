"""Request bodies of /v1/completions and /v1/chat/completions, checked field by field.

``parse_completion`` and ``parse_chat`` turn a decoded JSON body into a frozen
``CompletionRequest`` or raise ``ApiError`` (400) whose message starts with the
field's name. Fields follow OpenAI's documentation; ``eager`` is this server's
extension (docs/server.md). Fields the server does not know are ignored (as
llama-server and vLLM do); fields it knows but cannot honour are refused when
they ask for something other than their default.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field

from ..errors import SettingsError
from ..settings import Settings
from .errors import ApiError, bad_field
from .limits import ServerConfig

#: Roles a chat message may have.
ROLES = ("system", "developer", "user", "assistant", "tool")
#: Top alternatives the engine records per token when logprobs are asked for (OpenAI's most).
MAX_TOP_LOGPROBS = 20
#: Stop strings per request.
MAX_STOPS = 16
#: Known fields that only take their default here, with that default.
_UNSUPPORTED = {
    "echo": False, "suffix": None, "logit_bias": None, "presence_penalty": 0,
    "frequency_penalty": 0, "tools": None, "functions": None, "tool_choice": None,
}


@dataclass(frozen=True)
class EagerOptions:
    """The ``eager`` extension object: decode as an EAGER tree instead of n samples."""

    theta: float
    """Entropy threshold θ (nats): a sequence forks where the top-K entropy is ≥ θ."""
    max_seqs: int
    """Cap on the sequences of the tree (each one is a choice)."""
    entropies: bool
    """Return each choice's per-token entropies."""
    top_k_entropy: int
    """K of the top-K entropy."""
    prune: dict = field(default_factory=dict)
    """Online confidence pruning: ``prune`` ("none" or "confidence") and the other pruning
    ``Settings`` fields it was given, by their names (checked by ``Settings.validate``)."""


#: Pruning fields of the ``eager`` object, each a ``Settings`` field of the same name.
PRUNE_FIELDS = ("prune", "prune_window", "prune_keep", "prune_threshold", "prune_warmup", "stop_on_consensus")


@dataclass(frozen=True)
class CompletionRequest:
    """One checked request: what to decode and how to answer."""

    chat: bool
    """True for /v1/chat/completions."""
    prompt: str | None
    """The prompt text (completions); None for chat until the template renders it."""
    messages: tuple[tuple[str, str], ...]
    """(role, content) of each chat message; empty for completions."""
    n: int
    """Samples of full parallel sampling (1 with ``eager``)."""
    max_tokens: int
    """Tokens each sequence may generate."""
    temperature: float
    top_p: float
    stop: tuple[str, ...]
    seed: int | None
    """None: the server draws one (OpenAI's default is not reproducible)."""
    stream: bool
    include_usage: bool
    """stream_options.include_usage: one last chunk carries ``usage``."""
    logprobs: int | None
    """Alternatives to report per token (0 = the chosen token only); None = no logprobs."""
    eager: EagerOptions | None
    model: str | None

    def settings(self, seed: int) -> Settings:
        """The core's Settings for this request (``seed`` when the request gives none)."""
        if self.eager is not None:
            method, m = "eager", self.eager.max_seqs
        else:
            method, m = ("greedy" if self.temperature == 0 else "parallel"), self.n
        return Settings(
            method=method,
            theta=self.eager.theta if self.eager else Settings.theta,
            max_seqs=m,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k_entropy=self.eager.top_k_entropy if self.eager else Settings.top_k_entropy,
            max_new_tokens=self.max_tokens,
            seed=self.seed if self.seed is not None else seed,
            stop=self.stop,
            record_candidates=MAX_TOP_LOGPROBS if self.logprobs is not None else 0,
            **(self.eager.prune if self.eager else {}),
        )


def parse_completion(body: object, cfg: ServerConfig) -> CompletionRequest:
    """A /v1/completions body."""
    d = _object(body)
    prompt = d.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1:
        prompt = prompt[0]
    if isinstance(prompt, list):
        raise bad_field("prompt", "give one prompt per request (a string, or a list of one string)")
    if not isinstance(prompt, str) or not prompt.strip():
        got = "" if prompt is None else f" (got {_kind(prompt)})"
        raise bad_field("prompt", f"must be a non-empty string{got}", "missing_prompt" if prompt is None else "invalid_type")
    lp = _int(d, "logprobs", None, 0, 5)
    return _common(d, cfg, chat=False, prompt=prompt, messages=(), logprobs=lp, default_tokens=16)


def parse_chat(body: object, cfg: ServerConfig) -> CompletionRequest:
    """A /v1/chat/completions body."""
    d = _object(body)
    messages = _messages(d.get("messages"))
    logprobs = _bool(d, "logprobs", False)
    top = _int(d, "top_logprobs", None, 0, MAX_TOP_LOGPROBS)
    if top is not None and not logprobs:
        raise bad_field("top_logprobs", "needs logprobs: true")
    lp = (top or 0) if logprobs else None
    if "max_completion_tokens" in d and "max_tokens" not in d:  # the newer name
        d = {**d, "max_tokens": d["max_completion_tokens"]}
    return _common(d, cfg, chat=True, prompt=None, messages=messages, logprobs=lp,
                   default_tokens=cfg.max_tokens)


def _common(d: dict, cfg: ServerConfig, *, chat, prompt, messages, logprobs, default_tokens) -> CompletionRequest:
    for name, default in _UNSUPPORTED.items():
        if d.get(name, default) not in (default, None, {}, [], 0, False):
            raise bad_field(name, f"is not supported by eager-local; leave it out (or give {json.dumps(default)})", "unsupported")
    model = d.get("model")
    if model is not None and not isinstance(model, str):
        raise bad_field("model", "must be a string")
    n = _int(d, "n", 1, 1, cfg.max_choices)
    max_tokens = _int(d, "max_tokens", min(default_tokens, cfg.max_tokens), 1, cfg.max_tokens)
    temperature = _number(d, "temperature", 1.0, 0.0, 2.0)
    top_p = _number(d, "top_p", 1.0, 0.0, 1.0)
    if top_p == 0:
        raise bad_field("top_p", "must be in (0, 1]; use temperature 0 for the most likely tokens")
    seed = _int(d, "seed", None, 0, 2**63 - 1)
    stream = _bool(d, "stream", False)
    include_usage = _stream_options(d, stream)
    eager = _eager(d.get("eager"), cfg)
    if eager is not None and n != 1:
        raise bad_field("n", "leave n out with eager: eager.max_seqs caps the sequences of the tree")
    if temperature == 0 and (n > 1 or eager is not None):
        raise bad_field("temperature", "0 means greedy decoding, a single sequence: give a "
                        "temperature > 0 for n > 1 or eager")
    if "best_of" in d and d["best_of"] not in (None, n):
        raise bad_field("best_of", "is not supported by eager-local; leave it out", "unsupported")
    req = CompletionRequest(
        chat=chat, prompt=prompt, messages=messages, n=n, max_tokens=max_tokens,
        temperature=float(temperature), top_p=float(top_p), stop=_stops(d.get("stop")),
        seed=seed, stream=stream, include_usage=include_usage, logprobs=logprobs,
        eager=eager, model=model,
    )
    if eager is not None and eager.prune:
        _check_prune(req)
    return req


def _check_prune(req: CompletionRequest) -> None:
    """The pruning fields against the rest (a window longer than max_tokens, a warm-up
    of max_seqs or more): a 400 naming the field as ``eager.<name>``."""
    try:
        req.settings(seed=0).validate()
    except SettingsError as e:
        first = re.search(r"⟨([a-z_]+)⟩", e.template)
        name = first[1] if first and first[1] in PRUNE_FIELDS else "eager"
        word = {"max_new_tokens": "max_tokens", "method": "eager"}
        text = e.worded(lambda n: word.get(n, f"eager.{n}"))
        raise ApiError(400, text, param=name if name == "eager" else f"eager.{name}", code="invalid_value") from None


def _eager(e: object, cfg: ServerConfig) -> EagerOptions | None:
    if e is None:
        return None
    if not isinstance(e, dict):
        raise bad_field("eager", 'must be an object such as {"theta": 1.0, "max_seqs": 8}', "invalid_type")
    unknown = sorted(set(e) - {"theta", "max_seqs", "entropies", "top_k_entropy", *PRUNE_FIELDS})
    if unknown:
        raise bad_field(f"eager.{unknown[0]}", "is not a field of eager (theta, max_seqs, entropies, "
                        "top_k_entropy, " + ", ".join(PRUNE_FIELDS) + ")")
    return EagerOptions(
        theta=float(_number(e, "theta", cfg.default_theta, 0.0, 100.0, prefix="eager.")),
        max_seqs=_int(e, "max_seqs", min(8, cfg.max_choices), 1, cfg.max_choices, prefix="eager."),
        entropies=_bool(e, "entropies", False, prefix="eager."),
        top_k_entropy=_int(e, "top_k_entropy", 20, 2, 1000, prefix="eager."),
        prune=_prune(e),
    )


def _prune(e: dict) -> dict:
    """The pruning fields given in ``eager``, typed; their values are checked with the
    rest of the settings (a 400 naming ``eager.<field>``)."""
    out = {}
    if e.get("prune") is not None:
        if e["prune"] not in ("none", "confidence"):
            raise bad_field("eager.prune", f'must be "none" or "confidence" (got {_kind(e["prune"])})')
        out["prune"] = e["prune"]
    for name in ("prune_window", "prune_warmup"):
        if e.get(name) is not None:
            out[name] = _int(e, name, None, 1, 1_000_000, prefix="eager.")
    for name in ("prune_keep", "prune_threshold", "stop_on_consensus"):
        if e.get(name) is not None:
            out[name] = float(_number(e, name, None, 0.0, 1e6, prefix="eager."))
    return out


def _messages(m: object) -> tuple[tuple[str, str], ...]:
    if m is None:
        raise bad_field("messages", "is required: a list of {role, content} objects", "missing_messages")
    if not isinstance(m, list):
        raise bad_field("messages", "must be a list of {role, content} objects", "invalid_type")
    if not m:
        raise bad_field("messages", "is empty: give at least one message")
    out = []
    for i, msg in enumerate(m):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            raise bad_field(where, "must be an object with role and content", "invalid_type")
        role = msg.get("role")
        if role not in ROLES:
            raise bad_field(f"{where}.role", f"must be one of {', '.join(ROLES)} (got {role!r})")
        out.append((role, _content(msg.get("content"), f"{where}.content")))
    return tuple(out)


def _content(c: object, where: str) -> str:
    if c is None:
        return ""
    if isinstance(c, str):
        return c
    if isinstance(c, list):
        texts = []
        for j, part in enumerate(c):
            if not isinstance(part, dict) or part.get("type") != "text" or not isinstance(part.get("text"), str):
                raise bad_field(f"{where}[{j}]", 'only text parts are supported: {"type": "text", "text": "..."}')
            texts.append(part["text"])
        return "".join(texts)
    raise bad_field(where, "must be a string or a list of text parts", "invalid_type")


def _stops(s: object) -> tuple[str, ...]:
    if s is None:
        return ()
    items = [s] if isinstance(s, str) else s
    if not isinstance(items, list) or not all(isinstance(x, str) for x in items):
        raise bad_field("stop", "must be a string or a list of strings", "invalid_type")
    if len(items) > MAX_STOPS:
        raise bad_field("stop", f"at most {MAX_STOPS} stop strings (got {len(items)})")
    if any(x == "" for x in items):
        raise bad_field("stop", "stop strings must not be empty")
    return tuple(dict.fromkeys(items))


def _stream_options(d: dict, stream: bool) -> bool:
    so = d.get("stream_options")
    if so is None:
        return False
    if not isinstance(so, dict):
        raise bad_field("stream_options", "must be an object such as {\"include_usage\": true}", "invalid_type")
    if not stream:
        raise bad_field("stream_options", "is only allowed with stream: true")
    return _bool(so, "include_usage", False, prefix="stream_options.")


def _object(body: object) -> dict:
    if not isinstance(body, dict):
        raise bad_field("body", f"must be a JSON object, not {_kind(body)}", "invalid_type")
    return body


def _int(d: dict, name: str, default, lo: int, hi: int, prefix: str = ""):
    v = d.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, int):
        raise bad_field(prefix + name, f"must be an integer (got {_kind(v)})", "invalid_type")
    if not lo <= v <= hi:
        raise bad_field(prefix + name, f"must be between {lo} and {hi} (got {v})")
    return v


def _number(d: dict, name: str, default, lo: float, hi: float, prefix: str = ""):
    v = d.get(name)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise bad_field(prefix + name, f"must be a number (got {_kind(v)})", "invalid_type")
    if not lo <= v <= hi:
        raise bad_field(prefix + name, f"must be between {lo:g} and {hi:g} (got {v})")
    return v


def _bool(d: dict, name: str, default: bool, prefix: str = "") -> bool:
    v = d.get(name)
    if v is None:
        return default
    if not isinstance(v, bool):
        raise bad_field(prefix + name, f"must be true or false (got {_kind(v)})", "invalid_type")
    return v


def _kind(v: object) -> str:
    if isinstance(v, str):
        return "a string"
    if isinstance(v, (dict, list)):
        return "an object" if isinstance(v, dict) else "a list"
    return repr(v) if isinstance(v, (int, float, bool)) or v is None else type(v).__name__
