"""Small eval files for the end-to-end tests, and records compared without their times."""

from __future__ import annotations

import json
from pathlib import Path


def write_items(path: Path, n: int) -> Path:
    """A JSONL dataset of ``n`` numeric items the tiny GGUF can be asked about."""
    with path.open("w") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"i{i}", "question": f"the cat has {i} and {i + 2}", "answer": str(i)}) + "\n")
    return path


def without_times(record: dict) -> dict:
    """The record with its wall-clock figures removed (they differ between any two runs)."""
    for k in ("wall_s", "check_s"):
        record.pop(k)
    record.get("init", {}).pop("wall_s", None)
    record["run"]["stats"].pop("wall_s")
    record["run"]["stats"].pop("decode_s")
    return record
