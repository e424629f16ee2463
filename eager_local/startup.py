"""Ctrl-C while the ``eager`` command runs: exit 130 with one line, at any moment.

The traps closed here (the ``sigint-*`` rows of docs/bad-input.md):

- a KeyboardInterrupt raised while Python imports eager-local and its libraries
  (the first second or two) would print a traceback from whichever import it
  landed in. Until the command itself starts (``arm``), nothing has been written
  and nothing needs cleaning up, so Ctrl-C ends the process at once: one line,
  exit 130 (``guard``);
- from ``arm`` on, Ctrl-C raises KeyboardInterrupt, which the CLI reports. One
  raised inside llama.cpp's log callback (a Python function that C calls while the
  model loads) would be swallowed by ctypes ("Exception ignored ...
  KeyboardInterrupt") and the command would run on to the end. The handler sees
  that it is inside such a callback and leaves the signal pending, so it is raised
  as soon as Python code outside the callback runs (a helper thread delivers it
  again every 10 ms until then, as a simulated REDELIVER signal, so a late delivery
  can never be taken for a second Ctrl-C);
- a KeyboardInterrupt that some library swallows (numpy's Cython module init did)
  is raised again at the next decode step (``check``);
- CPython ends the process by SIGINT after a KeyboardInterrupt left an ``exec`` of
  a string, even one caught later; ``forget_caught_interrupt`` clears that.
"""

from __future__ import annotations

import _thread
import os
import signal
import threading
import time
from typing import NoReturn

#: Names of the Python functions llama.cpp calls back (eager_local/engine): an
#: exception raised inside one never reaches the caller.
NATIVE_CALLBACKS = frozenset({"_log_impl"})


#: The signal the helper thread delivers to the main thread while a Ctrl-C waits.
#: It is simulated (``_thread.interrupt_main``), never sent, so it cannot be mistaken
#: for a second Ctrl-C: one Ctrl-C raises at most one KeyboardInterrupt.
REDELIVER = signal.SIGUSR2

_pending = threading.Event()
"""Set while a Ctrl-C waits for the callback it landed in to return."""
_saved: list = []
"""The REDELIVER handler that was there before ours (empty while ours is not installed)."""


def _in_callback(frame) -> bool:
    while frame is not None:
        if frame.f_code.co_name in NATIVE_CALLBACKS:
            return True
        frame = frame.f_back
    return False


def _retrip() -> None:
    # every 10 ms, deliver REDELIVER to the main thread until the waiting Ctrl-C is raised
    while _pending.is_set():
        time.sleep(0.01)
        if _pending.is_set():
            _thread.interrupt_main(REDELIVER)


def _settle() -> None:
    # the waiting Ctrl-C is raised (or voided by a new one): no more redeliveries
    # (main thread only: signal handlers run there)
    _pending.clear()
    if _saved:
        signal.signal(REDELIVER, _saved.pop())


def _redeliver(signum, frame) -> None:
    if not _pending.is_set() or _in_callback(frame):
        return  # a late delivery, or still inside the callback: wait
    _settle()
    interrupt()


_raised = threading.Event()
"""Set once a Ctrl-C has been raised as KeyboardInterrupt in this process."""
_armed = False
"""True once ``arm`` has installed the command's handler (the ``eager`` command only)."""


def interrupt() -> "NoReturn":
    """Raise the Ctrl-C as KeyboardInterrupt, and remember it: code that swallows it
    (a C extension whose module init turns it into another error, or ignores it)
    cannot make the command run on, because ``check`` raises it again."""
    _raised.set()
    raise KeyboardInterrupt


def check() -> None:
    """Raise again a Ctrl-C that was raised and then swallowed somewhere (called once per
    decode step). Only in the ``eager`` command (after ``arm``) and its main thread: a
    program that uses eager-local as a library handles its own Ctrl-C."""
    if _armed and _raised.is_set() and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


def deferred(signum, frame) -> bool:
    """True when the Ctrl-C must wait: it landed inside a native callback, where an
    exception would be swallowed. It is then raised, once, as soon as Python code
    outside the callback runs. False when the caller may raise it now."""
    if _in_callback(frame):
        if not _pending.is_set():
            if not _saved:
                _saved.append(signal.signal(REDELIVER, _redeliver) or signal.SIG_DFL)
            _pending.set()
            threading.Thread(target=_retrip, daemon=True).start()
        return True
    _settle()  # this Ctrl-C is raised now: the one that waited (if any) goes with it
    return False


def _handler(signum, frame) -> None:
    if not deferred(signum, frame):
        interrupt()


def _leave(signum, frame) -> None:
    # start-up: nothing written yet, nothing to clean up; no exception to escape an import
    os.write(2, b"eager: interrupted\n")
    os._exit(130)


def guard() -> None:
    """Install the start-up SIGINT handler: Ctrl-C ends the process at once with one
    line and 130 (unless SIGINT was ignored by whoever started us)."""
    try:
        if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
            signal.signal(signal.SIGINT, _leave)
    except ValueError:  # not the main thread
        pass


def arm() -> None:
    """The command starts: Ctrl-C raises KeyboardInterrupt from here on (held back
    while inside a native callback). Only replaces the start-up handler of ``guard``,
    so a program that calls the CLI in-process keeps its own."""
    global _armed
    try:
        if signal.getsignal(signal.SIGINT) is _leave:
            signal.signal(signal.SIGINT, _handler)
            _armed = True
    except ValueError:  # not the main thread
        pass


def ignore_sigint() -> None:
    """Ignore SIGINT from now on (the command's answer is known)."""
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    except ValueError:  # not the main thread
        pass


def forget_caught_interrupt() -> None:
    """CPython marks a KeyboardInterrupt that leaves any ``exec`` of a string (dataclasses
    build their methods that way, at import) as unhandled, even when it is caught later,
    and then ends the process by SIGINT instead of its exit code (exit -2, not 130).
    An ``exec`` that ends normally clears that mark; call this just before exiting."""
    exec("pass")
