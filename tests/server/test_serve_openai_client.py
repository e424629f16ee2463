"""`eager serve` driven by the official openai package: every endpoint and mode."""

from __future__ import annotations

import httpx
import pytest

from serve_process import KEY

PROMPT = "the cat is on the mat and"


def test_models_list(plain_server):
    models = plain_server.client().models.list()
    assert [m.id for m in models.data] == ["tiny.gguf"]
    assert models.data[0].object == "model"


def test_retrieve_model(plain_server):
    import openai

    cl = plain_server.client()
    assert cl.models.retrieve("tiny.gguf").id == "tiny.gguf"
    with pytest.raises(openai.NotFoundError) as e:
        cl.models.retrieve("gpt-4o")
    assert e.value.body["code"] == "model_not_found"


def test_cors_only_for_the_allowed_origin(plain_server):
    url = plain_server.base + "/v1/completions"
    pre = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"}
    ok = httpx.options(url, headers={"Origin": "http://app.example", **pre})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == "http://app.example"
    other = httpx.options(url, headers={"Origin": "http://evil.example", **pre})
    assert "access-control-allow-origin" not in other.headers
    r = httpx.post(url, json={"prompt": "a", "max_tokens": 2}, timeout=30,
                   headers={"Origin": "http://app.example", "Authorization": f"Bearer {KEY}"})
    assert r.status_code == 200 and r.headers["access-control-allow-origin"] == "http://app.example"


def test_health_needs_no_key(plain_server):
    r = httpx.get(plain_server.base + "/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_completion_with_n(plain_server):
    c = plain_server.client().completions.create(model="tiny.gguf", prompt=PROMPT, n=4, max_tokens=6, seed=3)
    assert sorted(ch.index for ch in c.choices) == [0, 1, 2, 3]
    assert all(ch.finish_reason in ("stop", "length") for ch in c.choices)
    assert all(isinstance(ch.text, str) for ch in c.choices)
    assert len({ch.text for ch in c.choices}) > 1  # four samples, not one copied
    assert c.usage.prompt_tokens > 0
    assert 4 <= c.usage.completion_tokens <= 24
    assert c.usage.total_tokens == c.usage.prompt_tokens + c.usage.completion_tokens
    assert c.usage.model_extra["decoded_tokens"] >= c.usage.prompt_tokens


def test_seed_gives_the_same_output_twice(plain_server):
    cl = plain_server.client()
    a = cl.completions.create(model="tiny.gguf", prompt=PROMPT, n=3, max_tokens=10, seed=42)
    b = cl.completions.create(model="tiny.gguf", prompt=PROMPT, n=3, max_tokens=10, seed=42)
    c = cl.completions.create(model="tiny.gguf", prompt=PROMPT, n=3, max_tokens=10, seed=43)
    assert [x.text for x in a.choices] == [x.text for x in b.choices]
    assert [x.text for x in a.choices] != [x.text for x in c.choices]


def test_stop_string_cuts_the_text_in_full_and_in_stream(plain_server):
    cl = plain_server.client()
    kw = dict(model="tiny.gguf", prompt=PROMPT, max_tokens=24, seed=5)
    full = cl.completions.create(**kw).choices[0].text
    stop = full[len(full) // 2: len(full) // 2 + 2]
    want = full[: full.index(stop)]
    cut = cl.completions.create(stop=[stop], **kw).choices[0]
    assert cut.text == want and cut.finish_reason == "stop"
    streamed = "".join(ch.choices[0].text for ch in cl.completions.create(stop=stop, stream=True, **kw)
                       if ch.choices)
    assert streamed == want


def test_chat_without_a_template_uses_the_transcript(plain_server):
    cl = plain_server.client()
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the cat"}]
    chat = cl.chat.completions.create(model="tiny.gguf", messages=msgs, max_tokens=8, temperature=0)
    plain = cl.completions.create(model="tiny.gguf", prompt="system: be brief\nuser: the cat\nassistant:",
                                  max_tokens=8, temperature=0, stop="\nuser:")  # the transcript's stop
    assert chat.object == "chat.completion"
    assert chat.choices[0].message.role == "assistant"
    assert chat.choices[0].message.content == plain.choices[0].text
    assert chat.usage.prompt_tokens == plain.usage.prompt_tokens


def test_chat_uses_the_models_template(chat_gguf, start_server):
    s = start_server(chat_gguf)
    cl = s.client()
    msgs = [{"role": "user", "content": "the cat"}, {"role": "assistant", "content": "is"},
            {"role": "user", "content": "on the mat"}]
    chat = cl.chat.completions.create(model="tiny-chat.gguf", messages=msgs, max_tokens=8, temperature=0)
    # the template with BOS left to the tokenizer (one BOS, not two)
    text = "<|user|> the cat\n<|assistant|> is\n<|user|> on the mat\n<|assistant|>"
    plain = cl.completions.create(model="tiny-chat.gguf", prompt=text, max_tokens=8, temperature=0)
    assert chat.choices[0].message.content == plain.choices[0].text
    assert chat.usage.prompt_tokens == plain.usage.prompt_tokens


def test_a_second_chat_turn_finds_the_first_in_the_prefix_cache(chat_gguf, start_server):
    """A chat's next turn: its prompt (the template over the history and the answer)
    begins like the first turn's prompt and answer, which the prefix cache kept."""
    cl = start_server(chat_gguf).client()
    msgs = [{"role": "system", "content": "the cat is on the mat and the dog is on the rug " * 3},
            {"role": "user", "content": "where is the cat"}]
    first = cl.chat.completions.create(model="tiny-chat.gguf", messages=msgs, max_tokens=6, temperature=0)
    assert first.usage.prompt_tokens_details.cached_tokens == 0
    msgs += [{"role": "assistant", "content": first.choices[0].message.content},
             {"role": "user", "content": "and the dog"}]
    second = cl.chat.completions.create(model="tiny-chat.gguf", messages=msgs, max_tokens=6, temperature=0)
    cached = second.usage.prompt_tokens_details.cached_tokens
    assert first.usage.prompt_tokens <= cached < second.usage.prompt_tokens
    assert second.usage.model_extra["decoded_tokens"] == (second.usage.prompt_tokens - cached
                                                         + second.usage.completion_tokens - 1)


def test_eager_extension(plain_server):
    cl = plain_server.client()
    r = cl.completions.create(model="tiny.gguf", prompt=PROMPT, max_tokens=12, seed=1, logprobs=0,
                              extra_body={"eager": {"theta": 0.0, "max_seqs": 4, "entropies": True}})
    ext = r.model_extra["eager"]
    assert ext["max_seqs"] == 4 and ext["sequences"] == len(r.choices) == 4
    forks = ext["forks"]
    assert len(forks) == 3
    by = {ch.index: ch.model_extra for ch in r.choices}
    tokens = {ch.index: ch.logprobs.tokens for ch in r.choices}
    assert by[0]["parent"] is None and by[0]["fork_pos"] == 0
    for f in forks:
        child = by[f["child"]]
        assert child["parent"] == f["parent"] and child["fork_pos"] == f["pos"]
        # a child shares its parent's tokens before the fork, then takes the second one
        assert tokens[f["child"]][: f["pos"]] == tokens[f["parent"]][: f["pos"]]
        assert len(child["entropies"]) == len(tokens[f["child"]])
        assert child["entropies"][f["pos"]] == pytest.approx(f["entropy"], abs=1e-5)
    own = sum(len(tokens[i]) - by[i]["fork_pos"] for i in by)
    assert r.usage.completion_tokens == own  # the tree's tokens, shared prefixes once


def test_eager_tree_streams_as_new_indices(plain_server):
    cl = plain_server.client()
    kw = dict(model="tiny.gguf", prompt=PROMPT, max_tokens=10, seed=7,
              extra_body={"eager": {"theta": 0.5, "max_seqs": 5}})
    full = cl.completions.create(**kw)
    texts: dict[int, str] = {}
    opened: dict[int, tuple] = {}
    finish: dict[int, str] = {}
    for chunk in cl.completions.create(stream=True, **kw):
        for ch in chunk.choices:
            if ch.index not in texts:
                opened[ch.index] = (ch.model_extra.get("parent"), ch.model_extra.get("fork_pos"))
            texts[ch.index] = texts.get(ch.index, "") + ch.text
            if ch.finish_reason:
                finish[ch.index] = ch.finish_reason
    assert texts == {ch.index: ch.text for ch in full.choices}
    assert finish == {ch.index: ch.finish_reason for ch in full.choices}
    assert opened == {ch.index: (ch.model_extra["parent"], ch.model_extra["fork_pos"]) for ch in full.choices}
    assert len(texts) > 1


@pytest.mark.parametrize("n", [1, 3])
def test_streaming_matches_the_full_response(plain_server, n):
    cl = plain_server.client()
    kw = dict(model="tiny.gguf", prompt=PROMPT, max_tokens=9, seed=11, n=n)
    full = cl.completions.create(**kw)
    texts: dict[int, str] = {}
    usage = None
    for chunk in cl.completions.create(stream=True, stream_options={"include_usage": True}, **kw):
        for ch in chunk.choices:
            texts[ch.index] = texts.get(ch.index, "") + ch.text
        usage = chunk.usage or usage
    assert texts == {ch.index: ch.text for ch in full.choices}
    assert usage.completion_tokens == full.usage.completion_tokens


def test_chat_streaming_with_several_choices(plain_server):
    cl = plain_server.client()
    kw = dict(model="tiny.gguf", messages=[{"role": "user", "content": "the dog"}], max_tokens=7, seed=2, n=2)
    full = cl.chat.completions.create(**kw)
    texts: dict[int, str] = {}
    roles = {}
    for chunk in cl.chat.completions.create(stream=True, **kw):
        assert chunk.object == "chat.completion.chunk"
        for ch in chunk.choices:
            roles.setdefault(ch.index, ch.delta.role)
            texts[ch.index] = texts.get(ch.index, "") + (ch.delta.content or "")
    assert roles == {0: "assistant", 1: "assistant"}
    assert texts == {ch.index: ch.message.content for ch in full.choices}


def test_logprobs_of_chat_and_completions(plain_server):
    cl = plain_server.client()
    chat = cl.chat.completions.create(model="tiny.gguf", messages=[{"role": "user", "content": "a"}],
                                      max_tokens=5, logprobs=True, top_logprobs=3, seed=1)
    content = chat.choices[0].logprobs.content
    assert len(content) == chat.usage.completion_tokens
    assert "".join(t.token for t in content) == chat.choices[0].message.content
    for t in content:
        assert len(t.top_logprobs) == 3
        assert t.logprob <= 0
        top = [x.logprob for x in t.top_logprobs]
        assert top == sorted(top, reverse=True)
        assert t.logprob in top or t.logprob <= top[-1] or t.logprob == -9999.0
    comp = cl.completions.create(model="tiny.gguf", prompt="a", max_tokens=4, logprobs=2, seed=1)
    lp = comp.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert all(len(d) <= 2 for d in lp.top_logprobs)


def test_greedy_with_temperature_zero_is_repeatable(plain_server):
    cl = plain_server.client()
    a = cl.completions.create(model="tiny.gguf", prompt=PROMPT, max_tokens=8, temperature=0)
    b = cl.completions.create(model="tiny.gguf", prompt=PROMPT, max_tokens=8, temperature=0, seed=99)
    assert a.choices[0].text == b.choices[0].text


def test_wrong_key_is_refused(plain_server):
    import openai

    with pytest.raises(openai.AuthenticationError) as e:
        plain_server.client(key="sk-wrong").models.list()
    assert e.value.status_code == 401
    assert e.value.body["code"] == "invalid_api_key"
    assert plain_server.client(key=KEY).models.list().data


def test_a_run_that_may_run_out_of_context_says_so(plain_server):
    """The run's notices reach the client: a top-level ``warnings`` list (OpenAI clients
    ignore it), and in a stream a chunk without choices that carries it. 8 × 200 tokens
    need more than the server's 1,024 cells, so sequences may end as context_full."""
    cl = plain_server.client()
    kw = dict(model="tiny.gguf", prompt=PROMPT, n=8, max_tokens=200, seed=1)
    full = cl.completions.create(**kw)
    warnings = full.model_extra.get("warnings")
    assert warnings and "context_full" in warnings[0] and "1024" in warnings[0]
    chunks = list(cl.completions.create(stream=True, **kw))
    notes = [ch.model_extra["warnings"] for ch in chunks if ch.model_extra.get("warnings")]
    assert notes == [warnings] and not [ch for ch in chunks if ch.model_extra.get("warnings") and ch.choices]
    fits = cl.completions.create(model="tiny.gguf", prompt=PROMPT, n=2, max_tokens=6, seed=1)
    assert "warnings" not in fits.model_extra
