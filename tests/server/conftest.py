"""`eager serve` in a subprocess on a free loopback port, with the tiny GGUF.

``plain_server``: the tiny model (no chat template), an API key, default limits;
shared by the module's tests. ``start_server`` starts more when a test needs
other options (a template, a queue of 0) or ends the server itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
openai = pytest.importorskip("openai")

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-test-key"
#: A small ChatML-like template, enough to see the model's template at work.
TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


class ServerProcess:
    """One `python -m eager_local serve` child and the URL it printed."""

    def __init__(self, model: Path, home: Path, *extra: str) -> None:
        env = dict(os.environ, PYTHONPATH=str(ROOT), EAGER_LOCAL_HOME=str(home))
        env.pop("EAGER_API_KEY", None)
        self.log = open(home / "server.log", "w+")
        cmd = [sys.executable, "-m", "eager_local", "serve", "--model", str(model), "--port", "0",
               "--threads", "1", "--n-ctx", "1024", *extra]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                     stderr=self.log, text=True)
        self.lines: list[str] = []
        self.url = self._wait_url()
        self.base = self.url.removesuffix("/v1")

    def _wait_url(self, timeout: float = 60.0) -> str:
        found: list[str] = []
        done = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.lines.append(line)
                if not found and " on http://" in line:
                    found.append(line.split(" on ", 1)[1].split()[0])
                    done.set()
            done.set()

        threading.Thread(target=read, daemon=True).start()
        done.wait(timeout)
        if not found:
            self.kill()
            raise RuntimeError(f"server did not start: {self.stderr()}")
        return found[0]

    def stderr(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def client(self, key: str = KEY, **kw):
        return openai.OpenAI(base_url=self.url, api_key=key, max_retries=0, timeout=60, **kw)

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def stop(self, sig=signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="session")
def chat_gguf(tmp_path_factory):
    """The tiny GGUF with a chat template in its metadata."""
    import gguf
    from tiny_gguf import build_tiny_gguf

    add_name = gguf.GGUFWriter.add_name

    def add_name_and_template(self, name):
        add_name(self, name)
        self.add_chat_template(TEMPLATE)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(gguf.GGUFWriter, "add_name", add_name_and_template)
        return build_tiny_gguf(tmp_path_factory.mktemp("chat") / "tiny-chat.gguf")


@pytest.fixture
def start_server(tmp_path_factory):
    """Start servers for one test; every one still running is stopped afterwards."""
    started: list[ServerProcess] = []

    def start(model: Path, *extra: str) -> ServerProcess:
        s = ServerProcess(model, tmp_path_factory.mktemp("serve"), *extra)
        started.append(s)
        return s

    yield start
    for s in started:
        s.kill()


@pytest.fixture(scope="module")
def plain_server(tiny_gguf, tmp_path_factory):
    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--api-key", KEY)
    yield s
    s.kill()
