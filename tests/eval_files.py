"""Small eval files for the end-to-end tests, records compared without their times, and
starting an ``eager`` command to interrupt it once its output holds some records."""

from __future__ import annotations

import json
import signal
import subprocess
import time
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


def records_without_times(path: Path) -> list[dict]:
    """Every record of a JSONL file, without its times."""
    return [without_times(json.loads(line)) for line in path.read_text().splitlines()]


def default_signals() -> None:
    """``preexec_fn``: start as a terminal would. A test run launched in the background by
    a script has SIGINT ignored, and eager (rightly) keeps an ignored signal ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def start(cmd, **kw) -> subprocess.Popen:
    """``cmd`` started as from a terminal, its output captured as text."""
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_signals, **kw)


def wait_for_lines(path: Path, lines: int, proc: subprocess.Popen | None = None, timeout_s: float = 120) -> None:
    """Return once ``path`` holds ``lines`` lines (or ``proc`` has ended, or after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and (proc is None or proc.poll() is None) and (
            not path.exists() or path.read_text().count("\n") < lines):
        time.sleep(0.01)
