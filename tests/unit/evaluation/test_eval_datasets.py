"""Datasets and prompt formats: schema, field mapping, line-numbered errors, exemplars."""

import json
from pathlib import Path

import pytest

from eager_local.errors import DatasetError
from eager_local.evaluation.datasets import load_dataset, load_humaneval, load_jsonl, parse_fields
from eager_local.evaluation.prompts import FEWSHOT_STOP, builtin_exemplars, choose_format

SHARED = Path(__file__).resolve().parents[3] / "../shared/data"


def write(tmp_path, lines, name="d.jsonl"):
    p = tmp_path / name
    p.write_text("".join((l if isinstance(l, str) else json.dumps(l)) + "\n" for l in lines))
    return p


def test_reads_schema_with_numbers_and_limit(tmp_path):
    p = write(tmp_path, [{"id": 1, "question": "q1", "answer": 14.0},
                         "", {"id": "b", "question": "q2", "answer": "3", "level": 2}])
    ds = load_jsonl(p, limit=1)
    assert [it.id for it in ds.items] == ["1"] and ds.items[0].answer == "14"
    assert ds.total == 2 and ds.kind == "numeric" and ds.name == "d"
    assert load_jsonl(p).items[1].extra == {"level": 2}


def test_field_mapping(tmp_path):
    p = write(tmp_path, [{"task": "x", "problem": "what?", "final": "\\frac{1}{2}"}])
    ds = load_jsonl(p, fields=parse_fields(["id=task", "question=problem", "answer=final"]))
    assert ds.items[0].question == "what?" and ds.kind == "latex"


@pytest.mark.parametrize("bad", ["question", "id=", "nope=x"])
def test_bad_field_option(bad):
    with pytest.raises(DatasetError, match="bad field"):
        parse_fields([bad])


@pytest.mark.parametrize(
    "line, match",
    [
        ('{"id": "a", "question": "q"', "line 2: not valid JSON"),
        ('{"id": "a", "question": "q"}', "line 2: missing field 'answer'"),
        ('[1, 2]', "line 2: expected a JSON object"),
        ('{"id": "a", "question": "", "answer": "1"}', "line 2: field 'question' must be"),
        ('{"id": "x", "question": "q", "answer": "1"}', "line 2: duplicate id"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, line, match):
    p = write(tmp_path, [{"id": "x", "question": "q", "answer": "1"}, line])
    with pytest.raises(DatasetError, match=match) as e:
        load_jsonl(p)
    assert str(p) in e.value.message


def test_missing_empty_and_non_utf8(tmp_path):
    with pytest.raises(DatasetError, match="not found"):
        load_dataset(str(tmp_path / "none.jsonl"))
    with pytest.raises(DatasetError, match="no items"):
        load_jsonl(write(tmp_path, [""]))
    p = tmp_path / "latin.jsonl"
    p.write_bytes(b'{"id": "a", "question": "q", "answer": "1"}\n{"id": "\xe9"}\n')
    with pytest.raises(DatasetError, match="line 2: not UTF-8"):
        load_jsonl(p)
    with pytest.raises(DatasetError, match="limit must be at least 1"):
        load_dataset(str(p), limit=0)


def test_humaneval_from_the_package():
    ds = load_humaneval(limit=3)
    assert ds.total == 164 and ds.kind == "code" and len(ds.items) == 3
    it = ds.items[0]
    assert it.id == "HumanEval/0" and "def check" in it.answer and it.extra["entry_point"]
    fmt = choose_format(ds, "raw")
    assert fmt.style == "code" and fmt.render(it) == it.question and "\ndef " in fmt.stop


def test_fewshot_prompt_uses_packaged_exemplars(tmp_path):
    ds = load_jsonl(write(tmp_path, [{"id": "q", "question": " How many? ", "answer": "2"}]))
    fmt = choose_format(ds, "raw", shots=4)
    assert fmt.style == "fewshot" and len(fmt.exemplars) == 4 and fmt.stop == FEWSHOT_STOP
    text = fmt.render(ds.items[0])
    assert text.endswith("Question: How many?\nAnswer:")
    assert text.count("Question:") == 5 and "The answer is" in text
    # the exemplars are one-operation problems whose worked answers are right
    for ex in load_jsonl(builtin_exemplars()).items:
        expr, _, rest = ex.solution.partition(" = ")
        assert eval(expr) == float(ex.answer) and rest.endswith(f"The answer is {ex.answer}.")


def test_exemplars_never_come_from_evaluated_items(tmp_path):
    data = write(tmp_path, [{"id": "a", "question": "q1", "answer": "1"},
                            {"id": "b", "question": "q2", "answer": "2"}])
    ds = load_jsonl(data)
    with pytest.raises(DatasetError, match="also an evaluated item"):
        choose_format(ds, "raw", exemplars=str(data), shots=1)
    train = write(tmp_path, [{"id": "t", "question": "q0", "answer": "0", "solution": "0 + 0 = 0."}], "train.jsonl")
    fmt = choose_format(ds, "raw", exemplars=str(train), shots=1)
    assert fmt.render(ds.items[0]).startswith("Question: q0\nAnswer: 0 + 0 = 0.\n\n")
    with pytest.raises(DatasetError, match="holds 1 exemplars"):
        choose_format(ds, "raw", exemplars=str(train), shots=2)


def test_chat_format_and_reasoning(tmp_path):
    ds = load_jsonl(write(tmp_path, [{"id": "a", "question": "What is 2+2?", "answer": "4"}]))
    assert choose_format(ds, "chat").render(ds.items[0]) == "What is 2+2?"
    r = choose_format(ds, "chat", reasoning=True).render(ds.items[0])
    assert r.startswith("What is 2+2?\n\n") and "\\boxed" in r
    assert choose_format(ds, "chat").stop == ()


@pytest.mark.skipif(not (SHARED / "mawps_singleop_dev.jsonl").exists(), reason="../shared/data absent")
def test_shared_data_files_load():
    for name in ("mawps_singleop_dev.jsonl", "math500_dev.jsonl", "gsm8k_fewshot.jsonl"):
        ds = load_jsonl(SHARED / name)
        assert ds.items and len({it.id for it in ds.items}) == len(ds.items)
    assert load_jsonl(SHARED / "mawps_singleop_dev.jsonl").kind == "numeric"
    assert load_jsonl(SHARED / "math500_dev.jsonl").kind == "latex"


def test_offset_and_limit_select_a_slice(tmp_path):
    p = write(tmp_path, [{"id": str(i), "question": f"q{i}", "answer": str(i)} for i in range(5)])
    ds = load_dataset(str(p), offset=2, limit=2)
    assert [it.id for it in ds.items] == ["2", "3"] and ds.offset == 2 and ds.total == 5
    with pytest.raises(DatasetError, match="nothing left"):
        load_dataset(str(p), offset=5)
