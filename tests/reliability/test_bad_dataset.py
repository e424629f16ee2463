"""The dataset and output-path rows of docs/bad-input.md, through `eager eval` in-process.

Note on the read-only directory: as root every directory is writable
(``os.access`` says so and writes succeed), so that row is tried with
``chmod 555`` only when not root; the path-under-a-file row is the one that
fails for every user.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from eager_local.cli import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"id": "a", "question": "the cat has 2", "answer": "2"}


def run_eval(capsys, data, out, *extra, model) -> tuple[int, str]:
    argv = ["eval", str(data), "--out", str(out), "--model", str(model), "--threads", "1",
            "-T", "4", "-M", "2", "--shots", "1", *map(str, extra)]
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    return code, capsys.readouterr().err


def one_line(code, err, *fragments):
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for f in fragments:
        assert f in lines[0], lines[0]


def write(path: Path, content) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def jsonl(*objs) -> str:
    return "".join(json.dumps(o) + "\n" for o in objs)


DATA_CASES = [
    ("dataset-malformed-json", jsonl(GOOD) + '{"id": "b", "question": \n', ["line 2", "not valid JSON"]),
    ("dataset-missing-field", jsonl({"id": "a", "question": "q"}), ["line 1", "missing field 'answer'", "--field"]),
    ("dataset-duplicate-id", jsonl(GOOD, GOOD), ["line 2", "duplicate id 'a'"]),
    ("dataset-empty", "", ["holds no items"]),
    ("dataset-not-utf8", b'{"id": "a", "question": "caf\xe9", "answer": "1"}\n', ["line 1", "not UTF-8"]),
    ("dataset-not-object", "[1, 2]\n", ["line 1", "expected a JSON object"]),
    ("dataset-empty-question", jsonl({"id": "a", "question": "", "answer": "1"}), ["'question'", "non-empty"]),
]


@pytest.mark.parametrize("case, content, fragments", DATA_CASES, ids=[c[0] for c in DATA_CASES])
def test_dataset_file(capsys, tmp_path, tiny_gguf, case, content, fragments):
    data = write(tmp_path / f"{case}.jsonl", content)
    code, err = run_eval(capsys, data, tmp_path / "out.jsonl", model=tiny_gguf)
    one_line(code, err, "dataset: ", f"{case}.jsonl", *fragments)
    assert not (tmp_path / "out.jsonl").exists()


def test_dataset_missing(capsys, tmp_path, tiny_gguf):
    code, err = run_eval(capsys, tmp_path / "nope.jsonl", tmp_path / "out.jsonl", model=tiny_gguf)
    one_line(code, err, "dataset: ", "nope.jsonl not found")


def test_dataset_is_a_directory(capsys, tmp_path, tiny_gguf):
    code, err = run_eval(capsys, tmp_path, tmp_path / "out.jsonl", model=tiny_gguf)
    one_line(code, err, "dataset: ", "is a directory")


def test_bad_field_option(capsys, tmp_path, tiny_gguf):
    data = write(tmp_path / "d.jsonl", jsonl(GOOD))
    code, err = run_eval(capsys, data, tmp_path / "out.jsonl", "--field", "question", model=tiny_gguf)
    one_line(code, err, "dataset: ", "--field 'question'", "OURS=THEIRS")


def test_limit_below_one(capsys, tmp_path, tiny_gguf):
    data = write(tmp_path / "d.jsonl", jsonl(GOOD))
    code, err = run_eval(capsys, data, tmp_path / "out.jsonl", "--limit", "0", model=tiny_gguf)
    one_line(code, err, "--limit must be at least 1")


@pytest.fixture
def data(tmp_path):
    return write(tmp_path / "d.jsonl", jsonl(GOOD, {"id": "b", "question": "the dog has 3", "answer": "3"}))


def test_output_in_a_missing_directory(capsys, tmp_path, data, tiny_gguf):
    code, err = run_eval(capsys, data, tmp_path / "nodir" / "out.jsonl", model=tiny_gguf)
    one_line(code, err, "output: ", "nodir does not exist", "mkdir -p")


def test_output_under_a_regular_file(capsys, tmp_path, data, tiny_gguf):
    """Fails for root too (a read-only directory does not, see the module docstring)."""
    write(tmp_path / "notes.txt", "x")
    code, err = run_eval(capsys, data, tmp_path / "notes.txt" / "out.jsonl", model=tiny_gguf)
    one_line(code, err, "output: ", "notes.txt is a file, not a directory")


def test_output_is_a_directory(capsys, tmp_path, data, tiny_gguf):
    code, err = run_eval(capsys, data, tmp_path, model=tiny_gguf)
    one_line(code, err, "output: ", "is a directory", "run.jsonl")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into a chmod 555 directory")
def test_output_in_a_read_only_directory(capsys, tmp_path, data, tiny_gguf):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        assert not os.access(ro, os.W_OK)
        code, err = run_eval(capsys, data, ro / "out.jsonl", model=tiny_gguf)
        one_line(code, err, "output: ", "not writable")
    finally:
        ro.chmod(0o755)


def test_existing_output_and_mismatched_resume(capsys, tmp_path, data, tiny_gguf):
    out = tmp_path / "out.jsonl"
    code, err = run_eval(capsys, data, out, model=tiny_gguf)
    assert code == 0, err
    before = out.read_bytes()
    code, err = run_eval(capsys, data, out, model=tiny_gguf)
    one_line(code, err, "output: ", "already exists", "--resume")
    code, err = run_eval(capsys, data, out, "--resume", "--theta", "0.5", model=tiny_gguf)
    one_line(code, err, "output: ", "different settings", "same options")
    assert out.read_bytes() == before  # neither refusal touched the file


def test_rows_are_in_the_table():
    text = (ROOT / "docs" / "bad-input.md").read_text(encoding="utf-8")
    ids = [c[0] for c in DATA_CASES] + [
        "dataset-missing", "dataset-directory", "field-bad", "limit-zero", "output-missing-dir",
        "output-under-file", "output-is-dir", "output-read-only", "output-exists", "resume-mismatch",
    ]
    missing = [i for i in ids if f"`{i}`" not in text]
    assert not missing, missing
