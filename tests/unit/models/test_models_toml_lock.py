"""Concurrent `eager models add` (and rm) in separate processes lose no entry: each
read-change-write of models.toml holds the file's edit lock."""

from __future__ import annotations

import multiprocessing as mp
import tomllib

from eager_local.models.user_models import add_model, remove_model
from tiny_gguf import build_tiny_gguf

N = 10


def _add(gguf, file, alias, i, barrier, out):
    barrier.wait()  # all start their edit at once
    try:
        add_model(str(gguf), alias, False, set(), file=file)
        out.put((i, "ok"))
    except Exception as e:  # noqa: BLE001 (reported to the test)
        out.put((i, repr(e)))


def _run_all(target, args_of, n):
    ctx = mp.get_context("fork")
    barrier, out = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args_of(i), barrier, out)) for i in range(n)]
    for p in procs:
        p.start()
    results = dict(out.get(timeout=60) for _ in procs)
    for p in procs:
        p.join(30)
    return results


def test_concurrent_adds_in_processes_lose_no_entry(tmp_path):
    gguf = build_tiny_gguf(tmp_path / "t.gguf")
    file = tmp_path / "cfg" / "models.toml"
    results = _run_all(_add, lambda i: (gguf, file, f"m{i}", i), N)
    assert set(results.values()) == {"ok"}, results
    models = tomllib.loads(file.read_text())["models"]
    assert sorted(models) == sorted(f"m{i}" for i in range(N))


def _rm(file, alias, barrier, out):
    barrier.wait()
    try:
        remove_model(alias, file=file)
        out.put((alias, "ok"))
    except Exception as e:  # noqa: BLE001
        out.put((alias, repr(e)))


def test_concurrent_removes_and_one_alias_added_twice(tmp_path):
    gguf = build_tiny_gguf(tmp_path / "t.gguf")
    file = tmp_path / "cfg" / "models.toml"
    for i in range(N):
        add_model(str(gguf), f"m{i}", False, set(), file=file)
    results = _run_all(_rm, lambda i: (file, f"m{i}"), N // 2)
    assert set(results.values()) == {"ok"}, results
    left = tomllib.loads(file.read_text())["models"]
    assert sorted(left) == sorted(f"m{i}" for i in range(N // 2, N))
    # the same new alias from two processes: one adds it, the other is refused in one line
    twice = _run_all(_add, lambda i: (gguf, file, "same", i), 2)
    assert sorted(v == "ok" for v in twice.values()) == [False, True], twice
    assert "already names a model" in [v for v in twice.values() if v != "ok"][0]
