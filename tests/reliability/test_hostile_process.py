"""Issue 10's crashes and aborts, tried on a real ``python -m eager_local`` process.

A segfault (139), an abort (134), an ignored Ctrl-C or a traceback only shows
when the process is real, so each case here starts one, on the tiny GGUF or a
hostile variant built at test time (tests/tiny_gguf.py), and checks: the exit
code asked for, and at most one line on standard error, never a traceback.
Every case id is a row of docs/bad-input.md.
"""

from __future__ import annotations

import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tiny_gguf import build_tiny_gguf

ROOT = Path(__file__).resolve().parents[2]
EAGER = [sys.executable, "-m", "eager_local"]
#: a run that branches and prints for a while on the tiny model
LONG_RUN = ["run", "the cat", "-T", "200", "-M", "8", "--theta", "0.3", "--n-ctx", "2048", "--threads", "1"]


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(ROOT), e.get("PYTHONPATH", "")])
    return e


def eager(*args, timeout=120, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([*EAGER, *map(str, args)], capture_output=True, text=True, env=env(),
                          timeout=timeout, **kw)


def one_line(proc, code: int = 2, *fragments: str) -> str:
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr, proc.stderr
    assert len(lines) == 1, proc.stderr
    for f in fragments:
        assert f in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    d = tmp_path_factory.mktemp("hostile")
    return {
        "arch": build_tiny_gguf(d / "arch.gguf", arch="nosucharch"),
        "bert": build_tiny_gguf(d / "bert.gguf", arch="bert"),
        "nobytes": build_tiny_gguf(d / "nobytes.gguf", byte_tokens=False),
        "nan": build_tiny_gguf(d / "nan.gguf", nan_weights=True),
    }


# ---------------------------------------------------------------- class 1: use after free

@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["live", "json"])
def test_run_into_a_closed_pipe(tiny_gguf, extra):
    """`run-head-pipe`: the reader goes away (| head): exit 0 both ways, never 139."""
    p = subprocess.Popen([*EAGER, *LONG_RUN, "-m", str(tiny_gguf), *extra], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env())
    p.stdout.read(20)
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert "Traceback" not in err and not err.strip(), err


@pytest.mark.parametrize("extra", [[], ["--json"]], ids=["live", "json"])
def test_run_into_a_full_stdout(tiny_gguf, extra):
    """`run-dev-full`: > /dev/full: one line, exit 2, never 139."""
    with open("/dev/full", "w") as full:
        proc = subprocess.run([*EAGER, *LONG_RUN, "-m", str(tiny_gguf), *extra], stdout=full,
                              stderr=subprocess.PIPE, text=True, env=env(), timeout=120)
    one_line(proc, 2, "output:", "standard output")


def test_closed_model_refuses_and_a_suspended_stream_is_finished_first(tiny_gguf):
    """`model-closed`: Model.run after close() (was abort 134) and a stream left
    suspended across close() (was a use after free) in one real process."""
    script = f"""
import gc
from eager_local import load, EagerError
m = load({str(tiny_gguf)!r}, n_ctx=512, n_threads=1, hash_file=False)
events = m.stream("the cat", max_new_tokens=50, max_seqs=4, theta=0.3)
next(events); next(events)
m.close()
del events; gc.collect()
try:
    m.run("the cat")
except EagerError as e:
    print(e.one_line())
m.close()
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "was closed: load it again" in proc.stdout


def test_close_finishes_suspended_many_prompt_streams_and_schedulers(tiny_gguf):
    """`model-closed` for the scheduler's faces: a suspended stream_many and a scheduler
    given runs by submit are finished by close() (no use after free), then refused."""
    script = f"""
import gc
from eager_local import load, EagerError
from eager_local.decoding.scheduler import for_concurrency
m = load({str(tiny_gguf)!r}, n_ctx=512, n_threads=1, hash_file=False)
many = m.stream_many(["the cat", "the dog"], max_new_tokens=50, max_seqs=2)
next(many); next(many)
sch = for_concurrency(m.engine, 2)
m.submit(sch, "the bird", max_new_tokens=50, max_seqs=2)
mine = sch.events()
next(mine); next(mine)
m.close()
print("many", next(many, "done"))
print("mine", next(mine, "done"))
del many, mine; gc.collect()
for face in (lambda: sch.events(), lambda: m.run_many(["the cat"]), lambda: m.submit(sch, "the cat")):
    try:
        face()
    except EagerError as e:
        print(e.one_line())
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "many done" in proc.stdout and "mine done" in proc.stdout
    assert "scheduler was closed" in proc.stdout and proc.stdout.count("was closed: load it again") == 2


# ---------------------------------------------------------------- class 5: signals during start-up

@pytest.mark.parametrize("command", ["run", "eval"])
def test_ctrl_c_at_any_moment_of_start_up(tiny_gguf, tmp_path, command):
    """`sigint-startup`: SIGINT at 12 moments from 0.05 s to 1.7 s: exit 130 and one line each time
    (a signal that lands while Python itself starts, before eager_local is imported, is
    Python's and keeps its traceback). Never death by SIGINT (-2), never a run that goes on."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"id": "{i}", "question": "the cat {i}", "answer": "1"}}\n' for i in range(50)))
    args = {"run": ["run", "the cat", "-T", "3000", "-M", "8", "--method", "parallel", "--n-ctx", "32768"],
            "eval": ["eval", data, "--out", tmp_path / "o.jsonl", "-T", "200", "-M", "8", "--shots", "0",
                     "--n-ctx", "4096"]}[command]
    for delay in (0.05, 0.2, 0.25, 0.3, 0.35, 0.45, 0.55, 0.7, 0.85, 1.05, 1.3, 1.7):
        if command == "eval":
            (tmp_path / "o.jsonl").unlink(missing_ok=True)
        p = subprocess.Popen([*EAGER, *map(str, args), "-m", str(tiny_gguf), "--threads", "1"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env(),
                             preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        err = p.communicate(timeout=120)[1]
        if "Traceback" in err and "eager_local" not in err:
            continue  # the interpreter itself was still starting (runpy): before any of our code
        if p.returncode == -signal.SIGINT and not err.strip():
            continue  # so early (a loaded machine) that Python had not set its own handler yet
        assert p.returncode == 130, (delay, err)
        assert "Traceback" not in err and "Exception ignored" not in err, (delay, err)
        assert len([ln for ln in err.splitlines() if ln.strip() and "█" not in ln and "━" not in ln]) <= 2, err


def test_ctrl_c_swallowed_by_a_library_is_raised_again_at_the_next_step(tiny_gguf):
    """`sigint-swallowed`: a Ctrl-C that some library turns into nothing (numpy's Cython
    module init did, once) still ends the command: the next decode step raises it again."""
    script = f"""
import os, signal, time
from eager_local import startup, load
startup.guard()
startup.arm()
m = load({str(tiny_gguf)!r}, n_ctx=512, n_threads=1, hash_file=False)
try:
    os.kill(os.getpid(), signal.SIGINT)
    time.sleep(1)
except KeyboardInterrupt:
    pass  # a library that swallows it
try:
    m.run("the cat", max_new_tokens=8, max_seqs=2)
    print("ran on")
except KeyboardInterrupt:
    print("interrupted")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.stdout.strip() == "interrupted", proc.stdout + proc.stderr


def test_ctrl_c_inside_the_llama_log_callback_is_not_swallowed():
    """`sigint-log-callback`: a SIGINT that lands while llama.cpp's log callback runs
    (ctypes would print "Exception ignored" and carry on) interrupts the command."""
    script = """
import os, signal, sys
from eager_local import startup
startup.guard()
startup.arm()  # the command has started: Ctrl-C raises KeyboardInterrupt
from eager_local.engine import native as L

class Tail(list):
    def append(self, x):
        os.kill(os.getpid(), signal.SIGINT)  # the signal arrives inside the callback
        super().append(x)

L._log_tail = Tail()
try:
    L._log(2, b"loading", None)
    for _ in range(10**8):
        pass
    print("ran on")
except KeyboardInterrupt:
    print("interrupted")
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.stdout.strip() == "interrupted", proc.stdout + proc.stderr
    assert "Exception ignored" not in proc.stderr


# ---------------------------------------------------------------- class 6: inputs llama.cpp cannot honour

@pytest.mark.parametrize("case, key, fragments", [
    ("gguf-no-byte-tokens", "nobytes", ["256 bytes", "missing"]),
    ("gguf-encoder-only", "bert", ["encoder-only", "'bert'"]),
    ("gguf-nan-weights", "nan", ["NaN"]),
    ("gguf-unknown-architecture", "arch", ["unknown model architecture: 'nosucharch'"]),
])
def test_models_llama_cpp_cannot_honour(hostile, case, key, fragments):
    proc = eager("run", "the cat ü € ∑ 🙂", "-T", "4", "--n-ctx", "256", "-m", hostile[key])
    one_line(proc, 2, "model:", *fragments)


def test_a_layer_count_llama_cpp_asserts_on(tiny_gguf, tmp_path):
    """`gguf-layer-count`: block_count 514 (found by the fuzz suite: GGML_ASSERT, abort 134)."""
    data = bytearray(Path(tiny_gguf).read_bytes())
    key = b"llama.block_count"
    at = data.index(key) + len(key) + 4  # after the value's type
    data[at:at + 4] = (514).to_bytes(4, "little")
    p = tmp_path / "layers.gguf"
    p.write_bytes(data)
    one_line(eager("run", "the cat", "-T", "2", "-m", p), 2, "model:", "block_count = 514 is out of range")


@pytest.mark.parametrize("threads", ["100000", "10000000000", "513"])
def test_absurd_thread_counts(tiny_gguf, threads):
    """`threads-absurd`: was a segfault (100000) or std::bad_alloc (more)."""
    one_line(eager("run", "the cat", "-T", "2", "-m", tiny_gguf, "--threads", threads), 2,
             "--threads must be between 1 and 512")


# ---------------------------------------------------------------- classes 3, 10, 12: special files

def test_a_fifo_is_refused_and_never_blocks(tiny_gguf, tmp_path):
    """`fifo-input`, `fifo-output`: nothing opens a FIFO (it would block forever)."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    one_line(eager("run", "-f", fifo, "-m", tiny_gguf, timeout=60), 2, "FIFO")
    one_line(eager("report", fifo, timeout=60), 2, "FIFO")
    one_line(eager("eval", tmp_path / "nothing.jsonl", "--out", fifo, "-m", tiny_gguf, timeout=60), 2, "FIFO")


def test_out_is_the_redirected_stdout(tiny_gguf, tmp_path):
    """`out-is-stdout`: --out /dev/stdout > f would interleave the table with records."""
    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "1", "question": "the cat", "answer": "1"}\n')
    with open(tmp_path / "f.txt", "w") as f:
        proc = subprocess.run([*EAGER, "eval", str(data), "--out", "/dev/stdout", "-m", str(tiny_gguf)],
                              stdout=f, stderr=subprocess.PIPE, text=True, env=env(), timeout=120)
    one_line(proc, 2, "standard output")


def test_a_full_disk_while_writing_records(tiny_gguf, tmp_path):
    """`out-disk-full`: a write that fails (here: the file-size limit, EFBIG) is one line."""
    data = tmp_path / "d.jsonl"
    data.write_text("".join(f'{{"id": "{i}", "question": "the cat {i}", "answer": "1"}}\n' for i in range(3)))

    def limit():
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (1000, 1000))

    proc = subprocess.run([*EAGER, "eval", str(data), "--out", str(tmp_path / "o.jsonl"), "-m", str(tiny_gguf),
                           "-T", "8", "-M", "2", "--shots", "0", "--n-ctx", "512", "--threads", "1"],
                          capture_output=True, text=True, env=env(), timeout=120, preexec_fn=limit)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert "cannot write run file" in proc.stderr and "larger than this system allows" in proc.stderr


def test_non_utf8_arguments(tiny_gguf):
    """`args-not-utf8`: bytes that are not UTF-8 as the prompt, --stop or -m."""
    bad = os.fsdecode(b"\xff\xfe")
    one_line(eager("run", bad, "-m", tiny_gguf, "--json"), 2, "prompt:", "not UTF-8")
    one_line(eager("run", "the cat", "-m", tiny_gguf, "--json", "--stop", bad), 2, "stop strings", "UTF-8")
    one_line(eager("run", "the cat", "-m", bad + ".gguf"), 2, "model:", "not valid UTF-8")


# ---------------------------------------------------------------- class 4: hangs

def test_answer_checking_of_a_power_tower_returns():
    """`answer-power-tower`: was a hang Ctrl-C could not stop (sympy/GMP evaluating 2^2^2^2^2^2)."""
    script = r"""
from eager_local.evaluation.answers import Checker
from eager_local.evaluation.datasets import Item
c = Checker("numeric")
for text in [r"\boxed{2^{2^{2^{2^{2^{2}}}}}}", r"\boxed{9^{9^{9}}}", r"\boxed{(10^{10})!}",
             "The answer is 2**2**2**2**2**2", r"\boxed{4}"]:
    v = c.check(Item("a", "q", "4"), "so " + text)
    print(v.correct, v.detail)
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:4] == ["False answer too large to check"] * 4 and lines[4] == "True "


def test_stdout_closed(tiny_gguf):
    """`stdout-closed`: `eager run --json >&-` (was a traceback)."""
    proc = subprocess.run([*EAGER, "run", "the cat", "-m", str(tiny_gguf), "--json", "-T", "2"],
                          stdout=None, stderr=subprocess.PIPE, text=True, env=env(), timeout=120,
                          preexec_fn=lambda: os.close(1))
    one_line(proc, 2, "output:", "standard output is closed")


# ---------------------------------------------------------------- class 7: several processes at once

SLOW_PACKAGE = """
import hashlib, itertools, time
from pathlib import Path
HERE = Path(__file__).parent
MODEL_NAME = "slow.gguf"
DATA = bytes(range(256)) * 4096  # 1 MiB
EXPECTED_SHA256 = hashlib.sha256(DATA).hexdigest()
_calls = itertools.count(1)
def chunk_paths():
    return [HERE / "slow_chunk.bin"]
def assemble(target, overwrite=False):
    # like the real package: write the file in place, block by block, then check its
    # sha256; the second caller's disk is slower (contention)
    pause = 0.05 * next(_calls)
    with open(target, "wb") as f:
        for i in range(0, len(DATA), 1 << 17):
            f.write(DATA[i : i + (1 << 17)])
            f.flush()
            time.sleep(pause)
    if hashlib.sha256(Path(target).read_bytes()).hexdigest() != EXPECTED_SHA256:
        raise ValueError("Assembled file sha256 did not match expected value")
    return Path(target)
"""


def test_two_commands_assemble_the_embedded_model_at_once(tmp_path, monkeypatch):
    """`first-use-race`: on a fresh machine two commands (or Ray workers) start at once and
    both assemble the embedded model. The package writes in place, so the second one used
    to truncate the first one's half-written file: its sha256 check failed (or a reader
    mapped a file being rewritten). Each now writes its own file and renames it into place."""
    import threading

    from eager_local.models.registry import ModelSpec, model_path

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "slow_model_pkg.py").write_text(SLOW_PACKAGE)
    (pkg / "slow_chunk.bin").write_bytes(bytes(range(256)) * 4096)
    monkeypatch.syspath_prepend(str(pkg))
    monkeypatch.setenv("EAGER_LOCAL_HOME", str(tmp_path / "home"))  # a cache of its own
    spec = ModelSpec("slow", package="slow_model_pkg")
    results, errors = [], []

    def first_use():
        try:
            results.append(model_path(spec))
        except Exception as e:  # noqa: BLE001 (the test reports it)
            errors.append(e)

    threads = [threading.Thread(target=first_use) for _ in range(2)]
    threads[0].start()
    time.sleep(0.2)  # the second starts while the first is half-way
    threads[1].start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    import slow_model_pkg

    assert len(results) == 2 and results[0] == results[1]
    assert results[0].read_bytes() == slow_model_pkg.DATA
    assert [p.name for p in results[0].parent.iterdir()] == ["slow.gguf"]  # no part file left


def test_three_processes_assemble_the_embedded_model_at_once(tmp_path):
    """`first-use-race`, with the real package: three processes at once all get the whole file."""
    import hashlib

    from eager_local.models.registry import expected_sha256, load_registry

    script = """
from eager_local.models.registry import load_registry, model_path
print(model_path(load_registry().get(None)))
"""
    e = {**env(), "EAGER_LOCAL_HOME": str(tmp_path / "home")}
    procs = [subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=e) for _ in range(3)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], [err[-800:] for _, err in outs]
    paths = {out.strip() for out, _ in outs}
    assert len(paths) == 1
    target = Path(paths.pop())
    h = hashlib.sha256()
    with target.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    assert h.hexdigest() == expected_sha256(load_registry().get(None))
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no part file left
