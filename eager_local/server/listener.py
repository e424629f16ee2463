"""uvicorn around the app: bind the socket, print the URL, shut down cleanly on a signal.

Ctrl-C or SIGTERM cancels the running and waiting generations (their clients
get what was generated, or a 503), lets uvicorn close the connections, stops
the worker thread and returns normally, so ``eager serve`` exits with 0. A
second Ctrl-C stops waiting for connections to close.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import sys

import uvicorn

from ..errors import SettingsError
from .app import create_app
from .limits import ServerConfig


class _Server(uvicorn.Server):
    """uvicorn.Server that cancels the generations on a signal and does not re-raise it."""

    def __init__(self, config: uvicorn.Config, worker, url: str, announce) -> None:
        super().__init__(config)
        self._worker, self._url, self._announce = worker, url, announce
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets=None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().startup(sockets=sockets)
        if self.started:
            self._announce(self._url)

    def handle_exit(self, sig, frame) -> None:
        # runs in a signal handler: only hand the cancellation to the event loop
        if self._loop is not None and not self.should_exit:
            self._loop.call_soon_threadsafe(self._worker.cancel_all)
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: stop waiting for connections
        self.should_exit = True


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on ``host``:``port`` (SettingsError if it cannot be had)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise SettingsError(f"--host {host!r} is not an address of this machine ({e.strerror})") from None
    family, _, _, _, addr = infos[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(addr)
    except OSError as e:
        sock.close()
        raise SettingsError(f"cannot listen on {host}:{port} ({e.strerror}); choose another --port") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


def serve(model, cfg: ServerConfig, announce=None) -> None:
    """Serve ``model`` until a signal; return after a clean shutdown."""
    sock = bind(cfg.host, cfg.port)
    app = create_app(model, cfg)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on",
                            timeout_graceful_shutdown=30, limit_concurrency=cfg.max_queue + 256)
    server = _Server(config, app.state.worker, url_of(sock), announce or _print_url)
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
        app.state.worker.stop()  # done already unless a forced exit skipped the lifespan


def _print_url(url: str) -> None:
    print(f"eager serve: listening on {url}/v1 (Ctrl-C to stop)", flush=True)
    sys.stdout.flush()
