"""A bounded load test: 16 concurrent clients × 4 requests on the tiny GGUF, over loopback.

Every response must be complete and well-formed, none lost, and the server's
resident memory after the load within a few percent of before. The figures
(latency median / p95, memory) are printed, not asserted against a clock.
"""

from __future__ import annotations

import statistics
import threading
import time

import pytest

from serve_process import KEY, ServerProcess

CLIENTS, REQUESTS = 16, 4
PROMPTS = ["the cat is on", "one two three", "a dog and a cat", "it was so"]


def _one(cl, kind: int, seed: int) -> None:
    """One request of kind 0-3; raise AssertionError unless the answer is whole."""
    p = PROMPTS[seed % len(PROMPTS)]
    if kind == 0:
        r = cl.completions.create(model="tiny.gguf", prompt=p, n=3, max_tokens=12, seed=seed)
        assert sorted(c.index for c in r.choices) == [0, 1, 2]
        assert all(c.finish_reason in ("stop", "length") for c in r.choices)
    elif kind == 1:
        r = cl.chat.completions.create(model="tiny.gguf", messages=[{"role": "user", "content": p}],
                                       max_tokens=12, seed=seed)
        assert r.choices[0].message.role == "assistant" and r.choices[0].finish_reason in ("stop", "length")
    elif kind == 2:
        r = cl.completions.create(model="tiny.gguf", prompt=p, max_tokens=12, seed=seed,
                                  extra_body={"eager": {"theta": 0.8, "max_seqs": 6}})
        ext = r.model_extra["eager"]
        assert len(r.choices) == ext["sequences"] == len(ext["forks"]) + 1
    else:
        done, texts = set(), {}
        for chunk in cl.completions.create(model="tiny.gguf", prompt=p, n=2, max_tokens=12, seed=seed,
                                           stream=True):
            for c in chunk.choices:
                texts[c.index] = texts.get(c.index, "") + c.text
                if c.finish_reason:
                    done.add(c.index)
        assert done == {0, 1}
        return
    assert r.usage.completion_tokens > 0 and r.usage.prompt_tokens > 0


def _round(server: ServerProcess, requests: int) -> tuple[list[float], list[str]]:
    """CLIENTS threads, each sending ``requests`` requests; (latencies, failures)."""
    latencies: list[float] = []
    failures: list[str] = []
    lock = threading.Lock()

    def client(i: int) -> None:
        cl = server.client(key=KEY)
        for j in range(requests):
            t0 = time.perf_counter()
            try:
                _one(cl, (i + j) % 4, seed=i * 100 + j)
            except Exception as e:  # collected, reported below
                with lock:
                    failures.append(f"client {i} request {j}: {type(e).__name__}: {e}")
                continue
            with lock:
                latencies.append(time.perf_counter() - t0)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads), "a client never got its answer"
    return latencies, failures


def test_sixteen_clients_four_requests_each(tiny_gguf, tmp_path_factory):
    import pathlib

    if not pathlib.Path("/proc/self/status").exists():
        pytest.skip("resident memory is read from /proc")
    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--api-key", KEY)
    try:
        _round(s, 1)  # warm up: caches, allocator arenas, threads
        before = s.rss_kib()
        t0 = time.perf_counter()
        latencies, failures = _round(s, REQUESTS)
        wall = time.perf_counter() - t0
        after = s.rss_kib()
        health = httpx_health(s)
    finally:
        code = s.stop()
    assert not failures, failures[:5]
    assert len(latencies) == CLIENTS * REQUESTS
    assert health["running"] == 0 and health["waiting"] == 0
    assert health["finished"] == CLIENTS * (REQUESTS + 1) and health["cancelled"] == 0
    q = statistics.quantiles(latencies, n=20)
    print(f"\nload: {len(latencies)} requests, {CLIENTS} concurrent clients, {wall:.1f} s; "
          f"latency median {statistics.median(latencies) * 1000:.0f} ms, p95 {q[18] * 1000:.0f} ms; "
          f"RSS before {before / 1024:.1f} MiB, after {after / 1024:.1f} MiB "
          f"({(after - before) / before * 100:+.1f} %)")
    assert after <= before * 1.05, (before, after)
    assert code == 0


def httpx_health(s: ServerProcess) -> dict:
    import httpx

    return httpx.get(s.base + "/health", timeout=10).json()
