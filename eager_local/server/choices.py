"""Core events and results as OpenAI choices: the only module that reads the core's event names.

Each sequence of a run is one choice whose ``index`` is the sequence id. A
finished run becomes a list of ``Choice`` values (``choices_of``) and a fork
list (``forks_of``); a streamed run becomes ``Delta`` values (``DeltaStream``),
where a fork opens a new index that starts with its parent's text.

Streamed text is held back while it could still be the start of a stop string,
so no chunk ever carries text that the finished choice does not have.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..events import Forked, RunFinished, SequenceFinished, TokenSampled
from ..result import RunResult

#: finish reasons of the core -> OpenAI's (a cancelled, pruned or consensus-stopped sequence is not OpenAI's, and is named so).
FINISH = {"eog": "stop", "stop": "stop", "length": "length", "context_full": "length",
          "cancelled": "cancelled", "pruned": "pruned", "consensus": "consensus"}
#: OpenAI's logprob for a chosen token outside the recorded alternatives.
UNLIKELY = -9999.0


@dataclass(frozen=True)
class TokenInfo:
    """One generated token, for logprobs."""

    text: str
    """The token's bytes decoded as UTF-8 (partial characters replaced)."""
    raw: bytes
    logprob: float
    """Natural log of its probability after temperature, before top-p (UNLIKELY when
    it is not among the recorded alternatives)."""
    top: tuple[tuple[str, bytes, float], ...]
    """The most likely alternatives (text, bytes, logprob), best first."""


@dataclass
class Choice:
    """One sequence of a finished run."""

    index: int
    text: str
    finish_reason: str
    parent: int | None
    fork_pos: int
    entropies: tuple[float, ...]
    tokens: list[TokenInfo] | None = None
    """Per-token logprobs, when asked for."""


@dataclass
class Delta:
    """What one stream chunk says about one choice."""

    index: int
    text: str = ""
    opens: bool = False
    """The first chunk of this index (a new sample, or a fork of ``parent``)."""
    parent: int | None = None
    fork_pos: int = 0
    fork: dict | None = None
    """The fork record when this index was opened by a fork."""
    finish_reason: str | None = None
    tokens: list[TokenInfo] = field(default_factory=list)
    entropies: list[float] = field(default_factory=list)


def choices_of(result: RunResult, piece, top_n: int | None) -> list[Choice]:
    """The run's sequences as choices; ``top_n`` alternatives per token (None: no logprobs)."""
    out = []
    for s in result.sequences:
        tokens = None
        if top_n is not None and s.candidates is not None:
            tokens = [token_info(t, c, piece, top_n) for t, c in zip(s.tokens, s.candidates)]
        out.append(Choice(s.id, s.text, FINISH[s.finish_reason], s.parent, s.fork_pos,
                          tuple(s.entropies), tokens))
    return out


def forks_of(result: RunResult, piece) -> list[dict]:
    """The run's forks, in the order they happened."""
    return [fork_dict(b.parent, b.child, b.pos, b.entropy, b.parent_token, b.child_token,
                      _text(piece(b.parent_token)), _text(piece(b.child_token)))
            for b in result.forks]


def fork_dict(parent, child, pos, entropy, parent_token, child_token, parent_piece, child_piece) -> dict:
    """One fork as the response shows it (field names as in ``eager run --json``)."""
    return {"parent": parent, "child": child, "pos": pos, "entropy": round(float(entropy), 6),
            "parent_token": parent_token, "child_token": child_token,
            "parent_piece": parent_piece, "child_piece": child_piece}


def token_info(token: int, cands, piece, top_n: int) -> TokenInfo:
    """Logprobs of one token from the candidates the engine recorded for it."""
    cands = cands or ()
    lp = next((_log(p) for t, p in cands if t == token), UNLIKELY)
    raw = piece(token)
    top = tuple((_text(piece(t)), piece(t), _log(p)) for t, p in cands[:top_n])
    return TokenInfo(_text(raw), raw, lp, top)


class DeltaStream:
    """Turns one run's events into per-choice deltas, holding back possible stop text."""

    def __init__(self, stops: tuple[str, ...], piece, top_n: int | None, entropies: bool) -> None:
        self.stops = stops
        self.hold = max((len(s) for s in stops), default=1) - 1
        self.piece, self.top_n, self.want_h = piece, top_n, entropies
        self.text: dict[int, str] = {}
        self.sent: dict[int, int] = {}
        self.result: RunResult | None = None

    def feed(self, ev) -> list[Delta]:
        """The deltas one event gives (often none)."""
        if isinstance(ev, TokenSampled):
            return self._token(ev)
        if isinstance(ev, Forked):
            return self._fork(ev)
        if isinstance(ev, SequenceFinished):
            return self._finish(ev)
        if isinstance(ev, RunFinished):
            self.result = ev.result
        return []

    def _open(self, seq: int, text: str = "") -> None:
        self.text[seq], self.sent[seq] = text, 0

    def _token(self, ev: TokenSampled) -> list[Delta]:
        opened = ev.seq not in self.text
        if opened:
            self._open(ev.seq)
        self.text[ev.seq] += ev.piece
        d = Delta(ev.seq, self._release(ev.seq), opens=opened)
        if self.top_n is not None:
            d.tokens.append(token_info(ev.token, ev.candidates, self.piece, self.top_n))
        if self.want_h:
            d.entropies.append(float(ev.entropy))
        return [d]

    def _fork(self, ev: Forked) -> list[Delta]:
        # the child starts with everything its parent has generated before this position
        self._open(ev.child, self.text.get(ev.parent, ""))
        rec = fork_dict(ev.parent, ev.child, ev.pos, ev.entropy, ev.parent_token, ev.child_token,
                        ev.parent_piece, ev.child_piece)
        return [Delta(ev.child, opens=True, parent=ev.parent, fork_pos=ev.pos, fork=rec)]

    def _finish(self, ev: SequenceFinished) -> list[Delta]:
        if ev.seq not in self.text:
            self._open(ev.seq)
        rest = ev.text[self.sent[ev.seq]:]
        self.sent[ev.seq] = len(ev.text)
        return [Delta(ev.seq, rest, finish_reason=FINISH[ev.reason])]

    def _release(self, seq: int) -> str:
        """Text of ``seq`` that no stop string can still cut off."""
        text, start = self.text[seq], self.sent[seq]
        # a stop string that is complete ends the text where it starts; one that may
        # still be completing holds back its length less one character
        safe = len(text) - self.hold
        for s in self.stops:
            i = text.find(s, max(0, start - len(s) + 1))
            if i >= 0:
                safe = min(safe, i)
        if safe <= start:
            return ""
        self.sent[seq] = safe
        return text[start:safe]


def usage_of(result: RunResult) -> dict:
    """OpenAI's usage, with the tree's tokens counted once, plus the tokens decoded; the
    prompt tokens copied from the prefix cache are OpenAI's ``cached_tokens``."""
    st = result.stats
    return {
        "prompt_tokens": st.prompt_tokens,
        "completion_tokens": st.generated_tokens,
        "total_tokens": st.prompt_tokens + st.generated_tokens,
        "decoded_tokens": st.decoded_tokens,
        "prompt_tokens_details": {"cached_tokens": st.cached_prompt_tokens},
    }


def _log(p: float) -> float:
    return math.log(p) if p > 0 else UNLIKELY


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace")
