"""Ctrl-C and SIGTERM as a request to stop after the current write.

Inside ``stop_on_signals()`` the first SIGINT or SIGTERM only sets a
``threading.Event``; the controller checks it once per decoding step, the runner
drops the unfinished prompt and returns, so no record is ever half-written.
A second signal raises ``KeyboardInterrupt`` at once.
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

from ..startup import deferred, interrupt

#: Exit codes: 128 + the signal number, as shells report them.
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


class StopRequest:
    """The event to pass as ``cancel`` and the signal that set it."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signum: int | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)


@contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    req = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield req  # signal handlers can only be set from the main thread
        return

    def handler(signum, frame):
        if req.event.is_set():
            if deferred(signum, frame):  # inside llama.cpp's log callback: raised once out of it
                return
            interrupt()
        req.signum = signum
        req.event.set()

    # a signal the process was started with ignored (nohup, a background job of a
    # script) stays ignored: the user asked for that
    caught = [s for s in EXIT_CODES if signal.getsignal(s) is not signal.SIG_IGN]
    old = {s: signal.signal(s, handler) for s in caught}
    try:
        yield req
    finally:
        for s, h in old.items():
            signal.signal(s, h)
