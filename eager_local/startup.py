"""Ctrl-C while the ``eager`` command starts: exit 130 with one line, at any moment.

Two traps are closed here, before llama_cpp is imported:

- a KeyboardInterrupt raised while Python imports eager-local (the first second)
  would print a traceback; the CLI turns it into ``eager: interrupted`` and 130;
- a KeyboardInterrupt raised inside llama.cpp's log callback (a Python function
  that C calls while the model loads) is swallowed by ctypes ("Exception ignored
  ... KeyboardInterrupt") and the command would run on to the end. The handler
  below sees that it is inside such a callback and leaves the signal pending, so it
  is handled as soon as Python code outside the callback runs (a helper thread
  delivers it again every 10 ms until then).
"""

from __future__ import annotations

from typing import NoReturn

import _thread
import os
import signal
import sys
import threading
import time

#: Names of the Python functions llama.cpp calls back (eager_local/engine): an
#: exception raised inside one never reaches the caller.
NATIVE_CALLBACKS = frozenset({"_log_impl"})


_pending = threading.Event()
"""Set while a signal waits for the callback it landed in to return."""
_repeat = threading.Event()
"""Set by the helper thread when it delivers a waiting signal again."""


def _in_callback(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name in NATIVE_CALLBACKS:
            return True
        frame = frame.f_back
    return False


def _retrip(signum: int) -> None:
    # every 10 ms, deliver the signal to the main thread again until it is handled
    while _pending.is_set():
        time.sleep(0.01)
        if _pending.is_set():
            _repeat.set()
            _thread.interrupt_main(signum)


def deferred(signum, frame) -> bool:
    """True when the signal must wait (it landed inside a native callback, where an
    exception would be swallowed); it is then delivered again until it can be raised.
    Also True for a late repeat of a signal that was already raised."""
    repeat = _repeat.is_set()
    _repeat.clear()
    if _in_callback(frame):
        if not _pending.is_set():
            _pending.set()
            threading.Thread(target=_retrip, args=(signum,), daemon=True).start()
        return True
    if repeat and not _pending.is_set():
        return True
    _pending.clear()
    return False


def _handler(signum, frame) -> None:
    if not deferred(signum, frame):
        raise KeyboardInterrupt


def guard() -> None:
    """Install the start-up SIGINT handler (unless SIGINT was ignored by whoever started us)."""
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _handler)
    except ValueError:  # not the main thread
        pass


def exit_interrupted(code: int = 130) -> "NoReturn":
    """Say ``eager: interrupted`` and exit with ``code``; a Ctrl-C repeated from here on
    is ignored (an uncaught KeyboardInterrupt while exiting would end the process by
    SIGINT instead of the exit code)."""
    ignore_sigint()
    print("eager: interrupted", file=sys.stderr)
    raise SystemExit(code)


def ignore_sigint() -> None:
    """Ignore SIGINT from now on (the command's answer is known)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass
