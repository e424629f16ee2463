"""Issue 10's cases that are not crashes, tried in-process: lost records, unbounded
reads, run files and reports, checks before the work, misleading results.

Each case id is a row of docs/bad-input.md. The CLI cases go through
``eager_local.cli.main``; eval cases run on the tiny GGUF or on the scripted fake
engine (tests/unit/test_eval_runner.py's helpers).
"""

from __future__ import annotations

import json
import math
import socket
import threading
from pathlib import Path

import pytest

from eager_local import load
from eager_local.cli import main
from eager_local.errors import EagerError, PromptError
from eager_local.evaluation.datasets import load_jsonl
from eager_local.evaluation.eval_record import EvalRecord
from eager_local.evaluation.records import RunFileLock, read_records
from eager_local.files.run_file import RunFileError, check_run_doc

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad-input.md"


def cli(capsys, *argv) -> tuple[int, str, str]:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def refused(capsys, *argv, words=()) -> str:
    code, _, err = cli(capsys, *argv)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    for w in words:
        assert w in lines[0], lines[0]
    return lines[0]


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text("".join(json.dumps({"id": f"q{i}", "question": f"the cat {i}", "answer": str(i)}) + "\n"
                         for i in range(4)))
    return p


def eval_args(data, out, model, *extra):
    return ["eval", data, "--out", out, "-m", model, "-T", "6", "-M", "2", "--shots", "0", "--n-ctx", "512",
            "--threads", "1", *extra]


@pytest.fixture
def run_file(tmp_path, data, tiny_gguf, capsys):
    out = tmp_path / "run.jsonl"
    code, _, err = cli(capsys, *eval_args(data, out, tiny_gguf))
    assert code == 0, err
    return out


# ---------------------------------------------------------------- class 2: --resume loses nothing

def test_resume_keeps_a_whole_last_record_without_newline(run_file, data, tiny_gguf, capsys):
    """`resume-last-line-no-newline`: it was cut and never regenerated."""
    text = run_file.read_text()
    run_file.write_text(text.rstrip("\n"))
    code, _, err = cli(capsys, *eval_args(data, run_file, tiny_gguf, "--resume"))
    assert code == 0, err
    recs = read_records(run_file)
    assert [r.id for r in recs] == ["q0", "q1", "q2", "q3"]
    assert run_file.read_text() == text


def test_resume_cuts_a_torn_line_and_says_so(run_file, data, tiny_gguf, capsys):
    """`resume-torn-line`: only a line that is not a record is cut; kept in PATH.torn, named on stderr."""
    lines = run_file.read_text().splitlines()
    run_file.write_text("\n".join(lines[:3]) + "\n" + lines[3][:100])
    code, _, err = cli(capsys, *eval_args(data, run_file, tiny_gguf, "--resume"))
    assert code == 0, err
    assert "cut 100 bytes of a torn last line" in err
    assert Path(str(run_file) + ".torn").read_text() == lines[3][:100] + "\n"
    assert [r.id for r in read_records(run_file)] == ["q0", "q1", "q2", "q3"]


# ---------------------------------------------------------------- classes 3 and 10: special files

@pytest.mark.parametrize("case, argv, words", [
    ("report-dev-zero", ["report", "/dev/zero"], ["is a device"]),
    ("eval-dev-zero", ["eval", "/dev/zero", "--out", "{tmp}/o.jsonl"], ["dataset", "is a device"]),
    ("out-dev-full", ["eval", "{data}", "--out", "/dev/full"], ["output", "is a device"]),
    ("out-dev-null", ["eval", "{data}", "--out", "/dev/null"], ["output", "is a device"]),
    ("prompt-file-dev-zero", ["run", "-f", "/dev/zero"], ["prompt file", "is a device"]),
    ("exemplars-dev-zero", ["eval", "{data}", "--out", "{tmp}/o.jsonl", "--exemplars", "/dev/zero"],
     ["--exemplars", "is a device"]),
    ("symlink-loop-input", ["report", "{tmp}/loop1"], ["symlink loop"]),
    ("symlink-loop-output", ["eval", "{data}", "--out", "{tmp}/loop1"], ["symlink loop"]),
    ("socket-input", ["report", "{tmp}/sock"], ["is a socket"]),
    ("tilde-user-model", ["run", "the cat", "-m", "~nosuchuser/m.gguf"], ["no user 'nosuchuser'"]),
    ("tilde-user-out", ["eval", "{data}", "--out", "~nosuchuser/o.jsonl"], ["no user 'nosuchuser'"]),
    ("model-empty-name", ["run", "the cat", "-m", ""], ["--model is empty"]),
])
def test_special_paths(capsys, tmp_path, data, case, argv, words):
    (tmp_path / "loop1").symlink_to(tmp_path / "loop2")
    (tmp_path / "loop2").symlink_to(tmp_path / "loop1")
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(tmp_path / "sock"))
    try:
        argv = [a.format(tmp=tmp_path, data=data) for a in argv]
        refused(capsys, *argv, words=words)
    finally:
        s.close()


def test_tilde_user_in_models_toml_and_home(capsys, monkeypatch, _isolated_home):
    """`tilde-user-toml`, `tilde-user-home`."""
    toml = _isolated_home / "config" / "models.toml"
    toml.parent.mkdir(parents=True, exist_ok=True)
    toml.write_text('[models.x]\npath = "~nosuchuser/m.gguf"\n')
    refused(capsys, "run", "the cat", "-m", "x", words=["model:", "no user 'nosuchuser'"])
    monkeypatch.setenv("EAGER_LOCAL_HOME", "~nosuchuser/home")
    refused(capsys, "run", "the cat", words=["EAGER_LOCAL_HOME", "no user 'nosuchuser'"])


# ---------------------------------------------------------------- class 4: hangs

def test_overlong_prompt_is_refused_before_tokenizing_all_of_it(tiny_gguf):
    """`prompt-huge`: 1 MB of text is refused after tokenizing prefixes only."""
    model = load(str(tiny_gguf), n_ctx=256, n_threads=1, hash_file=False)
    seen = []
    real = model.engine.prompt_tokens
    model.engine.prompt_tokens = lambda text: seen.append(len(text)) or real(text)
    try:
        with pytest.raises(PromptError, match="context holds 256"):
            model.run("the cat sat on the mat " * 45_000)
    finally:
        model.close()
    assert seen and max(seen) <= 4 * 256 * 4


# ---------------------------------------------------------------- class 7: one bad item

@pytest.mark.parametrize("concurrency", ["1", "3"])
def test_an_item_longer_than_the_context_is_recorded_and_the_eval_goes_on(tmp_path, tiny_gguf, capsys,
                                                                          concurrency):
    """`item-too-long`: recorded as failed with its reason; --resume does not retry it
    (one prompt at a time, or decoded together with the others)."""
    data = tmp_path / "d.jsonl"
    items = [{"id": "a", "question": "the cat", "answer": "1"},
             {"id": "long", "question": "the cat sat " * 400, "answer": "1"},
             {"id": "c", "question": "the dog", "answer": "2"}]
    data.write_text("".join(json.dumps(x) + "\n" for x in items))
    out = tmp_path / "o.jsonl"
    code, stdout, err = cli(capsys, *eval_args(data, out, tiny_gguf, "--n-ctx", "256",
                                               "--concurrency", concurrency))
    assert code == 0, err
    assert "item 'long' failed" in err and "the context holds 256" in err
    recs = {r.id: r for r in read_records(out)}
    assert set(recs) == {"a", "long", "c"}
    assert recs["long"].error and recs["long"].n_sequences == 0 and recs["a"].n_sequences > 0
    before = out.read_bytes()
    code, _, err = cli(capsys, *eval_args(data, out, tiny_gguf, "--n-ctx", "256", "--resume"))
    assert code == 0 and out.read_bytes() == before  # nothing left to do, nothing retried


@pytest.mark.parametrize("concurrency", ["1", "auto"])
def test_two_phase_eval_carries_a_failed_item_through(tmp_path, tiny_gguf, capsys, concurrency):
    data = tmp_path / "d.jsonl"
    data.write_text(json.dumps({"id": "long", "question": "the cat sat " * 400, "answer": "1"}) + "\n"
                    + json.dumps({"id": "b", "question": "the dog", "answer": "1"}) + "\n")
    out = tmp_path / "o.jsonl"
    code, _, err = cli(capsys, *eval_args(data, out, tiny_gguf, "--n-ctx", "256", "--method", "eager-full",
                                          "--concurrency", concurrency))
    assert code == 0, err
    final = [r for r in read_records(out) if r.phase == "final"]
    assert {r.id for r in final} == {"long", "b"} and next(r for r in final if r.id == "long").error


# ---------------------------------------------------------------- class 8: JSON Lines

def test_unicode_line_separators_inside_a_record(tmp_path):
    """`dataset-unicode-separators`: U+2028 / U+0085 / U+000C inside strings are not line breaks."""
    q = "first\u2028second\u0085third\x0cfourth"
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps({"id": "1", "question": q, "answer": "1"}, ensure_ascii=False) + "\r\n",
                 encoding="utf-8")
    ds = load_jsonl(p)
    assert [it.question for it in ds.items] == [q]


def test_json_error_message_reads_well(tmp_path, capsys):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "1", "question": "unterminated\n')
    line = refused(capsys, "eval", p, "--out", tmp_path / "o.jsonl", words=["line 1", "not valid JSON"])
    assert "at at" not in line


# ---------------------------------------------------------------- class 9: run files and reports

def _mutate(run_file: Path, change) -> Path:
    lines = [json.loads(ln) for ln in run_file.read_text().splitlines()]
    change(lines[1])
    run_file.write_text("".join(json.dumps(x, allow_nan=True) + "\n" for x in lines))
    return run_file


@pytest.mark.parametrize("case, change, words", [
    ("report-nan", lambda r: r.update(wall_s=math.nan), ["line 2", "wall_s", "not a number JSON allows"]),
    ("report-infinity", lambda r: r.update(pass_rate=math.inf), ["line 2", "not a number JSON allows"]),
    ("report-string-for-number", lambda r: r.update(n_sequences="4"), ["line 2", "n_sequences", "expected integer"]),
    ("report-missing-key", lambda r: r.pop("generated_tokens"), ["line 2", "generated_tokens: missing"]),
    ("report-bad-run-document", lambda r: r["run"]["sequences"][0].update(entropies=[]),
     ["line 2", "entropies", "entries for"]),
    ("report-bool-for-number", lambda r: r.update(correct=True), ["line 2", "correct", "expected integer"]),
])
def test_report_on_damaged_records(capsys, run_file, case, change, words):
    refused(capsys, "report", _mutate(run_file, change), words=["run file:", *words])


TURN = {"message": "the cat", "seq": None, "answer": None}
"""A conversation's turn not yet answered (eager_local/conversation.py)."""


def _doc(tiny_gguf):
    model = load(str(tiny_gguf), n_ctx=512, n_threads=1, hash_file=False)
    try:
        r = model.run("the cat", max_new_tokens=20, max_seqs=4, theta=0.3, record_candidates=2)
    finally:
        model.close()
    doc = r.to_json()
    assert len(doc["sequences"]) >= 2 and doc["branches"]
    return doc


@pytest.mark.parametrize("case, change, words", [
    ("load-nan", lambda d: d["sequences"][0]["entropies"].__setitem__(0, math.nan), ["not a number JSON allows"]),
    ("load-pieces-short", lambda d: d["sequences"][0].update(pieces=d["sequences"][0]["pieces"][:-1]),
     ["sequences[0].pieces", "entries for"]),
    ("load-unknown-child", lambda d: d["branches"][0].update(child=99), ["branches[0].child", "names no sequence"]),
    ("load-parent-cycle", lambda d: (d["sequences"][0].update(parent=1), d["sequences"][1].update(parent=0)),
     ["sequences[0].parent", "parent cycle"]),
    ("load-missing-key", lambda d: d.pop("stats"), ["stats: missing"]),
    ("load-bad-setting", lambda d: d["params"].update(top_p=7), ["params", "top_p"]),
    ("load-conversation-mode", lambda d: d.update(conversation={"mode": "dialog", "turns": [TURN]}),
     ["conversation.mode: 'dialog' is not one of chat, continue"]),
    ("load-conversation-unanswered", lambda d: d.update(conversation={"mode": "chat", "turns": [TURN, TURN]}),
     ["conversation.turns[0].seq: missing (an earlier turn needs its chosen answer)"]),
    ("load-conversation-not-text", lambda d: d.update(conversation={"mode": "chat", "turns": [{**TURN, "message": 5}]}),
     ["conversation.turns[0].message: expected str, got int 5"]),
    ("load-conversation-empty", lambda d: d.update(conversation={"mode": "continue", "turns": []}),
     ["conversation.turns: empty"]),
])
def test_loading_damaged_run_documents(tmp_path, tiny_gguf, case, change, words):
    from eager_local.files.run_export import load_run

    doc = _doc(tiny_gguf)
    change(doc)
    p = tmp_path / "run.json"
    p.write_text(json.dumps(doc, allow_nan=True))
    with pytest.raises(RunFileError) as e:
        load_run(p)
    line = e.value.one_line()
    assert "\n" not in line and line.startswith("run file:")
    for w in words:
        assert w in line, line


def test_run_document_round_trip_and_eval_record_round_trip(tiny_gguf, run_file):
    doc = _doc(tiny_gguf)
    check_run_doc(doc)
    lines = run_file.read_text().splitlines()
    for ln in lines:
        assert json.dumps(EvalRecord.from_json(json.loads(ln)).to_json(), ensure_ascii=False,
                          separators=(",", ":")) == ln  # the JSON written is unchanged


# ---------------------------------------------------------------- class 11: checks before the work

@pytest.mark.parametrize("case, argv, words", [
    ("report-plot-txt", ["report", "{run}", "--plot", "{tmp}/x.txt"], ["plot", "must end in .png"]),
    ("report-plot-dir", ["report", "{run}", "--plot", "{tmp}"], ["plot", "is a directory"]),
    ("report-plot-no-suffix", ["report", "{run}", "--plot", "{tmp}/chart"], ["must end in .png"]),
    ("bench-json-missing-dir", ["bench", "--json", "{tmp}/missing/b.json", "-m", "{model}"], ["does not exist"]),
    ("calibrate-plot-txt", ["calibrate", "{data}", "--plot", "{tmp}/h.txt", "-m", "{model}"], ["must end in .png"]),
    ("code-timeout-tiny", ["eval", "{data}", "--out", "{tmp}/o.jsonl", "--code-timeout", "1e-9"], ["--code-timeout"]),
    ("temperature-inf", ["run", "the cat", "--temperature", "inf"], ["finite number"]),
    ("prompt-style-chat-raw-model", ["eval", "{data}", "--out", "{tmp}/o.jsonl", "--prompt-style", "chat",
                                     "-m", "{model}"], ["--prompt-style chat needs a chat model"]),
])
def test_checked_before_the_model_loads(capsys, monkeypatch, tmp_path, data, run_file, tiny_gguf,
                                        case, argv, words):
    import eager_local.api as api

    def no_load(*a, **k):
        raise AssertionError("the model was loaded before the check")

    monkeypatch.setattr(api, "load", no_load)
    argv = [a.format(tmp=tmp_path, data=data, run=run_file, model=tiny_gguf) for a in argv]
    refused(capsys, *argv, words=words)


# ---------------------------------------------------------------- class 12: misleading results

def test_two_evals_cannot_write_one_out(capsys, tmp_path, data, tiny_gguf):
    """`out-locked`: the second eval on the same --out is refused while the first runs."""
    out = tmp_path / "o.jsonl"
    with RunFileLock(out):
        refused(capsys, *eval_args(data, out, tiny_gguf), words=["being written by another eager eval"])
    assert not out.exists()  # the lock's empty file does not outlive a refused run


def test_a_lock_is_released_when_the_eval_ends(capsys, tmp_path, data, tiny_gguf):
    out = tmp_path / "o.jsonl"
    assert cli(capsys, *eval_args(data, out, tiny_gguf))[0] == 0
    with RunFileLock(out):
        pass


def test_closed_model_refuses_with_one_line(tiny_gguf):
    model = load(str(tiny_gguf), n_ctx=256, n_threads=1, hash_file=False)
    model.close()
    with pytest.raises(EagerError, match="was closed"):
        model.run("the cat")
    model.close()  # twice is harmless


def test_close_from_another_thread_while_a_run_is_going(tiny_gguf):
    model = load(str(tiny_gguf), n_ctx=512, n_threads=1, hash_file=False)
    events = model.stream("the cat", max_new_tokens=30, max_seqs=2)
    next(events)
    errors = []

    def other():
        try:
            model.close()
        except EagerError as e:
            errors.append(e)

    t = threading.Thread(target=other)
    t.start()
    t.join()
    assert model.closed  # the suspended stream was finished first, then the engine freed
    with pytest.raises(StopIteration):
        next(events)


def test_every_case_is_in_the_table():
    text = DOC.read_text(encoding="utf-8")
    import inspect
    import sys

    here = inspect.getsource(sys.modules[__name__])
    process = (Path(__file__).parent / "test_hostile_process.py").read_text()
    import re

    ids = set(re.findall(r'\("([a-z0-9-]+)", ', here + process)) | set(re.findall(r"`([a-z0-9-]+)`", here + process))
    ids = {i for i in ids if "-" in i}
    missing = sorted(i for i in ids if f"`{i}`" not in text)
    assert not missing, f"add rows to {DOC}: {missing}"


def test_a_fork_by_hand_is_a_valid_run_document_and_a_bad_mark_is_named(tiny_gguf):
    doc = _doc(tiny_gguf)
    doc["branches"][0]["manual"] = True  # as a fork by hand writes it
    check_run_doc(doc)
    doc["branches"][0]["manual"] = "yes"
    with pytest.raises(RunFileError, match=r"branches\[0\]\.manual"):
        check_run_doc(doc)
