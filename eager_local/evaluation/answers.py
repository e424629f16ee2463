"""Final answers: extraction and checking with math-verify, code with HumanEval's tests.

Numeric answers (the last number, "The answer is …", ``\\boxed{}``) and LaTeX
answers both go through ``math_verify.parse`` / ``verify``; code is run in a
separate, limited process by ``evaluation.sandbox``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from ..extras import require
from .datasets import Item


@dataclass(frozen=True)
class Verdict:
    """What the checker made of one sequence."""

    answer: str | None
    """The extracted final answer, normalised (the key of the majority vote); None if none."""
    correct: bool
    detail: str = ""
    """Why, when it is not simply right or wrong (sandbox status, no answer found)."""


class Checker:
    """Checks sequences of one dataset kind: ``numeric``, ``latex`` or ``code``."""

    def __init__(self, kind: str, *, timeout_s: float = 10.0, memory_mb: int = 512) -> None:
        if kind not in ("numeric", "latex", "code"):
            raise ValueError(f"unknown answer kind {kind!r}")
        if kind != "code":
            require("math_verify", "checking answers")
        self.kind = kind
        self.timeout_s = timeout_s
        self.memory_mb = memory_mb

    def check(self, item: Item, text: str) -> Verdict:
        if self.kind == "code":
            return self._code(item, text)
        pred = _parse(text)
        if not pred:
            return Verdict(None, False, "no answer found")
        if too_large(pred[0]):  # evaluating it (vote key, comparison) would not return
            return Verdict(f"too large: {str(pred[0])[:60]}", False, "answer too large to check")
        gold = _parse_gold(item.answer, self.kind == "latex")
        from math_verify import verify

        ok = bool(gold) and bool(verify(gold, pred, timeout_seconds=_timeout()))
        return Verdict(_key(pred), ok)

    def _code(self, item: Item, completion: str) -> Verdict:
        from .sandbox import run_untrusted

        entry = item.extra.get("entry_point", "")
        program = f"{item.question}{completion}\n{item.answer}\ncheck({entry})\n"
        r = run_untrusted(program, timeout_s=self.timeout_s, cpu_s=self.timeout_s,
                          memory_mb=self.memory_mb)
        # the completion itself is the "answer" for the vote: identical bodies agree
        return Verdict(" ".join(completion.split()) or None, bool(r.passed), r.status)


def _parse(text: str):
    from math_verify import ExprExtractionConfig, LatexExtractionConfig, parse

    cfg = [LatexExtractionConfig(), ExprExtractionConfig()]
    try:
        return parse(text, extraction_config=cfg, parsing_timeout=_timeout())
    except Exception:  # math-verify gives up on pathological text; count it as no answer
        return []


def _timeout() -> int | None:
    """math-verify times out with signal.alarm, which only the main thread may use."""
    return 5 if threading.current_thread() is threading.main_thread() else None


@lru_cache(maxsize=4096)
def _parse_gold(answer: str, latex: bool):
    text = answer if not latex or "$" in answer or "\\boxed" in answer else f"${answer}$"
    return _parse(text)


#: An exact integer above 2**MAX_BITS (about 30,000 digits) is not evaluated: a model
#: answer like 2^{2^{2^{2^{2^{2}}}}} would make sympy/GMP compute without end, and
#: that C loop cannot be interrupted by Ctrl-C.
MAX_BITS = 100_000


def too_large(expr) -> bool:
    """True when evaluating ``expr`` exactly could need more than MAX_BITS bits."""
    return _bits(expr, 0) > MAX_BITS


def _bits(e, depth: int) -> float:
    """An upper estimate of log2 |e| for exact arithmetic, without evaluating ``e``."""
    import math

    import sympy

    if depth > 50:
        return math.inf
    if isinstance(e, sympy.Integer):
        return float(abs(int(e)).bit_length())
    if isinstance(e, sympy.Rational):
        return float(max(abs(e.p).bit_length(), abs(e.q).bit_length()))
    if isinstance(e, sympy.Pow):
        base, ex = _bits(e.base, depth + 1), _bits(e.exp, depth + 1)
        if ex > 64:
            return math.inf
        return max(base, 1.0) * 2.0 ** ex
    if isinstance(e, sympy.factorial):
        n = _bits(e.args[0], depth + 1)
        return math.inf if n > 32 else 2.0 ** n * n
    args = getattr(e, "args", ())
    if not args:
        return 0.0
    parts = [_bits(a, depth + 1) for a in args]
    return sum(parts) + len(parts) if isinstance(e, sympy.Mul) else max(parts) + len(parts)


def _key(pred) -> str:
    """A normal form of a parsed answer: equal numbers give equal keys."""
    x = pred[0]
    try:
        if getattr(x, "is_number", False) and x.is_real:
            if x == int(x):
                return str(int(x))
            return f"{float(x):.10g}"
    except (TypeError, ValueError):
        pass
    return str(x)
