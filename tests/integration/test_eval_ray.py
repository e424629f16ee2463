"""`eager eval --ray` on a Ray cluster this module starts on loopback (2 CPUs, the tiny GGUF):
the records equal a local run's, a worker killed mid-run loses no prompt and doubles none,
and SIGINT on the driver leaves a file that --resume (here: a local run) finishes."""

import json
import logging
import os
import signal
import sys
import time
from collections import Counter

import pytest
from eval_files import start, wait_for_lines, without_times, write_items

from eager_local.cli import main as eager

ray = pytest.importorskip("ray")

# Ray binds to the machine's outward address unless it takes this one for a laptop's
# (loopback); the variable is read when ray is imported (the head, its workers and the
# driver started below read it then), the constant by this process's ray.init.
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

# cold prompts: a warm one matches a cold one only up to llama.cpp's batch-shape rounding
RUN = ["--no-prefix-cache", "--n-ctx", "4096", "--shots", "1", "--theta", "2.0", "-M", "4", "--concurrency", "1"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A Ray head on 127.0.0.1 with 2 CPUs; its address. The workers it starts read the
    eager-local home set here (not the user's)."""
    from ray._private import ray_constants

    env = {**LOOPBACK, "EAGER_LOCAL_HOME": str(tmp_path_factory.mktemp("ray-home"))}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    was, ray_constants.ENABLE_RAY_CLUSTER = ray_constants.ENABLE_RAY_CLUSTER, False
    try:
        ctx = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                       logging_level=logging.WARNING)
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = was
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.update({k: v})
    address = ctx.address_info["gcs_address"]
    assert address.startswith("127.0.0.1:")  # loopback only
    yield address
    ray.shutdown()


def by_key(path):
    """{(phase, id): record without its times}; fails on a prompt recorded twice."""
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    keys = Counter((r["phase"], r["id"]) for r in recs)
    assert max(keys.values()) == 1, keys.most_common(3)
    out = {}
    for r in recs:
        out[(r["phase"], r["id"])] = without_times(r)
    return out


def test_a_ray_run_records_what_a_local_run_does(tmp_path, tiny_gguf, cluster, capsys):
    data = write_items(tmp_path / "d.jsonl", 6)
    common = [str(data), "--model", str(tiny_gguf), *RUN, "--method", "eager-adapt", "-T", "24"]
    assert eager(["eval", *common, "--threads", "1", "--out", str(tmp_path / "local.jsonl")]) == 0
    assert eager(["eval", *common, "--out", str(tmp_path / "ray.jsonl"),
                  "--ray", cluster, "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert "note: Ray: 2 workers, 0 died, 0 prompts retried" in err
    local, on_ray = by_key(tmp_path / "local.jsonl"), by_key(tmp_path / "ray.jsonl")
    assert len(local) == 12  # init and final of 6 prompts
    # one prompt at a time per worker: the same batch shapes as locally, so the same records
    assert on_ray == local
    assert cpus_come_back()  # the run let its workers go


def actor_gone(actor, deadline_s=90.0) -> bool:
    """The actor answers no more (ray.kill is asynchronous: a call may still be served first)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        try:
            ray.get(actor.__ray_ready__.remote(), timeout=10)
        except ray.exceptions.RayActorError:
            return True
        except ray.exceptions.GetTimeoutError:
            pass
        time.sleep(0.1)
    return False


def cpus_come_back(deadline_s=90.0) -> bool:
    """Both CPUs free again (ray.kill returns before the actor is gone)."""
    end = time.monotonic() + deadline_s
    while ray.available_resources().get("CPU") != 2:
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def test_a_killed_worker_loses_no_prompt_and_doubles_none(tmp_path, tiny_gguf, cluster):
    from eager_local.api import load
    from eager_local.evaluation.answers import Checker
    from eager_local.evaluation.datasets import load_dataset
    from eager_local.evaluation.prompts import choose_format
    from eager_local.evaluation.ray_workers import RayWorkers
    from eager_local.evaluation.runner import Runner
    from eager_local.settings import Settings

    n = 12
    ds = load_dataset(str(write_items(tmp_path / "d.jsonl", n)))
    fmt = choose_format(ds, "raw", shots=1)
    s = Settings(theta=2.0, max_seqs=4, max_new_tokens=48)
    model = load(str(tiny_gguf), n_ctx=4096, n_threads=1, prefix_cache=False)
    try:
        Runner(model, ds, fmt, Checker("numeric"), "eager", s, str(tmp_path / "local.jsonl")).run()
    finally:
        model.close()
    assert cpus_come_back()  # the last test's workers are gone (a busy machine is slow to free them)
    pool = RayWorkers.open(cluster, str(tiny_gguf), {"n_ctx": 4096, "n_threads": 1, "n_gpu_layers": 0,
                                                   "prefix_cache": False},
                           workers=2)
    killed = []

    def kill_one(p):  # after the first record both workers hold a prompt: kill one of them
        if p.done == 1 and not killed:
            killed.append(pool.actors[0])
            ray.kill(killed[0])

    try:
        Runner(pool, ds, fmt, Checker("numeric"), "eager", s, str(tmp_path / "ray.jsonl"),
               on_progress=kill_one, workers=pool).run()
    finally:
        pool.close()
    assert killed and pool.died == 1 and pool.retried == 1 and len(pool.notes) == 1
    on_ray = by_key(tmp_path / "ray.jsonl")
    assert sorted(on_ray) == sorted(("final", f"i{i}") for i in range(n))  # each once, none lost
    assert on_ray == by_key(tmp_path / "local.jsonl")
    assert cpus_come_back()


def test_when_every_worker_dies_the_file_resumes(tmp_path, tiny_gguf, cluster):
    from eager_local.errors import RayError
    from eager_local.evaluation.ray_workers import RayWorkers

    data = write_items(tmp_path / "d.jsonl", 8)
    common = [str(data), "--model", str(tiny_gguf), *RUN, "--method", "eager", "-T", "48", "--threads", "1"]
    out = tmp_path / "o.jsonl"
    assert cpus_come_back()  # the last test's workers are gone (a busy machine is slow to free them)
    pool = RayWorkers.open(cluster, str(tiny_gguf), {"n_ctx": 4096, "n_threads": 1, "n_gpu_layers": 0,
                                                   "prefix_cache": False},
                           workers=2)
    runner = ray_runner(common, out, pool)

    def kill_all(p):
        if p.done == 1:
            for a in list(pool.actors):
                ray.kill(a)

    runner.on_progress = kill_all
    try:
        with pytest.raises(RayError) as e:
            runner.run()
    finally:
        pool.close()
    assert "every Ray worker died (2 of 2)" in e.value.one_line() and pool.retried >= 2
    assert 1 <= len(by_key(out)) < 8
    assert eager(["eval", *common, "--out", str(out), "--resume"]) == 0
    assert sorted(by_key(out)) == sorted(("final", f"i{i}") for i in range(8))
    assert cpus_come_back()


def test_a_worker_lost_between_runs_is_left_out(tmp_path, tiny_gguf, cluster):
    """As in a sweep: one pool, several runs; a worker that died in between is dropped."""
    from eager_local.evaluation.ray_workers import RayWorkers

    data = write_items(tmp_path / "d.jsonl", 4)
    common = [str(data), "--model", str(tiny_gguf), *RUN, "--method", "eager", "-T", "24", "--threads", "1"]
    assert cpus_come_back()  # the last test's workers are gone (a busy machine is slow to free them)
    pool = RayWorkers.open(cluster, str(tiny_gguf), {"n_ctx": 4096, "n_threads": 1, "n_gpu_layers": 0,
                                                   "prefix_cache": False},
                           workers=2)
    try:
        ray_runner(common, tmp_path / "a.jsonl", pool).run()
        victim = pool.actors[0]
        ray.kill(victim)
        assert actor_gone(victim)  # dead before the next run starts
        ray_runner(common, tmp_path / "b.jsonl", pool).run()
    finally:
        pool.close()
    assert (pool.died, pool.retried, len(pool.actors)) == (1, 0, 0)  # closed: none left
    assert by_key(tmp_path / "a.jsonl") == by_key(tmp_path / "b.jsonl")
    assert cpus_come_back()


def test_workers_decoding_several_prompts_together_lose_none_when_one_dies(tmp_path, tiny_gguf, cluster):
    """--concurrency 3 on Ray: each worker takes 3 prompts at a time through its scheduler;
    one worker killed: its prompts go to the other. Same ids, methods and settings as a
    local run; tokens may differ (the batch-shape caveat, docs/reliability.md)."""
    from eager_local.evaluation.ray_workers import RayWorkers

    n = 12
    data = write_items(tmp_path / "d.jsonl", n)
    common = [str(data), "--model", str(tiny_gguf), *RUN, "--method", "eager", "-T", "48", "--threads", "1"]
    assert eager(["eval", *common, "--out", str(tmp_path / "local.jsonl")]) == 0
    assert cpus_come_back()  # the last test's workers are gone (a busy machine is slow to free them)
    pool = RayWorkers.open(cluster, str(tiny_gguf), {"n_ctx": 4096, "n_threads": 1, "n_gpu_layers": 0,
                                                   "prefix_cache": False},
                           workers=2, per_worker=3)
    runner = ray_runner(common, tmp_path / "ray.jsonl", pool)
    runner.on_progress = lambda p: ray.kill(pool.actors[0]) if p.done == 3 and pool.died == 0 else None
    try:
        runner.run()
    finally:
        pool.close()
    assert pool.died == 1 and 1 <= pool.retried <= 3
    on_ray, local = by_key(tmp_path / "ray.jsonl"), by_key(tmp_path / "local.jsonl")
    assert sorted(on_ray) == sorted(local) == sorted(("final", f"i{i}") for i in range(n))
    for k in local:
        assert [on_ray[k][f] for f in ("id", "method", "settings")] == [local[k][f] for f in ("id", "method", "settings")]
    assert cpus_come_back()


def ray_runner(argv, out, pool):
    """The Runner `eager eval ARGV --out OUT` would build, on ``pool``."""
    from eager_local.cli import build_parser
    from eager_local.cli.eval import check_eval_args
    from eager_local.evaluation.answers import Checker
    from eager_local.evaluation.runner import Runner

    args = build_parser().parse_args(["eval", *argv, "--out", str(out)])
    method, base, ds, fmt = check_eval_args(args)
    return Runner(pool, ds, fmt, Checker(ds.kind), method, base, str(out), workers=pool)


def test_sigint_on_the_driver_then_a_local_resume(tmp_path, tiny_gguf, cluster):
    n = 40
    data = write_items(tmp_path / "d.jsonl", n)
    common = [str(data), "--model", str(tiny_gguf), *RUN, "--method", "eager-adapt", "-T", "24",
              "--threads", "1"]
    whole, cut = tmp_path / "whole.jsonl", tmp_path / "cut.jsonl"
    assert eager(["eval", *common, "--out", str(whole)]) == 0
    p = start([sys.executable, "-m", "eager_local", "eval", *common, "--out", str(cut),
               "--ray", cluster, "--workers", "2"], env={**os.environ, **LOOPBACK})
    wait_for_lines(cut, 3)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    assert "note: Ray: 2 workers, 0 died, 0 prompts retried" in err
    n_cut = cut.read_text().count("\n")
    assert 3 <= n_cut < 2 * n  # stopped part-way, every line whole
    print(f"SIGINT left {n_cut} of {2 * n} records")
    by_key(cut)  # no prompt twice
    assert eager(["eval", *common, "--out", str(cut), "--resume"]) == 0  # a Ray file resumes locally
    assert by_key(cut) == by_key(whole)


def test_a_worker_that_cannot_open_the_model_is_one_line(tmp_path, cluster):
    from eager_local.errors import ModelError
    from eager_local.evaluation.ray_workers import RayWorkers

    with pytest.raises(ModelError) as e:
        RayWorkers.open(cluster, str(tmp_path / "nowhere.gguf"), {"n_threads": 1}, workers=1)
    line = e.value.one_line()
    assert "\n" not in line and "a Ray worker on" in line and "nowhere.gguf" in line
    assert "same path" in line
    assert cpus_come_back()  # the workers that failed are gone


def test_worker_options_need_ray(tmp_path, capsys):
    data = write_items(tmp_path / "d.jsonl", 2)
    assert eager(["eval", str(data), "--out", str(tmp_path / "o.jsonl"), "--workers", "2"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "settings: --workers is for a run on Ray: add --ray (auto, or the cluster's address)"]
