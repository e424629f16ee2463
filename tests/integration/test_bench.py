"""``eager bench`` end to end on the tiny GGUF: every section runs and the JSON holds sane figures.

Speed is not asserted (the bench prints ratios); this checks the plumbing.
"""

import json

import pytest

from eager_local.cli import main

KEYS = (
    "overhead_share_m32", "speedup_eager_vs_parallel_wall", "speedup_parallel_vs_highlevel",
    "speedup_eager_vs_highlevel", "token_ratio_eager_vs_parallel", "passk_parallel",
    "passk_eager", "peak_kv_cells_m32", "overhead_share_m32_tau12", "speedup_backend_sampling_m32",
    "overhead_share_m32_host", "overhead_share_m32_tau12_host", "speedup_eval_concurrency_eager",
    "speedup_eval_concurrency_parallel", "speedup_prefix_sharing_eager", "speedup_prefix_sharing_parallel",
    "eager_vs_parallel_wall_ratio_auto", "eager_vs_parallel_token_ratio_auto",
    "overhead_share_m32_open", "overhead_share_m32_open_tau12", "host_rows_speedup_open",
    "host_rows_speedup_open_tau12",
    "speedup_prefix_cache_warm", "speedup_prefix_cache_warm_vs_llama",
)


@pytest.fixture
def data(tmp_path):
    path = tmp_path / "singleop.jsonl"
    rows = [{"id": f"q{i}", "question": f"Tom has {i + 2} apples and gets 3 more. How many apples?",
             "answer": str(i + 5)} for i in range(5)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_quick_bench_writes_every_figure(tiny_gguf, data, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--quick", "--model", str(tiny_gguf), "--data", str(data), "--json", str(out),
               "--items", "2", "--max-seqs", "4", "--max-new-tokens", "8", "--steps", "3",
               "--rounds", "1", "--calibration-items", "2", "--long-prompt-tokens", "60",
               "--target-seqs", "2", "--threads", "2"])
    assert rc == 0
    table = capsys.readouterr().out
    for section in ("1-2", "S ", "3 ", "4 ", "5 ", "6 ", "P "):
        assert f"\n{section}" in table
    doc = json.loads(out.read_text())
    for k in KEYS:
        assert doc[k] is not None, k
    assert 0 <= doc["overhead_share_m32"] < 1
    for k in ("speedup_eager_vs_parallel_wall", "speedup_parallel_vs_highlevel",
              "speedup_eager_vs_highlevel", "token_ratio_eager_vs_parallel"):
        assert doc[k] > 0
    assert 0 <= doc["passk_parallel"] <= 1 and 0 <= doc["passk_eager"] <= 1
    d = doc["details"]
    assert [s["M"] for s in d["shapes"]] == [1, 4, 8]  # 1, 8 and M, sorted
    mem = d["memory"]
    # forked sequences share the prompt: peak cells far below M × (prompt + suffix)
    assert mem["context_full"] == 0
    assert mem["prompt_tokens"] < doc["peak_kv_cells_m32"] <= mem["prompt_tokens"] + 4 * mem["suffix_tokens"]
    assert doc["peak_kv_cells_m32"] < mem["naive_kv_cells"]
    e = d["eager"]
    assert e["items"] == 2 and 1 <= e["seqs_per_prompt_eager"] <= 4
    t = d["throughput"]
    assert t["items"] == 5  # all the file holds (16 wanted)
    for method, M in (("eager", 16), ("parallel", 8)):
        m = t[method]
        assert m["max_seqs"] == M and m["speedup"] > 0
        assert m["one"]["generated_tokens"] > 0 and m["auto"]["generated_tokens"] > 0
        assert m["auto_unshared"]["generated_tokens"] > 0 and m["sharing_speedup"] > 0
        assert 0 <= m["differing_prompts"] <= 5
    # section S: the old path (full logits) and the new (backend top-N) at τ 0.6 and 1.2
    paths = {(r["path"], r["tau"]): r for r in d["sampling"] if r["prompt"] == "mawps"}
    assert set(paths) == {(p, t) for p in ("host", "backend") for t in (0.6, 1.2)}
    assert all(r["M"] == 4 and r["steps_measured"] > 0 for r in paths.values())
    assert paths[("host", 0.6)]["inexact_rows"] is None and paths[("host", 0.6)]["top_n"] == 0
    assert 0 <= paths[("backend", 1.2)]["inexact_rows"] <= 1 and paths[("backend", 1.2)]["top_n"] > 0
    assert doc["overhead_share_m32"] == paths[("backend", 0.6)]["overhead_share"]
    assert "\nS " in table
    # the open-ended prompt on the host path, with the CPU per row of both host paths
    story = {r["tau"]: r for r in d["sampling"] if r["prompt"] == "open"}
    assert set(story) == {0.6, 1.2} and all(r["path"] == "host" for r in story.values())
    assert all(r["row_us"] > 0 and r["row_us_reference"] > 0 for r in story.values())
    assert all(r["row_us"] > 0 for (p, _), r in paths.items() if p == "host")
    assert doc["overhead_share_m32_open"] == story[0.6]["overhead_share"]
    assert doc["host_rows_speedup_open"] == pytest.approx(story[0.6]["row_us_reference"] / story[0.6]["row_us"])
    assert "open   host" in table and "Once upon a time" in table
    p = d["prefix_cache"]  # three requests on one history: the later two find it cached
    assert p["cached_tokens"][0] == 0 and min(p["cached_tokens"][1:]) > 0.9 * p["prompt_tokens"][0]
    assert all(0 < f <= t for f, t in zip(p["ttft_s"], p["total_s"]))


def test_bench_prefix_cache_section_alone(tiny_gguf, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert main(["bench", "--only", "prefix-cache", "--model", str(tiny_gguf), "--json", str(out),
                 "--threads", "2"]) == 0
    assert "\nP    prefix cache" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["speedup_prefix_cache_warm"] > 0 and doc["speedup_prefix_cache_warm_vs_llama"] > 0
    assert len(doc["details"]["prefix_cache"]["llama_total_s"]) == 3


def test_bench_without_the_dataset_skips_section_4(tiny_gguf, tmp_path, capsys):
    out = tmp_path / "bench.json"
    rc = main(["bench", "--quick", "--model", str(tiny_gguf), "--data", str(tmp_path / "missing.jsonl"),
               "--json", str(out), "--max-seqs", "2", "--max-new-tokens", "6", "--steps", "2",
               "--rounds", "1", "--long-prompt-tokens", "40", "--threads", "2"])
    assert rc == 0
    assert "section 4 skipped" in capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["passk_eager"] is None and doc["speedup_parallel_vs_highlevel"] > 0


def test_bench_refuses_bad_sizes(capsys):
    assert main(["bench", "--items", "0"]) == 2
    assert "--items" in capsys.readouterr().err
