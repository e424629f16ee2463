"""Queue limit (429), a client that goes away, and shutdown on SIGTERM / Ctrl-C."""

from __future__ import annotations

import json
import signal
import threading
import time

import httpx
import pytest

LONG = {"prompt": "the cat", "n": 4, "max_tokens": 3000, "seed": 1, "stream": True}


@pytest.fixture(scope="module")
def busy_server(tiny_gguf, tmp_path_factory):
    from serve_process import ServerProcess

    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--max-queue", "0", "--concurrency", "1",
                      "--n-ctx", "4096")
    yield s
    s.kill()


def _health(server) -> dict:
    return httpx.get(server.base + "/health", timeout=10).json()


def _wait_idle(server, deadline_s: float = 60.0) -> dict:
    """Poll /health until no run is active (a generous deadline, not a timing assert)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        h = _health(server)
        if h["running"] == 0 and h["waiting"] == 0:
            return h
        time.sleep(0.05)
    raise AssertionError(f"server still busy: {h}")


def _chunks(response):
    for line in response.iter_lines():
        if line.startswith("data: "):
            yield line[6:]


def test_full_queue_gives_429_and_a_gone_client_cancels_its_run(busy_server):
    before = _wait_idle(busy_server)
    with httpx.Client(timeout=60) as c:
        with c.stream("POST", busy_server.base + "/v1/completions", json=LONG) as r:
            assert r.status_code == 200
            lines = _chunks(r)  # kept: a dropped iterator would close the response
            next(lines)  # the run is going: the worker is taken
            refused = c.post(busy_server.base + "/v1/completions", json={"prompt": "a", "max_tokens": 2})
            assert refused.status_code == 429, (refused.text, _health(busy_server))
            err = refused.json()["error"]
            assert err["type"] == "rate_limit_error" and err["code"] == "queue_full"
        # leaving the block closes the connection mid-stream
    after = _wait_idle(busy_server)
    assert after["cancelled"] == before["cancelled"] + 1
    assert after["finished"] == before["finished"]
    ok = httpx.post(busy_server.base + "/v1/completions", json={"prompt": "a", "max_tokens": 2}, timeout=60)
    assert ok.status_code == 200


def test_a_gone_client_cancels_a_non_streamed_run(busy_server):
    before = _wait_idle(busy_server)
    body = {**LONG, "stream": False}
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(busy_server.base + "/v1/completions", json=body, timeout=httpx.Timeout(60, read=0.5))
    after = _wait_idle(busy_server)
    assert after["cancelled"] == before["cancelled"] + 1


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_cancels_the_running_request_and_exits_0(tiny_gguf, start_server, sig):
    s = start_server(tiny_gguf, "--n-ctx", "4096", "--concurrency", "1")  # the second request waits
    waiting: list[httpx.Response] = []
    behind = threading.Thread(target=lambda: waiting.append(
        httpx.post(s.base + "/v1/completions", json={"prompt": "a", "max_tokens": 2}, timeout=60)))
    with httpx.Client(timeout=60) as c:
        with c.stream("POST", s.base + "/v1/completions", json=LONG) as r:
            chunks = _chunks(r)
            next(chunks)
            behind.start()
            while _health(s)["waiting"] < 1:  # the second request is queued behind the first
                time.sleep(0.02)
            s.proc.send_signal(sig)
            rest = list(chunks)
    behind.join(60)
    assert waiting[0].status_code == 503 and waiting[0].json()["error"]["code"] == "shutting_down"
    assert rest[-1] == "[DONE]"
    finishes = {}
    for line in rest[:-1]:
        for ch in json.loads(line)["choices"]:
            if ch["finish_reason"]:
                finishes[ch["index"]] = ch["finish_reason"]
    assert set(finishes) == {0, 1, 2, 3}
    assert "cancelled" in finishes.values()
    assert s.wait() == 0
    assert s.lines[-1].strip() == "eager serve: stopped"
    assert "Traceback" not in s.stderr()
