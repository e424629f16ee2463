"""Hostile snippets in the sandbox: each is stopped, reported as failed, and the evaluator lives on."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import pytest

from eager_local.evaluation.sandbox import STATUSES, SandboxResult, run_untrusted


def test_a_correct_program_passes():
    result = run_untrusted("def add(a, b):\n    return a + b\nassert add(2, 3) == 5\nprint('fine')\n")
    assert result == SandboxResult(passed=True, status="ok", output="fine\n")


def test_a_wrong_program_fails_with_its_traceback():
    result = run_untrusted("def add(a, b):\n    return a - b\nassert add(2, 3) == 5\n")
    assert not result.passed
    assert result.status == "failed"
    assert "AssertionError" in result.output
    assert "prelude" not in result.output  # the user sees their own frames only


def test_sys_exit_nonzero_fails_and_zero_passes():
    assert run_untrusted("import sys; sys.exit(3)").status == "failed"
    assert run_untrusted("import sys; sys.exit(0)").passed


def test_infinite_loop_is_stopped_by_cpu_limit():
    start = time.monotonic()
    result = run_untrusted("while True:\n    pass\n", timeout_s=20, cpu_s=1)
    assert (result.passed, result.status) == (False, "timeout")
    assert time.monotonic() - start < 10


def test_sleeping_forever_is_stopped_by_wall_time():
    start = time.monotonic()
    result = run_untrusted("import time\ntime.sleep(60)\n", timeout_s=1)
    assert (result.passed, result.status) == (False, "timeout")
    assert time.monotonic() - start < 5


@pytest.mark.parametrize(
    "snippet",
    [
        "import os\nwhile True:\n    os.fork()\n",
        "import subprocess\nsubprocess.run(['sh', '-c', ':(){ :|:& };:'])\n",
        "import os\nos.system('sleep 100 &')\n",
        "import multiprocessing\nmultiprocessing.Process(target=print).start()\n",
    ],
    ids=["os.fork", "subprocess", "os.system", "multiprocessing"],
)
def test_fork_bombs_are_refused(snippet):
    result = run_untrusted(snippet, timeout_s=5)
    assert not result.passed
    assert result.status == "refused", result.output


def test_raw_fork_through_ctypes_is_not_available():
    result = run_untrusted("import ctypes\nprint(ctypes.CDLL(None).fork())\n", timeout_s=5)
    assert not result.passed


@pytest.mark.parametrize(
    "snippet",
    ["x = bytearray(4 * 1024 ** 3)\n", "a = []\nwhile True:\n    a.append(' ' * 10 ** 6)\n"],
    ids=["one-block", "growing"],
)
def test_memory_hog_is_stopped(snippet):
    result = run_untrusted(snippet, memory_mb=256, timeout_s=20)
    assert (result.passed, result.status) == (False, "memory")


@pytest.mark.parametrize(
    "how",
    [
        "open(TARGET, 'w').write('escaped')",
        "import os\nfd = os.open(TARGET, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'escaped')",
        "import pathlib\npathlib.Path(TARGET).write_text('escaped')",
        "open('../' + TARGET.rsplit('/', 1)[1], 'w').write('escaped')",
    ],
    ids=["open", "os.open", "pathlib", "relative"],
)
def test_writing_outside_the_temp_dir_is_refused(tmp_path, how):
    target = tmp_path / "escaped.txt"
    result = run_untrusted(f"TARGET = {str(target)!r}\n{how}\n", timeout_s=5)
    assert not result.passed
    assert result.status in ("refused", "failed"), result.output
    assert not target.exists()
    assert not (Path(tempfile.gettempdir()) / "escaped.txt").exists()  # the relative case


def test_deleting_outside_the_temp_dir_is_refused(tmp_path):
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    result = run_untrusted(f"import os\nos.remove({str(victim)!r})\n", timeout_s=5)
    assert not result.passed
    assert victim.read_text() == "keep me"


def test_writing_inside_the_temp_dir_works():
    result = run_untrusted("open('scratch.txt', 'w').write('hi')\nprint(open('scratch.txt').read())\n")
    assert result.passed and result.output == "hi\n"


def test_huge_output_is_cut_and_the_child_killed():
    start = time.monotonic()
    result = run_untrusted("while True:\n    print('x' * 1000)\n", max_output=10_000, timeout_s=20)
    assert (result.passed, result.status) == (False, "output")
    assert len(result.output) == 10_000
    assert time.monotonic() - start < 10


def test_environment_secrets_do_not_reach_the_child(monkeypatch):
    monkeypatch.setenv("EAGER_TEST_SECRET", "hunter2-do-not-leak")
    code = (
        "import os\n"
        "print(sorted(os.environ))\n"
        "print(os.environ.get('EAGER_TEST_SECRET'))\n"
        "try:\n"
        "    print(open('/proc/%d/environ' % os.getppid(), 'rb').read())\n"
        "except OSError as e:\n"
        "    print('parent environ unreadable:', type(e).__name__)\n"
    )
    result = run_untrusted(code)
    assert "hunter2-do-not-leak" not in result.output
    assert result.output.splitlines()[0] == "['LANG', 'PATH']"


def test_the_child_starts_in_an_empty_temp_dir_that_is_removed():
    result = run_untrusted("import os\nprint(os.getcwd())\nprint(sorted(os.listdir('.')))\n")
    cwd, listing = result.output.splitlines()
    assert "eager-sandbox-" in cwd
    assert listing == "['prelude.py', 'solution.py']"
    assert not os.path.exists(cwd)


def test_a_crash_by_signal_is_reported():
    result = run_untrusted("import signal, os\nsignal.raise_signal(signal.SIGSEGV)\n", timeout_s=5)
    assert (result.passed, result.status) == (False, "crashed")


def test_the_evaluator_survives_a_run_of_hostile_snippets():
    hostile = [
        "while True: pass",
        "import os\nwhile True: os.fork()",
        "x = bytearray(4 * 1024 ** 3)",
        "while True: print('y' * 4096)",
        "import sys; sys.stdout.write('\\udcff'); raise SystemExit(1)",
    ]
    statuses = [run_untrusted(h, timeout_s=5, cpu_s=1, memory_mb=256).status for h in hostile]
    assert all(s in STATUSES and s != "ok" for s in statuses)
    assert run_untrusted("print(sum(range(10)))").output == "45\n"


@pytest.mark.parametrize("limits", [dict(timeout_s=-1), dict(cpu_s=0), dict(memory_mb=1), dict(max_output=-5),
                                    dict(timeout_s=float("nan"))])
def test_limits_out_of_range_are_refused(limits):
    from eager_local.errors import SettingsError

    with pytest.raises(SettingsError):
        run_untrusted("print(1)", **limits)
