"""The run file: one JSON line per prompt, appended, flushed and fsynced as it finishes.

A line is written with a single ``os.write`` on an ``O_APPEND`` descriptor, so a
reader never sees half of one; if a process was killed mid-write anyway, the
torn tail (a last line that is not a whole record) is cut off, and kept in
``PATH.torn``, before the file is appended to again. A whole last record that
only lacks its newline is kept. ``RunFileLock`` keeps two evals off one file.
"""

from __future__ import annotations

import fcntl
import json
import os
import sys
from pathlib import Path

from ..errors import OutputError
from ..files.run_file import RunFileError, loads
from ..files.user_files import check_output_path, read_user_file, write_error
from ..result import RunResult
from .eval_record import EvalRecord


def check_output(path: str | Path, *, resume: bool) -> Path:
    """Refuse an output path that cannot be written, or that would be mixed up."""
    p = check_output_path(path, "output", "a file name such as run.jsonl")
    if p.exists() and p.stat().st_size > 0 and not resume:
        raise OutputError(f"output {p} already exists: pass --resume to continue it, or choose another --out")
    return p


class RunFileLock:
    """An exclusive lock on a run file for the whole eval, so two evals cannot both
    append to the same --out (taken before the model loads)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.created = not path.exists()
        try:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot open {path} for writing: {e.strerror}") from None
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self.fd)
            raise OutputError(f"{path} is being written by another eager eval: wait for it to finish, "
                              "or choose another --out") from None

    def close(self) -> None:
        if self.fd < 0:
            return
        if self.created and os.fstat(self.fd).st_size == 0:
            self.path.unlink(missing_ok=True)  # refused before any record: leave nothing behind
        os.close(self.fd)
        self.fd = -1

    def __enter__(self) -> "RunFileLock":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RecordWriter:
    """Appends records to a JSONL file, one durable line each."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        repair_tail(self.path)
        try:
            self.fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as e:
            raise OutputError(f"cannot open {self.path} for writing: {e.strerror}") from None

    def write(self, record: EvalRecord | dict) -> None:
        d = record.to_json() if isinstance(record, EvalRecord) else record
        data = (json.dumps(d, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                view = view[n:]
            os.fsync(self.fd)
        except OSError as e:
            raise write_error(self.path, "run file", e) from None

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "RecordWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_records(path: str | Path) -> list[EvalRecord]:
    """Every complete record of a run file, checked (a torn last line is ignored);
    ``RunFileError`` naming the file, the line and the first problem otherwise."""
    p = Path(path).expanduser()
    data = read_user_file(p, "run file", OutputError, "a run file written by eager eval")
    lines = data.split(b"\n")
    out = []
    for n, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        where = f"{p}, line {n}"
        try:
            obj = loads(raw, where)
        except RunFileError:
            if n == len(lines):  # no newline after it: torn by a kill mid-write
                break
            raise
        if not isinstance(obj, dict) or "id" not in obj or "phase" not in obj:
            raise RunFileError(f"{where}: not a record of eager eval (no id or phase)")
        out.append(EvalRecord.from_json(obj, where))
    return out


def final_records(records: list[EvalRecord]) -> list[EvalRecord]:
    """The last ``final`` record of each prompt, in first-seen order."""
    by_id: dict[str, EvalRecord] = {}
    for r in records:
        if r.phase == "final":
            by_id[r.id] = r
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


def repair_tail(path: Path) -> None:
    """Before appending: a last line without its newline is completed when it is a
    whole record, and cut when it is not (a write torn by a kill); the cut bytes are
    kept in ``PATH.torn`` and named on standard error, so nothing vanishes unseen."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return
            start = data.rfind(b"\n") + 1
            tail = data[start:]
            try:
                EvalRecord.from_json(loads(tail, "last line"))
                f.write(b"\n")  # a whole record that only lacked its newline
                return
            except RunFileError:
                pass
            torn = path.with_name(path.name + ".torn")
            with open(torn, "ab") as keep:
                keep.write(tail + b"\n")
            f.truncate(start)
            print(f"note: {path}: cut {len(tail)} bytes of a torn last line (kept in {torn})", file=sys.stderr)
    except FileNotFoundError:
        pass
    except OSError as e:
        raise write_error(path, "run file", e) from None
