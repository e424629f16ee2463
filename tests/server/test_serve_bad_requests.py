"""Malformed requests get a 4xx in OpenAI's error shape, and the server keeps serving."""

from __future__ import annotations

import json

import httpx
import pytest

from serve_process import KEY

AUTH = {"Authorization": f"Bearer {KEY}"}
C, CHAT = "/v1/completions", "/v1/chat/completions"
OK = {"prompt": "the cat", "max_tokens": 2}
MSG = [{"role": "user", "content": "hi"}]

# (name, path, body (dict, or raw bytes), status, param the error names)
CASES = [
    ("bad JSON", C, b'{"prompt": "a",', 400, "body"),
    ("not UTF-8", C, b'{"prompt": "\xff\xfe"}', 400, "body"),
    ("body is a list", C, b"[1, 2]", 400, "body"),
    ("empty body", C, b"", 400, "body"),
    ("no prompt", C, {"max_tokens": 3}, 400, "prompt"),
    ("prompt is a number", C, {"prompt": 123}, 400, "prompt"),
    ("two prompts", C, {"prompt": ["a", "b"]}, 400, "prompt"),
    ("n=0", C, {**OK, "n": 0}, 400, "n"),
    ("n=1000", C, {**OK, "n": 1000}, 400, "n"),
    ("n is a string", C, {**OK, "n": "4"}, 400, "n"),
    ("max_tokens=-1", C, {**OK, "max_tokens": -1}, 400, "max_tokens"),
    ("max_tokens too large", C, {**OK, "max_tokens": 10**7}, 400, "max_tokens"),
    ("temperature=5", C, {**OK, "temperature": 5}, 400, "temperature"),
    ("temperature is text", C, {**OK, "temperature": "hot"}, 400, "temperature"),
    ("top_p=0", C, {**OK, "top_p": 0}, 400, "top_p"),
    ("stop holds a number", C, {**OK, "stop": ["a", 1]}, 400, "stop"),
    ("seed=-1", C, {**OK, "seed": -1}, 400, "seed"),
    ("stream is text", C, {**OK, "stream": "yes"}, 400, "stream"),
    ("stream_options without stream", C, {**OK, "stream_options": {"include_usage": True}}, 400, "stream_options"),
    ("logprobs=10", C, {**OK, "logprobs": 10}, 400, "logprobs"),
    ("echo", C, {**OK, "echo": True}, 400, "echo"),
    ("greedy with n=2", C, {**OK, "temperature": 0, "n": 2}, 400, "temperature"),
    ("unknown model", C, {**OK, "model": "gpt-4o"}, 404, "model"),
    ("prompt longer than the context", C, {"prompt": "the cat " * 1500}, 400, "prompt"),
    ("sequences do not fit the context", C, {"prompt": "the cat " * 70, "n": 200, "max_tokens": 2}, 400, "n"),
    ("eager tree does not fit the context", C,
     {"prompt": "the cat " * 70, "max_tokens": 2, "eager": {"max_seqs": 200}}, 400, "eager.max_seqs"),
    ("eager is a number", C, {**OK, "eager": 1}, 400, "eager"),
    ("eager.max_seqs=300", C, {**OK, "eager": {"max_seqs": 300}}, 400, "eager.max_seqs"),
    ("eager field misspelt", C, {**OK, "eager": {"thetaa": 1}}, 400, "eager.thetaa"),
    ("eager.theta negative", C, {**OK, "eager": {"theta": -1}}, 400, "eager.theta"),
    ("eager with n=2", C, {**OK, "n": 2, "eager": {}}, 400, "n"),
    ("eager.prune unknown", C, {**OK, "eager": {"prune": "loud"}}, 400, "eager.prune"),
    ("eager.prune_keep=0", C, {**OK, "max_tokens": 32, "eager": {"prune": "confidence", "prune_keep": 0}}, 400,
     "eager.prune_keep"),
    ("prune window longer than max_tokens", C, {**OK, "eager": {"prune": "confidence"}}, 400, "eager.prune_window"),
    ("prune warm-up as large as max_seqs", C,
     {**OK, "max_tokens": 32, "eager": {"prune": "confidence", "max_seqs": 4, "prune_warmup": 4}}, 400,
     "eager.prune_warmup"),
    ("empty message list", CHAT, {"messages": []}, 400, "messages"),
    ("no messages", CHAT, {"max_tokens": 2}, 400, "messages"),
    ("message role unknown", CHAT, {"messages": [{"role": "robot", "content": "x"}]}, 400, "messages[0].role"),
    ("message is text", CHAT, {"messages": ["hi"]}, 400, "messages[0]"),
    ("image part", CHAT, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, 400,
     "messages[0].content[0]"),
    ("top_logprobs without logprobs", CHAT, {"messages": MSG, "top_logprobs": 2}, 400, "top_logprobs"),
    ("top_logprobs=50", CHAT, {"messages": MSG, "logprobs": True, "top_logprobs": 50}, 400, "top_logprobs"),
]


def _check_error(r: httpx.Response, status: int, param: str | None) -> dict:
    assert r.status_code == status, r.text
    assert "Traceback" not in r.text
    err = r.json()["error"]
    assert set(err) == {"message", "type", "param", "code"}
    assert isinstance(err["message"], str) and err["message"] and "\n" not in err["message"]
    assert isinstance(err["type"], str)
    if param is not None:
        assert err["param"] == param
        assert err["message"].startswith(param.split("[")[0]) or param in err["message"]
    return err


def _still_serves(server) -> None:
    r = httpx.post(server.base + C, json=OK, headers=AUTH, timeout=30)
    assert r.status_code == 200 and r.json()["choices"][0]["finish_reason"] in ("stop", "length")


@pytest.mark.parametrize("name,path,body,status,param", CASES, ids=[c[0] for c in CASES])
def test_malformed_request(plain_server, name, path, body, status, param):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {**AUTH, "Content-Type": "application/json"}
    r = httpx.post(plain_server.base + path, content=raw, headers=headers, timeout=30)
    _check_error(r, status, param)
    _still_serves(plain_server)


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": KEY}],
                         ids=["no key", "wrong key", "no scheme"])
def test_wrong_api_key(plain_server, headers):
    r = httpx.post(plain_server.base + C, json=OK, headers=headers, timeout=30)
    assert _check_error(r, 401, None)["code"] == "invalid_api_key"
    _still_serves(plain_server)


def test_ten_megabyte_body(plain_server):
    big = json.dumps({"prompt": "x" * (10 << 20)}).encode()
    r = httpx.post(plain_server.base + C, content=big, headers=AUTH, timeout=60)
    assert _check_error(r, 413, "body")["code"] == "body_too_large"
    _still_serves(plain_server)


def test_ten_megabyte_body_without_a_length(plain_server):
    def chunks():
        yield b'{"prompt": "'
        for _ in range(10):
            yield b"x" * (1 << 20)
        yield b'"}'

    r = httpx.post(plain_server.base + C, content=chunks(), headers=AUTH, timeout=60)
    _check_error(r, 413, "body")
    _still_serves(plain_server)


@pytest.mark.parametrize("method,path,status", [("GET", "/v1/nothing", 404), ("GET", C, 405)])
def test_wrong_path_or_method(plain_server, method, path, status):
    r = httpx.request(method, plain_server.base + path, headers=AUTH, timeout=30)
    _check_error(r, status, None)
    _still_serves(plain_server)
