"""`eager serve` refuses bad options in one line with exit code 2, before loading the model."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from serve_process import ROOT


def _serve(*args: str, home) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EAGER_LOCAL_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "eager_local", "serve", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("args,words", [
    (["--port", "70000"], "--port"),
    (["--max-queue", "-1"], "--max-queue"),
    (["--concurrency", "0"], "--concurrency"),
    (["--concurrency", "many"], "--concurrency"),
    (["--max-tokens", "0"], "--max-tokens"),
    (["--max-body", "10"], "--max-body"),
    (["--api-key", " "], "--api-key"),
    (["--host", "no-such-host.invalid"], "--host"),
    (["--model", "/nonexistent/model.gguf", "--port", "0"], "model"),
])
def test_bad_option(tmp_path, args, words):
    r = _serve(*args, home=tmp_path)
    assert r.returncode == 2, r.stderr
    assert words in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


def test_taken_port(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = _serve("--port", str(port), "--model", "/nonexistent/model.gguf", home=tmp_path)
    assert r.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in r.stderr and "Traceback" not in r.stderr


def test_help_names_the_options(tmp_path):
    r = _serve("--help", home=tmp_path)
    assert r.returncode == 0
    for opt in ("--host", "--port", "--api-key", "--max-queue", "--max-tokens", "--max-body", "--model"):
        assert opt in r.stdout
