"""The run file: one JSON line per prompt, appended, flushed and fsynced as it finishes.

A line is written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a
reader never sees half of one; if a process was killed mid-write anyway, the
torn tail (no newline) is cut off before the file is appended to again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import OutputError
from ..result import RunResult
from ..user_files import read_user_file


def check_output(path: str | Path, *, resume: bool) -> Path:
    """Refuse an output path that cannot be written, or that would be mixed up."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise OutputError(f"output {p} is a directory: give a file name such as {p}/run.jsonl")
    if p.parent.exists() and not p.parent.is_dir():
        raise OutputError(f"output {p}: {p.parent} is a file, not a directory; choose another --out")
    if not p.parent.is_dir():
        raise OutputError(f"output directory {p.parent} does not exist: create it first (mkdir -p {p.parent})")
    if not os.access(p.parent, os.W_OK):
        raise OutputError(f"output directory {p.parent} is not writable: choose another --out")
    if p.exists() and p.stat().st_size > 0 and not resume:
        raise OutputError(f"output {p} already exists: pass --resume to continue it, or choose another --out")
    return p


class RecordWriter:
    """Appends records to a JSONL file, one durable line each."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        _cut_torn_tail(self.path)
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot open {self.path} for writing: {e.strerror}") from None

    def write(self, record: dict) -> None:
        data = (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]
        os.fsync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_records(path: str | Path) -> list[dict]:
    """Every complete record of a run file (a torn last line is ignored)."""
    p = Path(path).expanduser()
    data = read_user_file(p, "run file", OutputError, "a run file written by eager eval")
    lines = data.split(b"\n")
    out = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        last = n == len(lines)  # no newline after it: maybe torn
        try:
            rec = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            if last:
                break
            raise OutputError(f"{p}, line {n}: not a JSON record; is this a run file of eager eval?") from None
        if not isinstance(rec, dict) or "id" not in rec or "phase" not in rec:
            raise OutputError(f"{p}, line {n}: not a record of eager eval (no id or phase)")
        out.append(rec)
    return out


def final_records(records: list[dict]) -> list[dict]:
    """The last ``final`` record of each prompt, in first-seen order."""
    by_id: dict[str, dict] = {}
    for r in records:
        if r.get("phase") == "final":
            by_id[r["id"]] = r
    return list(by_id.values())


def run_doc(result: RunResult) -> dict:
    """The run's JSON document plus each sequence's top-2 tokens (to continue it later)."""
    doc = result.to_json()
    for d, s in zip(doc["sequences"], result.sequences):
        d["top2"] = [list(t) for t in (s.top2 or ())]
    return doc


def result_from_doc(doc: dict) -> RunResult:
    """Read back ``run_doc`` with the top-2 tokens restored."""
    from dataclasses import replace

    r = RunResult.from_json(doc)
    seqs = tuple(
        replace(s, top2=tuple(tuple(int(x) for x in t) for t in d.get("top2", ())) or None)
        for s, d in zip(r.sequences, doc["sequences"])
    )
    return replace(r, sequences=seqs)


def _cut_torn_tail(path: Path) -> None:
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if data and not data.endswith(b"\n"):
                f.truncate(data.rfind(b"\n") + 1)
    except FileNotFoundError:
        pass
