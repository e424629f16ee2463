"""`eager sweep` end to end on the real llama.cpp (tiny GGUF): run files, table, verdict,
PNG and SVG; interrupted by SIGINT and resumed, it ends with the same records."""

import json
import signal
import subprocess
import sys

import pytest
from eval_files import records_without_times, start, wait_for_lines, write_items

N_ITEMS = 6
FILES = ("parallel.jsonl", "eager-theta0.2.jsonl", "eager-theta0.6.jsonl")


@pytest.fixture
def data(tmp_path):
    return write_items(tmp_path / "d.jsonl", N_ITEMS)


def sweep_cmd(data, out, tiny_gguf, *extra):
    return [sys.executable, "-m", "eager_local", "sweep", str(data), "--model", str(tiny_gguf),
            "--no-prefix-cache",  # cold prompts: warm ones match only up to batch-shape rounding
            "--n-ctx", "4096", "--threads", "1", "--shots", "1", "--theta", "0.2,0.6",
            "-M", "4", "-T", "16", "--concurrency", "1", "--out", str(out), *extra]


def test_sweep_end_to_end_then_interrupted_and_resumed(tmp_path, tiny_gguf, data):
    whole = tmp_path / "whole"
    r = subprocess.run(sweep_cmd(data, whole, tiny_gguf), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name in FILES:
        recs = [json.loads(l) for l in (whole / name).read_text().splitlines()]
        assert len(recs) == N_ITEMS
        assert all("lowest_window" in s for rec in recs for s in rec["sequences"])
    assert (whole / "sweep.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "<svg" in (whole / "sweep.svg").read_text()
    for words in ("generated tokens / prompt", "Δ Pass@k", "DeepConf@k", "Cons@k weighted",
                  "Pass@k against parallel's curve", "eager θ=0.2", "eager θ=0.6"):
        assert words in r.stdout, words
    seqs = [l for l in r.stdout.splitlines() if l.startswith("│ sequences / prompt")][0]
    assert "4.00" in seqs  # parallel holds M

    cut = tmp_path / "cut"
    p = start(sweep_cmd(data, cut, tiny_gguf))
    first = cut / FILES[1]
    wait_for_lines(first, 1)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert not (cut / "sweep.png").exists()
    r = subprocess.run(sweep_cmd(data, cut, tiny_gguf), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "--resume" in r.stderr  # nothing is overwritten
    r = subprocess.run(sweep_cmd(data, cut, tiny_gguf, "--resume"), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    for name in FILES:
        assert records_without_times(cut / name) == records_without_times(whole / name), name
    assert (cut / "sweep.svg").exists()


def test_sweep_refuses_bad_thetas_in_one_line(tmp_path, data):
    r = subprocess.run([sys.executable, "-m", "eager_local", "sweep", str(data), "--theta", "0.5,x",
                        "--out", str(tmp_path / "o")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "--theta" in r.stderr and "'x'" in r.stderr


def test_a_sweep_with_adapt_resumes_with_one_more_theta(tmp_path, tiny_gguf, data):
    out = tmp_path / "s"
    cmd = sweep_cmd(data, out, tiny_gguf, "--adapt")
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    before = (out / "parallel.jsonl").read_text()
    more = [("0.4,0.2,0.6" if a == "0.2,0.6" else a) for a in cmd] + ["--resume"]
    r = subprocess.run(more, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert (out / "parallel.jsonl").read_text() == before  # nothing decoded again
    adapt = [json.loads(l) for l in (out / "eager-adapt-theta0.2.jsonl").read_text().splitlines()]
    assert [r["phase"] for r in adapt] == ["init"] * N_ITEMS + ["final"] * N_ITEMS
    eager = {json.loads(l)["id"]: json.loads(l) for l in (out / "eager-theta0.2.jsonl").read_text().splitlines()}
    assert all(r["run"] == eager[r["id"]]["run"] for r in adapt[:N_ITEMS])  # phase 1 taken from the eager run
    assert len((out / "eager-theta0.4.jsonl").read_text().splitlines()) == N_ITEMS
    assert "eager θ=0.4" in r.stdout
