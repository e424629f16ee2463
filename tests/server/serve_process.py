"""`eager serve` in a subprocess on a free loopback port, for the server tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import openai

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

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        done.wait(timeout)
        if not found:
            err = self.stderr()
            self.kill()
            raise RuntimeError(f"server did not start: {err}")
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

    def wait(self, timeout: float = 30.0) -> int:
        """The exit code, once the process and its printed lines are all in."""
        code = self.proc.wait(timeout)
        self.reader.join(timeout)
        return code

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
