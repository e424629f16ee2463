"""`eager eval` on the real llama.cpp (tiny GGUF) in a subprocess: SIGINT/SIGTERM, then --resume."""

import json
import signal
import subprocess
import sys

import pytest
from eval_files import records_without_times, start, wait_for_lines, write_items

N_ITEMS = 40


@pytest.fixture
def data(tmp_path):
    return write_items(tmp_path / "d.jsonl", N_ITEMS)


def eval_cmd(data, out, tiny_gguf, *extra):
    return [sys.executable, "-m", "eager_local", "eval", str(data), "--model", str(tiny_gguf),
            "--n-ctx", "4096", "--threads", "1", "--shots", "1", "--method", "eager-adapt",
            "--no-prefix-cache",  # cold prompts: warm ones match only up to batch-shape rounding
            "--theta", "2.0", "-M", "4", "-T", "24", "--concurrency", "1", "--out", str(out), *extra]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_then_resume_matches_an_uninterrupted_run(tmp_path, tiny_gguf, data, sig, code):
    whole = tmp_path / "whole.jsonl"
    r = subprocess.run(eval_cmd(data, whole, tiny_gguf), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    cut = tmp_path / "cut.jsonl"
    p = start(eval_cmd(data, cut, tiny_gguf))
    wait_for_lines(cut, 3)
    p.send_signal(sig)
    out, err = p.communicate(timeout=60)
    assert p.returncode == code, err
    assert "--resume" in err and "Traceback" not in err
    text = cut.read_text()
    assert text.endswith("\n")
    n_cut = text.count("\n")
    assert 3 <= n_cut < 2 * N_ITEMS  # stopped part-way, every line whole
    [json.loads(l) for l in text.splitlines()]
    r = subprocess.run(eval_cmd(data, cut, tiny_gguf, "--resume"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert records_without_times(cut) == records_without_times(whole)


def _interrupt_when(cmd, path, lines):
    """Start ``cmd``; send SIGINT once ``path`` holds ``lines`` records; return the exit code."""
    p = start(cmd)
    wait_for_lines(path, lines, p)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert "Traceback" not in err, err
    return p.returncode, err


def test_concurrent_eval_interrupted_again_and_again_loses_and_repeats_nothing(tmp_path, tiny_gguf, data):
    """Four prompts decode together; SIGINT lands at several points, each run resumes the
    file; in the end every prompt has exactly one init and one final record."""
    cut = tmp_path / "cut.jsonl"
    counts = []
    for i, lines in enumerate((3, 25, 50)):
        extra = ("--concurrency", "4") + (("--resume",) if i else ())
        code, err = _interrupt_when(eval_cmd(data, cut, tiny_gguf, *extra), cut, lines)
        text = cut.read_text()
        assert text.endswith("\n")
        [json.loads(l) for l in text.splitlines()]  # every line whole
        counts.append(text.count("\n"))
        if code == 0:  # finished before the signal came
            break
        assert code == 130 and "--resume" in err
    r = subprocess.run(eval_cmd(data, cut, tiny_gguf, "--concurrency", "4", "--resume"),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    keys = [(json.loads(l)["phase"], json.loads(l)["id"]) for l in cut.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == 2 * N_ITEMS
    assert counts == sorted(counts) and counts[0] >= 3
