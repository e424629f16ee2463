"""The evaluation runner on a scripted fake engine: records, phases, resume, interrupts."""

import json
import threading

import pytest

from eager_local.api import Model
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.errors import OutputError
from eager_local.evaluation.answers import Checker
from eager_local.evaluation.datasets import Dataset, Item
from eager_local.evaluation.prompts import PromptFormat
from eager_local.evaluation.records import RecordWriter, check_output, read_records
from eager_local.evaluation.runner import Interrupted, Runner, derive_seed
from eager_local.models.registry import ModelSpec
from eager_local.result import ModelInfo
from eager_local.settings import Settings

V = 32
SETTINGS = Settings(theta=2.2, max_seqs=4, max_new_tokens=8)


def make_model(stop_after_decodes=None, cancel=None):
    pieces = {i: f" {i - 3}".encode() for i in range(3, V)}
    eng = FakeEngine(hashed_script(V, spread=1.5), vocab=V, pieces=pieces)
    if stop_after_decodes is not None:
        real = eng.decode
        count = [0]

        def decode(*a):
            count[0] += 1
            if count[0] == stop_after_decodes:
                cancel.set()
            return real(*a)

        eng.decode = decode
    return Model(ModelSpec(alias="fake"), eng, ModelInfo("fake", "/fake.gguf", "0" * 64))


DATA = Dataset("toy", "/toy.jsonl", "numeric",
               tuple(Item(f"q{i}", f"question {i}", str(i % 5)) for i in range(6)), 6)


def runner(out, method, settings=SETTINGS, **kw):
    model = kw.pop("model", None) or make_model()
    return Runner(model, DATA, PromptFormat("chat"), Checker("numeric"), method, settings, str(out), **kw)


def dicts(records):
    """EvalRecords as the JSON objects the run file holds."""
    return [r.to_json() for r in records]


def strip_times(recs):
    """Records without the fields that measure time (they differ run to run)."""
    out = []
    for r in recs:
        r = json.loads(json.dumps(r if isinstance(r, dict) else r.to_json()))
        for k in ("wall_s", "check_s"):
            r.pop(k, None)
        r.get("init", {}).pop("wall_s", None)
        for k in ("wall_s", "decode_s"):
            r["run"]["stats"].pop(k)
        out.append(r)
    return out


def test_one_record_per_prompt(tmp_path):
    out = tmp_path / "p.jsonl"
    recs = dicts(runner(out, "parallel").run())
    lines = out.read_text().splitlines()
    assert len(lines) == 6 and [json.loads(l)["id"] for l in lines] == [f"q{i}" for i in range(6)]
    for r in recs:
        assert r["phase"] == "final" and r["n_sequences"] == 4 == len(r["sequences"])
        assert r["settings"]["seed"] == derive_seed(0, r["id"])
        assert r["model"]["sha256"] == "0" * 64 and r["dataset"]["items"] == 6
        assert r["generated_tokens"] == sum(s["n_own"] for s in r["sequences"])
        assert r["correct"] == sum(s["correct"] for s in r["sequences"])
        assert r["pass_any"] == (r["correct"] > 0)
        assert r["decoded_tokens"] > r["generated_tokens"]  # the prompt is decoded too


def test_eager_records_the_tree(tmp_path):
    recs = dicts(runner(tmp_path / "e.jsonl", "eager").run())
    assert {r["n_sequences"] for r in recs} - {1, 2, 3, 4} == set()
    for r in recs:
        assert len(r["branches"]) == r["n_sequences"] - 1
        for b in r["branches"]:
            assert b["entropy"] >= 2.2 and r["sequences"][b["child"]]["fork_pos"] == b["pos"]


def test_adapt_continues_saturating_trees(tmp_path):
    out = tmp_path / "a.jsonl"
    r = runner(out, "eager-adapt")
    recs = dicts(r.run())
    init = {x["id"]: x for x in dicts(read_records(out)) if x["phase"] == "init"}
    assert len(init) == 6 and r.plan.surplus == 24 - sum(x["n_sequences"] for x in init.values())
    continued = [x for x in recs if x["extra"]]
    assert continued and all(init[x["id"]]["n_sequences"] == 4 for x in continued)
    grew = 0
    for x in recs:
        old = init[x["id"]]["sequences"]
        assert x["sequences"][: len(old)] == old  # the old sequences, unchanged, first
        if x["extra"]:
            assert x["n_sequences"] <= x["extra"]["cap"]
            grew += x["n_sequences"] > len(old)
            assert x["origins"][len(old):] == ["continue"] * (x["n_sequences"] - len(old))
            assert x["decoded_tokens"] > init[x["id"]]["decoded_tokens"]
        else:
            assert x["n_sequences"] == len(old)
    assert grew


def test_full_reruns_prompts_below_the_cap(tmp_path):
    out = tmp_path / "f.jsonl"
    recs = dicts(runner(out, "eager-full").run())
    init = {x["id"]: x for x in dicts(read_records(out)) if x["phase"] == "init"}
    reruns = [x for x in recs if x["extra"] and x["extra"]["action"] == "rerun"]
    assert reruns
    for x in reruns:
        old = init[x["id"]]
        assert not old["pass_any"] and old["n_sequences"] < 4
        assert x["extra"]["theta"] == pytest.approx(0.8 * 2.2)
        assert x["n_sequences"] <= x["extra"]["cap"]
        assert [s["id"] for s in x["sequences"]] == list(range(x["n_sequences"]))
        assert x["sequences"][: old["n_sequences"]] == old["sequences"]
        for s in x["sequences"][old["n_sequences"]:]:
            assert s["origin"] == "rerun" and (s["parent"] is None or s["parent"] >= old["n_sequences"])
    for x in recs:  # prompts already solved get nothing
        if init[x["id"]]["pass_any"]:
            assert x["extra"] is None


@pytest.mark.parametrize("method, stop_at", [("parallel", 12), ("eager-adapt", 30), ("eager-adapt", 60), ("eager-full", 60)])
def test_interrupt_then_resume_equals_an_uninterrupted_run(tmp_path, method, stop_at):
    whole = dicts(runner(tmp_path / "whole.jsonl", method).run())
    out = tmp_path / "cut.jsonl"
    cancel = threading.Event()
    with pytest.raises(Interrupted):
        runner(out, method, cancel=cancel, model=make_model(stop_at, cancel)).run()
    partial = out.read_text()
    assert partial.endswith("\n") or partial == ""
    n_before = len(partial.splitlines())
    resumed = dicts(runner(out, method, resume=True).run())
    assert strip_times(resumed) == strip_times(whole)
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    keys = [(r["phase"], r["id"]) for r in lines]
    assert len(keys) == len(set(keys))  # nothing lost or written twice
    assert len(lines) > n_before


def test_resume_refuses_other_settings_and_existing_output_needs_resume(tmp_path):
    out = tmp_path / "p.jsonl"
    runner(out, "parallel").run()
    with pytest.raises(OutputError, match="different settings"):
        runner(out, "parallel", settings=SETTINGS.with_(max_seqs=3), resume=True).run()
    with pytest.raises(OutputError, match="different method"):
        runner(out, "eager", resume=True).run()
    with pytest.raises(OutputError, match="--resume"):
        check_output(out, resume=False)
    with pytest.raises(OutputError, match="does not exist"):
        check_output(tmp_path / "nope" / "x.jsonl", resume=False)
    with pytest.raises(OutputError, match="is a directory"):
        check_output(tmp_path, resume=False)


def before_branch_regions(r: dict) -> dict:
    """A record as eager-local wrote it before the branch_region setting existed."""
    r = json.loads(json.dumps(r))
    for d in (r["run_config"]["settings"], r["settings"], r["extra_settings"] or {},
              (r["run"] or {}).get("params", {})):
        d.pop("branch_region", None)
    return r


def as_before_branch_regions(path):
    lines = [json.dumps(before_branch_regions(json.loads(line))) + "\n" for line in path.read_text().splitlines()]
    path.write_text("".join(lines))


def test_files_written_before_branch_regions_still_resume(tmp_path):
    whole = dicts(runner(tmp_path / "whole.jsonl", "eager-adapt").run())
    out = tmp_path / "old.jsonl"
    cancel = threading.Event()
    with pytest.raises(Interrupted):
        runner(out, "eager-adapt", cancel=cancel, model=make_model(30, cancel)).run()
    as_before_branch_regions(out)
    assert "branch_region" not in out.read_text()
    resumed = dicts(runner(out, "eager-adapt", resume=True).run())
    old = [before_branch_regions(r) for r in whole]  # kept records stay as they were written
    assert strip_times([before_branch_regions(r) for r in resumed]) == strip_times(old)
    assert any("branch_region" in r["settings"] for r in resumed)  # new ones say where forks may be
    # an old eager run is adopted by --init-from as well; a missing key is no wildcard
    runner(tmp_path / "eager.jsonl", "eager").run()
    as_before_branch_regions(tmp_path / "eager.jsonl")
    got = dicts(runner(tmp_path / "reused.jsonl", "eager-adapt", init_from=str(tmp_path / "eager.jsonl")).run())
    assert strip_times([before_branch_regions(r) for r in got]) == strip_times(old)
    with pytest.raises(OutputError, match="different settings"):
        runner(out, "eager-adapt", settings=SETTINGS.with_(branch_region="answer"), resume=True,
               model=Model(ModelSpec(alias="fake", think=("<think>", "</think>")), make_model().engine,
                           ModelInfo("fake", "/fake.gguf", "0" * 64))).run()


def test_a_torn_last_line_is_ignored_and_cut(tmp_path):
    out = tmp_path / "p.jsonl"
    runner(out, "parallel").run()
    full = out.read_text().splitlines()
    out.write_text("\n".join(full[:2]) + "\n" + full[2][: len(full[2]) // 2])
    assert [r["id"] for r in dicts(read_records(out))] == ["q0", "q1"]
    with RecordWriter(out) as w:
        w.write(dict(json.loads(full[2]), id="x"))
    assert [r["id"] for r in dicts(read_records(out))] == ["q0", "q1", "x"]
    out.write_text(full[0] + "\nnot json\n" + full[1] + "\n")
    with pytest.raises(OutputError, match="line 2"):
        dicts(read_records(out))


@pytest.mark.parametrize("method", ["eager-adapt", "eager-full"])
def test_init_from_an_eager_run_gives_the_same_records(tmp_path, method):
    whole = dicts(runner(tmp_path / "whole.jsonl", method).run())
    runner(tmp_path / "eager.jsonl", "eager").run()
    reused = tmp_path / "reused.jsonl"
    got = dicts(runner(reused, method, init_from=str(tmp_path / "eager.jsonl")).run())
    assert strip_times(got) == strip_times(whole)
    assert strip_times(dicts(read_records(reused))) == strip_times(dicts(read_records(tmp_path / "whole.jsonl")))
    with pytest.raises(OutputError, match="--init-from"):
        runner(tmp_path / "other.jsonl", method, settings=SETTINGS.with_(theta=1.0),
               init_from=str(tmp_path / "eager.jsonl")).run()


def by_id(recs):
    return sorted(strip_times(recs), key=lambda r: (r["phase"], r["id"]))


@pytest.mark.parametrize("method", ["parallel", "eager", "eager-adapt", "eager-full"])
def test_concurrent_prompts_give_the_same_records(tmp_path, method):
    """The fake engine's logits ignore batch mates: decoding prompts together changes
    the order records are written in, nothing else."""
    one = runner(tmp_path / "one.jsonl", method).run()
    many = runner(tmp_path / "many.jsonl", method, concurrency=4).run()
    assert strip_times(many) == strip_times(one)  # returned in item order either way
    assert by_id(read_records(tmp_path / "many.jsonl")) == by_id(read_records(tmp_path / "one.jsonl"))
    auto = runner(tmp_path / "auto.jsonl", method, concurrency="auto").run()
    assert strip_times(auto) == strip_times(one)


# a whole run takes 16 (parallel) to 25 (eager-full) decode calls at concurrency 4
@pytest.mark.parametrize("method, stops", [("parallel", (3, 9, 4)), ("eager-adapt", (5, 12, 6)),
                                           ("eager-full", (12, 8, 3))])
def test_concurrent_interrupts_then_resume_lose_and_repeat_nothing(tmp_path, method, stops):
    whole = runner(tmp_path / "whole.jsonl", method).run()
    out = tmp_path / "cut.jsonl"
    sizes = []
    for stop_at in stops:  # interrupted again and again, each time resuming what is there
        cancel = threading.Event()
        with pytest.raises(Interrupted):
            runner(out, method, cancel=cancel, model=make_model(stop_at, cancel), concurrency=4,
                   resume=out.exists()).run()
        text = out.read_text() if out.exists() else ""
        assert text.endswith("\n") or text == ""
        sizes.append(len(text.splitlines()))
    resumed = runner(out, method, resume=True, concurrency=4).run()
    assert strip_times(resumed) == strip_times(whole)
    lines = [json.loads(l) for l in out.read_text().splitlines()]
    keys = [(r["phase"], r["id"]) for r in lines]
    assert len(keys) == len(set(keys)) == len(read_records(tmp_path / "whole.jsonl"))
    assert sizes == sorted(sizes) and 0 < sizes[-1] < len(keys)  # records came between interrupts


@pytest.mark.parametrize("method", ["eager-adapt", "eager-full"])
def test_concurrency_one_writes_records_in_dataset_order(tmp_path, method):
    out = tmp_path / "one.jsonl"
    runner(out, method, concurrency=1).run()
    keys = [(r.phase, r.id) for r in read_records(out)]
    assert keys == [(ph, it.id) for ph in ("init", "final") for it in DATA.items]
