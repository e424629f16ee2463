"""Invariants of `eager run` on the embedded default model (Gemma-3-270M), not exact text."""

import json
import subprocess
import sys

import pytest

from eager_local.cli import main

pytestmark = pytest.mark.slow

PROMPT = "Tom had 15 marbles. He lost 6. How many are left?"


def run_json(capsys, *args):
    assert main(["run", "--json", *args]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def eager_docs(tmp_path_factory):
    """The done-means command, twice, in fresh processes (as a user runs it)."""
    out = []
    for _ in range(2):
        p = subprocess.run(
            [sys.executable, "-m", "eager_local", "run", "--json", "--method", "eager", "--theta", "1.0",
             "--max-seqs", "8", "--seed", "1", "--max-new-tokens", "64", PROMPT],
            capture_output=True, text=True, timeout=600,
        )
        assert p.returncode == 0, p.stderr
        out.append(json.loads(p.stdout))
    return out


def test_eager_branches_within_the_cap(eager_docs):
    doc = eager_docs[0]
    assert set(doc) >= {"model", "params", "sequences", "branches", "stats"}
    assert set(doc["model"]) >= {"alias", "path", "sha256"} and doc["model"]["alias"] == "gemma3-270m"
    assert doc["params"]["seed"] == 1 and doc["params"]["theta"] == 1.0
    n = doc["stats"]["n_sequences"]
    assert 1 < n <= 8 and n == len(doc["sequences"])
    for b in doc["branches"]:
        assert b["entropy"] >= 1.0
    for s in doc["sequences"]:
        assert set(s) >= {"id", "parent", "fork_pos", "tokens", "entropies", "text", "finish_reason"}
        assert len(s["tokens"]) == len(s["entropies"])
        assert s["finish_reason"] in ("eog", "stop", "length", "context_full")
        if s["parent"] is None:
            assert s["fork_pos"] == 0
        else:
            parent = doc["sequences"][s["parent"]]
            assert s["tokens"][: s["fork_pos"]] == parent["tokens"][: s["fork_pos"]]
            assert s["tokens"][s["fork_pos"]] != parent["tokens"][s["fork_pos"]]
    tree = sum(len(s["tokens"]) - s["fork_pos"] for s in doc["sequences"])
    assert doc["stats"]["generated_tokens"] == tree


def test_same_command_twice_gives_identical_sequences(eager_docs):
    a, b = eager_docs
    assert [s["tokens"] for s in a["sequences"]] == [s["tokens"] for s in b["sequences"]]
    assert a["branches"] == b["branches"]


def test_parallel_decodes_the_prompt_once(capsys):
    doc = run_json(capsys, "--method", "parallel", "--max-seqs", "8", "--max-new-tokens", "32", "--seed", "3", PROMPT)
    st = doc["stats"]
    assert st["n_sequences"] == 8 == len(doc["sequences"])
    assert all(s["parent"] is None for s in doc["sequences"])
    # prompt once + every generated token except each sequence's last (never fed back)
    assert st["prompt_tokens"] + st["generated_tokens"] - 8 <= st["decoded_tokens"]
    assert st["decoded_tokens"] <= st["prompt_tokens"] + st["generated_tokens"]
    assert st["decoded_tokens"] < 2 * st["prompt_tokens"] + st["generated_tokens"]


def test_forks_from_a_long_prompt_share_its_cells(capsys):
    long_prompt = " ".join(f"Item {i}: a box holds {i % 7 + 2} apples." for i in range(60)) + " How many apples?"
    doc = run_json(capsys, "--method", "parallel", "--max-seqs", "8", "--max-new-tokens", "16", "--seed", "0", long_prompt)
    st = doc["stats"]
    assert st["prompt_tokens"] > 450
    suffixes = sum(len(s["tokens"]) for s in doc["sequences"])
    assert st["peak_kv_cells"] <= st["prompt_tokens"] + suffixes
    assert st["peak_kv_cells"] < 2 * st["prompt_tokens"]  # far from 8 copies of the prompt


def test_greedy_and_human_output(capsys):
    assert main(["run", "--method", "greedy", "--max-new-tokens", "12", PROMPT]) == 0
    out = capsys.readouterr().out
    assert "seq 0" in out and "1 sequences" in out and "tok/s" in out
