"""`eager eval` end to end on the embedded default model (slow: minutes on two cores)."""

import json
from pathlib import Path

import pytest

from eager_local.cli import main

SHARED = Path(__file__).resolve().parents[2] / "../shared/data"
SINGLEOP = SHARED / "mawps_singleop_dev.jsonl"

pytestmark = pytest.mark.slow


@pytest.mark.skipif(not SINGLEOP.exists(), reason="../shared/data absent")
def test_singleop_eager_full_and_report(tmp_path, capsys):
    out = tmp_path / "ef.jsonl"
    rc = main(["eval", str(SINGLEOP), "--limit", "2", "--method", "eager-full", "--theta", "0.5",
               "-M", "4", "-T", "24", "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    recs = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["phase"] for r in recs] == ["init", "init", "final", "final"]
    for r in recs:
        assert 1 <= r["n_sequences"] <= 4 + 8
        assert r["model"]["alias"] == "gemma3-270m" and len(r["model"]["sha256"]) == 64
        assert r["settings"]["stop"][:2] == ["\nQuestion:", "\n\n"]
        for s in r["sequences"]:
            assert "Question:" not in s["text"]  # cut at the stop string
    assert main(["report", str(out), "--plot", str(tmp_path / "r.png")]) == 0
    assert "gemma3-270m" in capsys.readouterr().out and (tmp_path / "r.png").exists()


def test_humaneval_through_the_sandbox(tmp_path, capsys):
    out = tmp_path / "he.jsonl"
    rc = main(["eval", "humaneval", "--limit", "1", "--method", "parallel", "-M", "2", "-T", "48",
               "--out", str(out)])
    assert rc == 0, capsys.readouterr().err
    (rec,) = [json.loads(l) for l in out.read_text().splitlines()]
    assert rec["id"] == "HumanEval/0" and rec["dataset"]["kind"] == "code"
    for s in rec["sequences"]:
        assert s["check"] in ("ok", "failed", "timeout", "memory", "output", "crashed", "refused")
        assert s["correct"] == (s["check"] == "ok")
