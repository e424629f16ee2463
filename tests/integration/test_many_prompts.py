"""Many prompts on the real llama.cpp (tiny GGUF): ``Model.run_many`` / ``stream_many`` and
``eager run --prompts-file``, tried as a user would."""

from __future__ import annotations

import json

import pytest

from eager_local.cli import main
from eager_local.events import RunFinished, RunStarted
from eager_local.settings import Settings

PROMPTS = ["the cat", "a dog ran home", "one two three", "the mat is red", "up and down"]


@pytest.fixture(scope="module")
def model(tiny_gguf):
    from eager_local import load

    m = load(str(tiny_gguf), n_ctx=1024, n_threads=1, hash_file=False)
    yield m
    m.close()


def test_run_many_returns_one_result_per_prompt_in_order(model):
    s = Settings(method="eager", theta=0.5, max_seqs=4, max_new_tokens=12, temperature=1.0)
    results = model.run_many(PROMPTS, s)
    assert [r.prompt for r in results] == PROMPTS
    for r in results:
        assert 1 <= r.stats.n_sequences <= 4 and r.settings.seed == 0
        assert {q.finish_reason for q in r.sequences} <= {"eog", "length"}
    one = model.run_many(PROMPTS[:2], s, concurrency=1)  # one at a time: today's batches
    assert [r.to_json()["sequences"] for r in one] == [model.run(p, s).to_json()["sequences"] for p in PROMPTS[:2]]


def test_stream_many_tags_every_event_with_its_prompt(model):
    per_prompt = [Settings(method="parallel", max_seqs=2, max_new_tokens=6, seed=i) for i in range(3)]
    seen: dict[int, list] = {}
    for i, ev in model.stream_many(PROMPTS[:3], per_prompt):
        seen.setdefault(i, []).append(ev)
    assert sorted(seen) == [0, 1, 2]
    for i, evs in seen.items():
        assert isinstance(evs[0], RunStarted) and evs[0].prompt == PROMPTS[i]
        assert isinstance(evs[-1], RunFinished) and evs[-1].result.settings.seed == i


def test_stream_many_refuses_bad_input_before_anything_runs(model):
    from eager_local.errors import EagerError

    with pytest.raises(EagerError, match="one per prompt"):
        model.stream_many(PROMPTS[:2], [Settings()])
    with pytest.raises(EagerError, match="not bytes"):
        model.stream_many([b"x"])
    with pytest.raises(EagerError, match="concurrency"):
        model.stream_many(PROMPTS[:2], concurrency=0)


@pytest.mark.parametrize("kind", ["txt", "jsonl"])
def test_prompts_file_prints_one_document_per_prompt_in_input_order(tiny_gguf, tmp_path, capsys, kind):
    path = tmp_path / f"prompts.{kind}"
    if kind == "txt":
        path.write_text("\n".join(PROMPTS[:3]) + "\n\n", encoding="utf-8")
    else:
        path.write_text("".join(json.dumps({"prompt": p, "id": i}) + "\n" for i, p in enumerate(PROMPTS[:3])))
    code = main(["run", "--prompts-file", str(path), "-m", str(tiny_gguf), "--n-ctx", "512",
                 "--threads", "1", "-M", "3", "-T", "6", "--theta", "0.5"])
    out = capsys.readouterr().out.splitlines()
    assert code == 0
    docs = [json.loads(line) for line in out]
    assert [d["prompt"] for d in docs] == PROMPTS[:3]
    for d in docs:
        assert set(d) >= {"model", "params", "sequences", "branches", "stats"}
        assert d["params"]["max_seqs"] == 3


def test_prompts_file_mistakes_are_one_line(tiny_gguf, tmp_path, capsys):
    def one_line(argv, *fragments):
        try:
            code = main([str(a) for a in argv])
        except SystemExit as e:
            code = e.code
        err = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
        assert code == 2 and len(err) == 1 and "Traceback" not in err[0], err
        for f in fragments:
            assert f in err[0], err[0]

    run = ["run", "-m", tiny_gguf, "--prompts-file"]
    one_line(run + [tmp_path / "nope.txt"], "prompts file", "not found")
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n")
    one_line(run + [empty], "holds no prompts")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "a"}\n{"question": "b"}\n')
    one_line(run + [bad], "line 2", '"prompt"')
    one_line(run + [bad, "--concurrency", "0"], "--concurrency")
    good = tmp_path / "good.txt"
    good.write_text("a\n")
    one_line(["run", "hello", "-m", tiny_gguf, "--prompts-file", good], "--prompts-file alone")
