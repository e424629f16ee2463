"""Bringing your own GGUF: defaults from the file, reported in --json; models add/rm; θ rule.

Two tiny models are built here with the gguf package: an instruct-like one with
a chat template, and a reasoning one whose template and vocabulary have think
markers. Both run on the real llama.cpp.
"""

import json

import pytest

from eager_local import api
from eager_local.cli import main
from eager_local.engine.llama import gpu_offload_supported
from eager_local.models import locations
from eager_local.models.gguf_metadata import GgufFacts, default_n_ctx, read_facts
from eager_local.models.registry import DEFAULT_THETA
from tiny_gguf import build_tiny_gguf

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
THINKING = CHATML.replace("<|im_start|>assistant\n{% endif %}", "<|im_start|>assistant\n<think>\n{% endif %}") + \
    "{# reasoning_content is cut at </think> #}"


@pytest.fixture(scope="module")
def chat_gguf(tmp_path_factory):
    return build_tiny_gguf(tmp_path_factory.mktemp("own") / "Tiny-Chat-Q8.gguf", chat_template=CHATML,
                           n_ctx_train=2048)


@pytest.fixture(scope="module")
def think_gguf(tmp_path_factory):
    return build_tiny_gguf(tmp_path_factory.mktemp("own") / "tiny-think.gguf", chat_template=THINKING,
                           extra_tokens=("<think>", "</think>"), n_ctx_train=3072)


@pytest.fixture(autouse=True)
def notes_shown(monkeypatch):
    """The notes go to a person's terminal; here stderr is captured."""
    monkeypatch.setattr("eager_local.cli.common.show_notes", lambda args: not args.quiet)


def run_json(capsys, *argv):
    assert main(["run", "--json", "-n", "6", "-M", "3", *argv]) == 0
    out = capsys.readouterr()
    return json.loads(out.out), out.err


def test_facts_read_from_the_files(chat_gguf, think_gguf, tiny_gguf):
    chat, think, base = read_facts(chat_gguf), read_facts(think_gguf), read_facts(tiny_gguf)
    assert chat.chat_template and chat.think is None and chat.n_ctx_train == 2048 and chat.n_layer == 2
    assert think.chat_template and think.think == ("<think>", "</think>")
    assert not base.chat_template and base.think is None
    # 2 layers × 2 KV heads × (16 + 16) dims × 2 bytes
    assert chat.kv_bytes_per_cell == 2 * 2 * 32 * 2


def test_vocabulary_markers_count_without_a_template(tmp_path):
    f = build_tiny_gguf(tmp_path / "v.gguf", extra_tokens=("<think>", "</think>"))
    assert read_facts(f).think == ("<think>", "</think>")
    # a template decides: one that cuts the history at </think> (early R1 distills) is reasoning
    cut = build_tiny_gguf(tmp_path / "r1.gguf", chat_template=CHATML + "{{ content.split('</think>')[-1] }}")
    assert read_facts(cut).think == ("<think>", "</think>")
    plain = build_tiny_gguf(tmp_path / "q.gguf", chat_template=CHATML, extra_tokens=("<think>", "</think>"))
    assert read_facts(plain).think is None


def test_context_is_capped_by_memory():
    facts = GgufFacts("llama", None, 131072, 32, 131072, True, None)  # 128 KiB per cell
    n, why = default_n_ctx(facts, 16 * 2**30)  # 16 GiB: a quarter holds 32768 cells
    assert n == 32768 and "capped" in why
    assert default_n_ctx(facts, 1 << 50)[0] == 131072
    assert default_n_ctx(GgufFacts("x", None, None, None, None, False, None), None)[0] == 8192


def test_instruct_model_by_path_gets_its_file_defaults(capsys, chat_gguf):
    doc, err = run_json(capsys, "-m", str(chat_gguf), "hello")
    p = doc["params"]
    assert p["prompt_format"] == "chat" and p["n_ctx"] == 2048
    assert p["n_gpu_layers"] == (-1 if gpu_offload_supported() else 0)
    assert p["branch_region"] == "all" and p["think"] is None and p["theta"] == DEFAULT_THETA
    assert err.count("\n") == 1 and "prompt format chat" in err and "layers on the" in err
    # the prompt went through the template
    assert doc["stats"]["prompt_tokens"] > len("hello") + 10


def test_flags_and_models_toml_override_the_file(capsys, chat_gguf):
    doc, _ = run_json(capsys, "-m", str(chat_gguf), "-c", "512", "-ngl", "0", "--quiet", "hello")
    assert doc["params"]["n_ctx"] == 512 and doc["params"]["n_gpu_layers"] == 0
    f = locations.user_models_toml()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(f'[models.mine]\npath = "{chat_gguf}"\nprompt_format = "raw"\nn_ctx = 1024\ntheta = 0.7\n')
    doc, err = run_json(capsys, "-m", "mine", "hello")
    assert doc["params"]["prompt_format"] == "raw" and doc["params"]["n_ctx"] == 1024
    assert doc["params"]["theta"] == 0.7 and "prompt format" not in err


def test_reasoning_model_thinks_first(capsys, think_gguf):
    doc, err = run_json(capsys, "-m", str(think_gguf), "-s", "3", "2+2?")
    p = doc["params"]
    assert p["branch_region"] == "think" and p["think"] == ["<think>", "</think>"] and p["n_ctx"] == 3072
    assert "reasoning model" in err
    assert all("answer" in s for s in doc["sequences"])
    doc, _ = run_json(capsys, "-m", str(think_gguf), "--branch-region", "all", "2+2?")
    assert doc["params"]["branch_region"] == "all"


def test_models_add_then_run_by_name(capsys, chat_gguf):
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    user = locations.user_models_toml()
    assert str(user) in listing.replace("\n", "") and "not created yet" in listing
    assert main(["models", "add", str(chat_gguf), "--default"]) == 0
    assert "tiny-chat-q8" in capsys.readouterr().out
    doc, _ = run_json(capsys, "-m", "tiny-chat-q8", "hello")
    assert doc["model"]["alias"] == "tiny-chat-q8" and doc["params"]["prompt_format"] == "chat"
    doc, _ = run_json(capsys, "hello")  # --default: no -m needed
    assert doc["model"]["alias"] == "tiny-chat-q8"
    assert main(["models", "add", str(chat_gguf)]) == 2  # the alias exists
    assert "already names a model" in capsys.readouterr().err
    assert main(["models", "add", str(chat_gguf), "--alias", "second"]) == 0
    assert main(["models", "rm", "tiny-chat-q8"]) == 0
    text = user.read_text()
    assert "tiny-chat-q8" not in text and "second" in text and "default" not in text
    assert main(["models", "rm", "gemma3-270m"]) == 2  # built in, not the user's


def test_one_theta_rule_for_api_and_cli(chat_gguf):
    f = locations.user_models_toml()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(f'[models.mine]\npath = "{chat_gguf}"\ntheta = 0.7\n')
    with_theta = api.load("mine", hash_file=False)
    try:
        assert with_theta.settings().theta == 0.7
        assert with_theta.run("hi", max_new_tokens=2, max_seqs=2).settings.theta == 0.7
        assert with_theta.settings(theta=1.5).theta == 1.5
    finally:
        with_theta.close()
    plain = api.load(str(chat_gguf), hash_file=False)
    try:
        assert plain.settings().theta == DEFAULT_THETA
    finally:
        plain.close()


def test_eval_uses_the_chat_style_of_a_chat_model(capsys, tmp_path, chat_gguf):
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "a", "question": "2+2?", "answer": "4"}\n')
    out = tmp_path / "o.jsonl"
    assert main(["eval", str(data), "-m", str(chat_gguf), "-M", "1", "-n", "2", "--method", "parallel",
                 "--out", str(out)]) == 0
    text = out.read_text()
    assert '"style":"chat"' in text and '"style":"fewshot"' not in text


def test_think_region_needs_a_reasoning_model(capsys, chat_gguf):
    assert main(["run", "-m", str(chat_gguf), "--branch-region", "think", "-n", "2", "hi"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("settings: --branch-region think needs a reasoning model")
