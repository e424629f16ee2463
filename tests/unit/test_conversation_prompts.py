"""eager_local/conversation.py: the next turn's prompt, on the fake engine and on llama.cpp's
chat templates (the tiny GGUF with a ChatML template), and the prefix property a prefix
cache relies on: turn 2's prompt tokens begin with turn 1's prompt and chosen answer."""

from __future__ import annotations

import pytest

from eager_local.api import Model
from eager_local.conversation import Conversation, Turn
from eager_local.engine.base import FormattedPrompt
from eager_local.engine.fake import FakeEngine, hashed_script
from eager_local.errors import ModelError, PromptError
from eager_local.files.run_file import check_run_doc
from eager_local.models.registry import ModelSpec
from eager_local.result import ModelInfo
from tiny_gguf import build_tiny_gguf

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def fake(prompt_format: str) -> FakeEngine:
    return FakeEngine(hashed_script(40), vocab=40, prompt_format=prompt_format)


def test_chat_prompt_is_the_template_over_the_whole_history():
    e = fake("chat")
    c = Conversation.start("hi", "chat")
    assert c.mode == "chat" and c.prompt(e) == "hi"  # the first turn: the engine templates it
    c = c.then(3, " hello", "why").then(0, "because", "ok")
    assert c.turns == (Turn("hi", 3, " hello"), Turn("why", 0, "because"), Turn("ok"))
    assert c.messages() == [("user", "hi"), ("assistant", " hello"), ("user", "why"),
                            ("assistant", "because"), ("user", "ok")]
    p = c.prompt(e)
    assert isinstance(p, FormattedPrompt)
    assert p == ("<user>hi</user>\n<assistant> hello</assistant>\n<user>why</user>\n"
                 "<assistant>because</assistant>\n<user>ok</user>\n<assistant>")
    # templated once: the engine tokenizes the formatted text as it is
    assert e.prompt_tokens(p) == e.tokenize(p, add_special=True)
    assert e.prompt_tokens("hi") == e.tokenize(e.format_messages([("user", "hi")]))


def test_raw_model_continues_the_chosen_text():
    e = fake("raw")
    c = Conversation.start("Once", None).then(1, " upon a", " time").then(0, ",", "")
    assert c.mode == "continue"
    assert c.prompt(e) == "Once upon a time,"  # an empty text: the sequence goes on as it is
    assert not isinstance(c.prompt(e), FormattedPrompt)


def test_bad_turns_are_refused_with_one_line():
    with pytest.raises(PromptError) as err:
        Conversation.start("hi", "chat").then(0, "yes", "  ")
    assert err.value.one_line() == "prompt: the message is empty: write what the user says next"
    chat = Conversation.start("hi", "chat").then(0, "yes", "so")
    with pytest.raises(PromptError, match="this conversation was a chat and the model now takes raw text"):
        chat.prompt(fake("raw"))
    with pytest.raises(PromptError, match="was a continue and the model now takes chat messages"):
        Conversation.start("a", "raw").then(0, "b", "c").prompt(fake("chat"))


def test_json_round_trip_is_a_valid_run_document_part():
    c = Conversation.start("hi", "chat").then(2, "yes ⏎ \"q\"", "and")
    assert Conversation.from_json(c.to_json()) == c
    doc = {"params": {}, "sequences": [], "branches": [], "conversation": c.to_json(),
           "stats": {"prompt_tokens": 1, "generated_tokens": 0, "decoded_tokens": 1, "n_sequences": 0,
                     "peak_kv_cells": 1, "wall_s": 0.0}}
    check_run_doc(doc)


# ---------------------------------------------------------------- llama.cpp's templates
@pytest.fixture(scope="module")
def chat_engine(tmp_path_factory):
    from eager_local.engine.llama import LlamaEngine

    path = build_tiny_gguf(tmp_path_factory.mktemp("chat") / "chat.gguf", chat_template=CHATML,
                           extra_tokens=("<|im_start|>", "<|im_end|>"))
    e = LlamaEngine(path, n_ctx=1024, n_threads=1, prompt_format="chat")
    yield e
    e.close()


def test_llama_cpp_templates_many_messages(chat_engine, tiny_engine):
    e = chat_engine
    msgs = [("user", "the cat"), ("assistant", " is on"), ("user", "the mat?")]
    assert e.format_messages(msgs) == ("<|im_start|>user\nthe cat<|im_end|>\n<|im_start|>assistant\n is on"
                                       "<|im_end|>\n<|im_start|>user\nthe mat?<|im_end|>\n<|im_start|>assistant\n")
    assert e.format_prompt("the cat") == e.format_messages([("user", "the cat")])
    formatted = e.format_messages(msgs)
    assert e.format_prompt(formatted) == formatted  # never templated twice
    assert e.prompt_tokens(formatted) == e.tokenize(formatted, add_special=False)
    with pytest.raises(ModelError, match="has no chat template; set prompt_format"):
        tiny_engine.format_messages(msgs)


def test_an_unknown_template_is_one_line(tmp_path):
    from eager_local.engine.llama import LlamaEngine

    path = build_tiny_gguf(tmp_path / "odd.gguf", chat_template="{{ nothing llama.cpp knows }}")
    with LlamaEngine(path, n_ctx=256, n_threads=1, prompt_format="chat") as e, pytest.raises(ModelError) as err:
        e.format_messages([("user", "a")])
    assert err.value.one_line() == "model: llama.cpp does not know the chat template of odd.gguf"


@pytest.mark.parametrize("prompt_format", ["chat", "raw"])
def test_turn_two_begins_with_turn_one_and_its_answer(chat_engine, prompt_format):
    """The prefix property: turn 2's prompt tokens = turn 1's prompt tokens + the answer's tokens + more.

    The tiny model samples arbitrary bytes (broken UTF-8 does not re-tokenize the same), so the
    answer here is text its tokenizer writes in context; tests/integration measure sampled answers."""
    e = chat_engine
    e.prompt_format = prompt_format
    try:
        model = Model(ModelSpec(alias="tiny"), e, ModelInfo("tiny", "tiny.gguf", None, prompt_format=prompt_format))
        first = model.run("the cat", method="eager", theta=0.5, max_seqs=3, max_new_tokens=6, seed=1)
        head = list(first.prompt_token_ids)
        text = e.format_prompt(first.prompt)
        answer = " is on the mat."
        answer_ids = e.tokenize(text + answer, add_special=prompt_format == "raw")[len(head):]
        conv = Conversation.start(first.prompt, prompt_format).then(0, answer, "\nwhy?")
        second = model.run(conv.prompt(e), max_new_tokens=4, seed=1)
        ids = list(second.prompt_token_ids)
        assert ids[:len(head) + len(answer_ids)] == head + answer_ids
        assert len(ids) > len(head) + len(answer_ids)
        if prompt_format == "chat":
            assert second.prompt.count("<|im_start|>user") == 2 and not second.prompt.startswith("<|im_start|>user\n<|im_start|>")
        else:
            assert second.prompt == "the cat is on the mat.\nwhy?"
    finally:
        e.prompt_format = "chat"
