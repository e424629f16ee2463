"""Checking a run document (``eager run --json``, a TUI save, the ``run`` of an eval record)
before anything reads it.

A hand-edited, truncated or hostile file must give one line naming the first
problem ("sequences[2].pieces: 3 entries for 5 tokens"), never a traceback
later in the TUI or a hang (a parent cycle). ``RunResult.from_json`` calls
``check_run_doc``; ``read_json_file`` reads a user-named file with a bound.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from ..conversation import MODES
from ..errors import EagerError, OutputError
from ..settings import Settings

FINISH_REASONS = ("eog", "stop", "length", "context_full", "cancelled", "pruned", "consensus")
_SETTING_NAMES = frozenset(Settings.__dataclass_fields__)
#: the load values reported beside the settings in ``params`` (``ModelInfo.load_params``)
_LOAD_PARAMS = {"n_ctx": (int, None), "n_gpu_layers": (int, None), "prompt_format": (str, None),
                "think": (list, None)}


class RunFileError(OutputError):
    """A run file or record that cannot be read back (an OutputError, as run files
    of eager eval have always been)."""

    title = "run file"


def loads(text: str | bytes, where: str) -> object:
    """``json.loads`` refusing NaN/Infinity (naming where they are) and runaway nesting,
    as a ``RunFileError``."""
    try:
        obj = json.loads(text)
    except RecursionError:
        raise RunFileError(f"{where}: JSON nested too deeply") from None
    except UnicodeDecodeError:
        raise RunFileError(f"{where}: not UTF-8 text") from None
    except json.JSONDecodeError as e:
        raise RunFileError(f"{where}: not valid JSON ({e.msg}, line {e.lineno} column {e.colno})") from None
    bad = _nonfinite(obj, "")
    if bad is not None:
        raise RunFileError(f"{where}: {bad[0] or 'the document'}: {bad[1]} is not a number JSON allows")
    return obj


def _nonfinite(obj, path: str, depth: int = 0):
    """(path, value) of the first NaN or infinity in a parsed document, else None."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else (path, obj)
    if depth > 200:
        return None
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        if isinstance(v, (dict, list, float)):
            hit = _nonfinite(v, f"{path}[{k}]" if isinstance(k, int) else (f"{path}.{k}" if path else k), depth + 1)
            if hit is not None:
                return hit
    return None


def read_json_file(path: str | Path, noun: str = "run file") -> dict:
    """A user-named run document, read with a bound and checked; its optional ``vocab``
    ({token id: text}, written by the TUI) checked too."""
    from .user_files import read_user_file

    data = read_user_file(path, noun, RunFileError, "a .json run saved by eager run --json or the TUI")
    try:
        doc = loads(data, "")
    except RunFileError as e:
        raise RunFileError(f"{path} is not a JSON run{e.message}") from None
    try:
        _check_doc(doc)
        vocab = need(doc, "vocab", (dict, None), "", optional=True) or {}
        for k, v in vocab.items():
            if not k.isdigit():
                raise _Bad(f"vocab: key {_short(k)} is not a token id")
            of(v, str, f"vocab.{k}")
    except _Bad as e:
        raise RunFileError(f"{path} is not an eager run document: {e}") from None
    return doc


# ---------------------------------------------------------------------------- value checks
class _Bad(Exception):
    """One problem, with the place it was found (``sequences[2].tokens[7]``)."""


def need(d: dict, key: str, kinds, where: str, optional: bool = False):
    """``d[key]`` checked to be one of ``kinds`` (``None`` allowed when in ``kinds``)."""
    if key not in d:
        if optional:
            return None
        raise _Bad(f"{where}{key}: missing")
    return of(d[key], kinds, f"{where}{key}")


def of(v, kinds, where: str):
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    ok = any(
        (k is None and v is None)
        or (k is int and isinstance(v, int) and not isinstance(v, bool))
        or (k is float and isinstance(v, (int, float)) and not isinstance(v, bool))
        or (k not in (int, float, None) and isinstance(v, k))
        for k in kinds
    )
    if not ok:
        names = " or ".join("null" if k is None else {float: "number", int: "integer"}.get(k, k.__name__)
                            for k in kinds)
        raise _Bad(f"{where}: expected {names}, got {type(v).__name__} {_short(v)}")
    if isinstance(v, float) and not math.isfinite(v):
        raise _Bad(f"{where}: {v} is not a finite number")
    return v


def count(v, where: str) -> int:
    """A non-negative integer."""
    of(v, int, where)
    if v < 0:
        raise _Bad(f"{where}: {v} is negative")
    return v


def _short(v) -> str:
    s = repr(v)
    return s if len(s) <= 40 else s[:37] + "..."


def ints(v, where: str, low: int = 0, high: int | None = None) -> list:
    of(v, list, where)
    for i, x in enumerate(v):
        count(x, f"{where}[{i}]")
        if x < low or (high is not None and x >= high):
            raise _Bad(f"{where}[{i}]: {x} is outside [{low}, {high})")
    return v


def numbers(v, where: str) -> list:
    of(v, list, where)
    for i, x in enumerate(v):
        of(x, float, f"{where}[{i}]")
    return v


# ---------------------------------------------------------------------------- the document
def check_run_doc(doc, where: str = "run document") -> None:
    """Raise ``RunFileError`` naming the first problem of a run document."""
    try:
        _check_doc(doc)
    except _Bad as e:
        raise RunFileError(f"{where}: {e}") from None


def _check_doc(doc) -> None:
    of(doc, dict, "the document")
    params = need(doc, "params", dict, "")
    unknown = sorted(set(params) - _SETTING_NAMES - set(_LOAD_PARAMS))
    if unknown:
        raise _Bad(f"params.{unknown[0]}: not a setting")
    for k, kinds in _LOAD_PARAMS.items():
        need(params, k, kinds, "params.", optional=True)
    _strings(params.get("think") or [], "params.think")
    for i, x in enumerate(need(params, "stop", list, "params.", optional=True) or ()):
        of(x, str, f"params.stop[{i}]")
    try:
        Settings(**{k: tuple(v) if k == "stop" else v
                    for k, v in params.items() if k in _SETTING_NAMES}).validate()
    except EagerError as e:
        raise _Bad(f"params: {e.message}") from None
    except (TypeError, ValueError) as e:
        raise _Bad(f"params: {e}") from None
    need(doc, "prompt", str, "", optional=True)
    model = need(doc, "model", (dict, None), "", optional=True)
    if model is not None:
        need(model, "path", str, "model.")
        need(model, "alias", (str, None), "model.", optional=True)
        need(model, "sha256", (str, None), "model.", optional=True)
    seqs = need(doc, "sequences", list, "")
    for i, s in enumerate(seqs):
        _check_sequence(s, i, len(seqs))
    for i, b in enumerate(need(doc, "branches", list, "")):
        _check_fork(b, f"branches[{i}].", seqs)
    st = need(doc, "stats", dict, "")
    for k in ("prompt_tokens", "generated_tokens", "decoded_tokens", "n_sequences", "peak_kv_cells"):
        count(need(st, k, int, "stats."), f"stats.{k}")
    need(st, "wall_s", float, "stats.")
    for k in ("decode_s", "steps"):
        if k in st:
            of(st[k], int if k == "steps" else float, f"stats.{k}")
    if "cached_prompt_tokens" in st:  # absent in files from before the prefix cache
        count(st["cached_prompt_tokens"], "stats.cached_prompt_tokens")
    need(st, "prune_threshold", (float, None), "stats.", optional=True)
    conversation = need(doc, "conversation", dict, "", optional=True)
    if conversation is not None:
        _check_conversation(conversation)


def _check_conversation(c: dict) -> None:
    """The TUI's turns (eager_local/conversation.py): every turn but the last answered by a
    sequence of its own run, the last one (this run) not yet."""
    if need(c, "mode", str, "conversation.") not in MODES:
        raise _Bad(f"conversation.mode: {_short(c['mode'])} is not one of {', '.join(MODES)}")
    turns = need(c, "turns", list, "conversation.")
    if not turns:
        raise _Bad("conversation.turns: empty (the run itself is a turn)")
    for i, t in enumerate(turns):
        w = f"conversation.turns[{i}]."
        of(t, dict, w.rstrip("."))
        need(t, "message", str, w)
        seq, answer = need(t, "seq", (int, None), w), need(t, "answer", (str, None), w)
        last = i == len(turns) - 1
        if last and (seq is not None or answer is not None):
            raise _Bad(f"{w}seq: the last turn is this run's and has no chosen answer yet")
        if not last and (seq is None or answer is None):
            raise _Bad(f"{w}{'seq' if seq is None else 'answer'}: missing (an earlier turn needs its chosen answer)")
        if seq is not None and seq < 0:
            raise _Bad(f"{w}seq: {seq} is negative")


def _check_sequence(s, i: int, n: int) -> None:
    w = f"sequences[{i}]."
    of(s, dict, f"sequences[{i}]")
    if need(s, "id", int, w) != i:
        raise _Bad(f"{w}id: {s['id']} where {i} belongs (ids number the sequences in order)")
    parent = need(s, "parent", (int, None), w)
    if parent is not None and not 0 <= parent < i:
        # a parent is always created before its child: this also rules out cycles
        raise _Bad(f"{w}parent: {parent} is not an earlier sequence (a parent cycle or an unknown parent)")
    tokens = ints(need(s, "tokens", list, w), f"{w}tokens")
    fork = count(need(s, "fork_pos", int, w), f"{w}fork_pos")
    if fork > len(tokens):
        raise _Bad(f"{w}fork_pos: {fork} is past its {len(tokens)} tokens")
    for key, check in (("entropies", numbers), ("pieces", _strings), ("candidates", _candidates),
                       ("top2", _pairs)):
        v = need(s, key, (list, None), w, optional=key != "entropies")
        if v is not None:
            check(v, f"{w}{key}")
            if len(v) != len(tokens) and not (key == "top2" and not v):
                raise _Bad(f"{w}{key}: {len(v)} entries for {len(tokens)} tokens")
    need(s, "text", str, w)
    need(s, "answer", (str, None), w, optional=True)
    if need(s, "finish_reason", str, w) not in FINISH_REASONS:
        raise _Bad(f"{w}finish_reason: {_short(s['finish_reason'])} is not one of {', '.join(FINISH_REASONS)}")


def _strings(v, where: str) -> None:
    for i, x in enumerate(v):
        of(x, str, f"{where}[{i}]")


def _candidates(v, where: str) -> None:
    for i, c in enumerate(v):
        of(c, list, f"{where}[{i}]")
        for j, pair in enumerate(c):
            w = f"{where}[{i}][{j}]"
            if not isinstance(pair, list) or len(pair) != 2:
                raise _Bad(f"{w}: expected [token, probability]")
            count(pair[0], w + "[0]")
            of(pair[1], float, w + "[1]")


def _pairs(v, where: str) -> None:
    for i, pair in enumerate(v):
        if not isinstance(pair, list) or len(pair) != 2:
            raise _Bad(f"{where}[{i}]: expected [token, token]")
        ints(pair, f"{where}[{i}]")


def _check_fork(b, w: str, seqs: list) -> None:
    of(b, dict, w.rstrip("."))
    parent, child = need(b, "parent", int, w), need(b, "child", int, w)
    for key, v in (("parent", parent), ("child", child)):
        if not 0 <= v < len(seqs):
            raise _Bad(f"{w}{key}: {v} names no sequence (there are {len(seqs)})")
    if seqs[child].get("parent") != parent:
        raise _Bad(f"{w}child: sequence {child} was not forked from {parent}")
    count(need(b, "pos", int, w), f"{w}pos")
    of(need(b, "entropy", float, w), float, f"{w}entropy")
    for key in ("parent_token", "child_token"):
        if key in b:
            of(b[key], int, f"{w}{key}")
    if "manual" in b:
        of(b["manual"], bool, f"{w}manual")
