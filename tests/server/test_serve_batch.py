"""Requests decoded together: the worker hands concurrent jobs to one scheduler, so their
sequences share one batched decode per step (and --concurrency 1 keeps one at a time)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from eager_local import load
from eager_local.events import RunFinished, RunStarted, StepFinished
from eager_local.server.worker import END, Job, Worker


class _Logged(Job):
    """A job that also writes what it receives into one log shared by every job, in the
    order the worker thread handed it over."""

    def __init__(self, name, log, *args, **kw):
        super().__init__(*args, **kw)
        self.name, self.log = name, log

    def _put_all(self, items) -> None:
        self.log.extend((self.name, item) for item in items)
        super()._put_all(items)


def _decode_two(tiny_gguf, concurrency: int):
    """Two jobs admitted before the worker starts; the hand-over log and /health."""
    model = load(str(tiny_gguf), n_ctx=1024, n_threads=1, hash_file=False)
    worker = Worker(model, max_queue=4, concurrency=concurrency)
    settings = model.settings(method="parallel", max_seqs=2, max_new_tokens=12, seed=3, stop=())
    log: list = []

    async def main():
        loop = asyncio.get_running_loop()
        jobs = [_Logged(n, log, p, settings, stream=True, loop=loop)
                for n, p in (("a", "the cat"), ("b", "the dog"))]
        for job in jobs:
            worker.submit(job)
        worker.start()
        for job in jobs:
            while await job.items.get() is not END:
                pass

    try:
        asyncio.run(main())
        health = worker.health()
    finally:
        worker.stop()
    return [(n, ev) for n, ev in log if ev is not END], health


def test_two_jobs_are_decoded_in_the_same_steps(tiny_gguf):
    log, health = _decode_two(tiny_gguf, concurrency=2)
    kinds = [(n, type(ev)) for n, ev in log]
    first_step = kinds.index(next(k for k in kinds if k[1] is StepFinished))
    # both runs started before either decoded a step: they were live at once
    assert {("a", RunStarted), ("b", RunStarted)} <= set(kinds[:first_step])
    # and each step of one is followed by the same step of the other (one batched decode)
    steps = [(n, ev.step) for n, ev in log if isinstance(ev, StepFinished)]
    shared = [(x, y) for x, y in zip(steps, steps[1:]) if x[1] == y[1] and x[0] != y[0]]
    assert len(shared) >= 10, steps
    assert health["peak_running"] == 2 and health["finished"] == 2
    assert health["running"] == 0 and health["waiting"] == 0
    results = {n: ev.result for n, ev in log if isinstance(ev, RunFinished)}
    assert set(results) == {"a", "b"} and all(r.stats.generated_tokens > 0 for r in results.values())


def test_concurrency_one_decodes_one_job_after_the_other(tiny_gguf):
    log, health = _decode_two(tiny_gguf, concurrency=1)
    kinds = [(n, type(ev)) for n, ev in log]
    assert kinds.index(("b", RunStarted)) > kinds.index(("a", RunFinished))
    assert health["peak_running"] == 1 and health["finished"] == 2


def test_a_request_joins_the_batch_of_a_running_one(plain_server_batch):
    """Over HTTP: a short request is answered while a long streamed one decodes (with
    --concurrency 1 it would wait for the long one, see test_serve_lifecycle)."""
    s = plain_server_batch
    # 30000 cells reserved of 32768 (room left for the short one); far longer than the
    # short request takes: it ends when this client goes away
    long = {"prompt": "the cat", "n": 1, "max_tokens": 30000, "seed": 1, "stream": True}
    with httpx.Client(timeout=60) as c:
        with c.stream("POST", s.base + "/v1/completions", json=long) as r:
            assert r.status_code == 200
            lines = r.iter_lines()  # kept: a dropped iterator would close the response
            next(line for line in lines if line.startswith("data: "))  # the long run is decoding
            short = c.post(s.base + "/v1/completions", json={"prompt": "a", "max_tokens": 2, "seed": 2})
            assert short.status_code == 200, short.text
            health = c.get(s.base + "/health").json()
    assert health["peak_running"] == 2, health
    assert health["running"] == 1 and health["finished"] == 1, health  # the long one still decodes


@pytest.fixture
def plain_server_batch(tiny_gguf, tmp_path_factory):
    from serve_process import ServerProcess

    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--n-ctx", "32768", "--max-tokens", "30000",
                      "--concurrency", "2")
    yield s
    s.kill()
