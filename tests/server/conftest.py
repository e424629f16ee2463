"""Fixtures of the server tests: `eager serve` subprocesses with the tiny GGUF.

``plain_server``: the tiny model (no chat template), an API key, default limits;
shared by a module's tests. ``start_server`` starts more when a test needs
other options (a template, a queue of 0) or ends the server itself.
"""

from __future__ import annotations

import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")
pytest.importorskip("openai")

from serve_process import KEY, TEMPLATE, ServerProcess  # noqa: E402


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
    s = ServerProcess(tiny_gguf, tmp_path_factory.mktemp("serve"), "--api-key", KEY,
                      "--allow-origin", "http://app.example")
    yield s
    s.kill()
