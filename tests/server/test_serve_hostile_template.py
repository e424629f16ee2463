"""A chat template is untrusted input (it comes inside any downloaded GGUF): one that loops,
one that renders a huge string and one that reaches outside jinja2's sandbox each get a 400
naming the model file, and the server keeps serving; `eager run` (llama.cpp's own template
engine, which runs no Jinja) refuses each with one line and exit code 2."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from serve_process import KEY, ROOT

# `template-loop`, `template-huge-output`, `template-sandbox-escape`: the rows of docs/bad-input.md
HOSTILE = {
    "loop": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "huge": "{% for i in range(100000) %}{% for j in range(1000) %}xxxxxxxxxx{% endfor %}{% endfor %}",
    "one-huge-string": "{{ 'x' * 3000000000 }}",
    "escape": "{{ messages.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__['os'] }}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
}
CHAT = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def hostile_gguf(tmp_path_factory):
    from tiny_gguf import build_tiny_gguf

    d = tmp_path_factory.mktemp("hostile")
    return {k: build_tiny_gguf(d / f"{k}.gguf", chat_template=t) for k, t in HOSTILE.items()}


@pytest.mark.parametrize("kind", ["loop", "huge", "one-huge-string", "escape", "globals", "recursion"])
def test_server_refuses_the_template_and_stays_up(start_server, hostile_gguf, kind):
    s = start_server(hostile_gguf[kind], "--api-key", KEY)
    url = s.base + "/v1/chat/completions"
    t0 = time.monotonic()
    r = httpx.post(url, json=CHAT, headers=AUTH, timeout=60)
    took = time.monotonic() - t0
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["param"] == "messages" and f"{kind}.gguf" in err["message"]
    assert "\n" not in err["message"] and len(err["message"]) < 500
    assert took < 30  # bounded (2 s of rendering at most), not minutes
    # still up: the health check, a completion, and the same refusal again
    assert httpx.get(s.base + "/health", timeout=10).json()["status"] == "ok"
    ok = httpx.post(s.base + "/v1/completions", json={"prompt": "the cat", "max_tokens": 2},
                    headers=AUTH, timeout=60)
    assert ok.status_code == 200
    assert httpx.post(url, json=CHAT, headers=AUTH, timeout=60).status_code == 400
    assert s.proc.poll() is None


def test_template_nested_too_deeply_to_parse_falls_back_to_the_transcript(start_server, tmp_path):
    # `template-parse-deep` (was a traceback at start: RecursionError in jinja2's parser)
    from tiny_gguf import build_tiny_gguf

    deep = build_tiny_gguf(tmp_path / "deep.gguf", chat_template="{% if 1 %}" * 100_000)
    s = start_server(deep, "--api-key", KEY)
    r = httpx.post(s.base + "/v1/chat/completions", json=CHAT, headers=AUTH, timeout=60)
    assert r.status_code == 200, r.text
    assert "does not compile" in s.stderr() and "Traceback" not in s.stderr()


def test_good_template_still_renders_after_a_refusal(start_server, chat_gguf):
    s = start_server(chat_gguf, "--api-key", KEY)
    cl = s.client()
    out = cl.chat.completions.create(model="tiny-chat.gguf", messages=CHAT["messages"], max_tokens=2)
    assert out.choices[0].message.content is not None


@pytest.mark.parametrize("kind", ["loop", "huge", "escape"])
def test_eager_run_refuses_the_template_in_one_line(hostile_gguf, tmp_path, kind):
    env = dict(os.environ, PYTHONPATH=str(ROOT), EAGER_LOCAL_HOME=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "eager_local", "run", "the cat", "-m", str(hostile_gguf[kind]),
                        "--threads", "1", "-n", "2"], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and f"{kind}.gguf" in lines[0] and "Traceback" not in r.stderr
