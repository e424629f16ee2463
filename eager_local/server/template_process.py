"""Chat templates rendered in a child process, within a time, memory and size bound.

A chat template comes inside a downloaded GGUF, so it is untrusted input: it
is rendered in jinja2's sandbox (no Python objects reachable), and in a child
process that holds only jinja2, so that a template that loops for minutes or
builds a string of gigabytes cannot stall or kill the server. The child has
an address-space limit (``CHILD_MEMORY``); its render is stopped after
``TEMPLATE_SECONDS`` (the child is killed, the next render starts another) and
refused once it writes more than ``TEMPLATE_MAX_CHARS``.

The child runs this file as a script (``python -I template_process.py``): it
imports nothing of eager_local, and reads one JSON request per line on stdin,
answering one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
import time

#: Longest a chat template may take to render one request, in seconds.
TEMPLATE_SECONDS = 2.0
#: Most characters a chat template may write for one request.
TEMPLATE_MAX_CHARS = 8 << 20
#: Address space of the rendering child, in bytes.
CHILD_MEMORY = 1 << 30


class TemplateRefused(Exception):
    """The template failed, called raise_exception ("it refused them: ..."), or went past
    a bound (one line)."""


class TemplateProcess:
    """The rendering child, started on first use and again after it was stopped."""

    def __init__(self, seconds: float = TEMPLATE_SECONDS) -> None:
        self.seconds = seconds
        self._proc: subprocess.Popen | None = None
        self._lock = threading.Lock()  # one render at a time: they take milliseconds

    def render(self, template: str, messages, bos: str, eos: str) -> str:
        """The template's text for ``messages``; raise TemplateRefused."""
        line = json.dumps({"template": template, "messages": [list(m) for m in messages],
                           "bos": bos, "eos": eos}) + "\n"
        with self._lock:
            proc = self._started()
            try:
                proc.stdin.write(line.encode())
                proc.stdin.flush()
                answer = self._read_line(proc)
            except OSError:
                answer = None
            if answer is None:
                self._stop()
                raise TemplateRefused(f"it ran longer than {self.seconds:g} s or ran out of memory "
                                      f"({CHILD_MEMORY >> 20} MiB)")
        reply = json.loads(answer)
        if "text" in reply:
            return reply["text"]
        raise TemplateRefused(reply["error"])

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _started(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-I", os.path.abspath(__file__)],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.DEVNULL)
        return self._proc

    def _read_line(self, proc: subprocess.Popen) -> bytes | None:
        """One line from the child before the deadline; None when time runs out or it died."""
        deadline = time.monotonic() + self.seconds
        fd, data = proc.stdout.fileno(), bytearray()
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                return None
            chunk = os.read(fd, 1 << 20)
            if not chunk or len(data) > 4 * TEMPLATE_MAX_CHARS + (1 << 20):
                return None
            data += chunk
        return bytes(data)

    def _stop(self) -> None:
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            for pipe in (self._proc.stdin, self._proc.stdout):
                pipe.close()
            self._proc = None


# --- the child: runs as a script, imports only jinja2 and the standard library ---

def _render_one(request: dict) -> dict:
    import jinja2
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class Refused(Exception):
        pass

    def raise_exception(message):
        raise Refused(str(message))

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = lambda fmt: time.strftime(str(fmt)[:200])
    parts, size = [], 0
    try:
        chunks = env.from_string(request["template"]).generate(
            messages=[{"role": r, "content": c} for r, c in request["messages"]],
            bos_token=request["bos"], eos_token=request["eos"], add_generation_prompt=True)
        for chunk in chunks:
            size += len(chunk)
            if size > TEMPLATE_MAX_CHARS:
                return {"error": f"it wrote more than {TEMPLATE_MAX_CHARS >> 20} Mi characters"}
            parts.append(chunk)
    except Refused as e:
        return {"error": f"it refused them: {e}"}
    except jinja2.exceptions.SecurityError as e:
        return {"error": f"it reached outside the sandbox ({e})"}
    except (MemoryError, RecursionError, OverflowError) as e:
        return {"error": f"it ran out of room ({type(e).__name__})"}
    except Exception as e:  # noqa: BLE001 (any other failure of the template itself)
        return {"error": f"it failed on them ({type(e).__name__}: {e})"}
    return {"text": "".join(parts)}


def _child() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (CHILD_MEMORY, CHILD_MEMORY))
    for line in sys.stdin:
        try:
            reply = _render_one(json.loads(line))
        except MemoryError:
            reply = {"error": "it ran out of room (MemoryError)"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    _child()
