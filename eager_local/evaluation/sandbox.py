"""Run model-written code (HumanEval completions) in a separate, limited process.

What holds the line, in order of strength:

1. A separate process: ``python -I`` (isolated mode: no user site-packages, no
   ``PYTHON*`` variables) in its own session, so a timeout kills the whole
   process group and the evaluator itself never runs the code.
2. Kernel resource limits set before the interpreter starts: CPU seconds
   (``RLIMIT_CPU``), address space (``RLIMIT_AS``), processes
   (``RLIMIT_NPROC`` = 0), file size (``RLIMIT_FSIZE``), open files, no core
   dumps. A wall-clock timeout and an output-size cap are enforced by the
   parent, which kills the group on either.
3. When the evaluator runs as root, the child drops to the ``nobody`` user, so
   the kernel (not Python) refuses writes outside its temporary directory,
   reads of other processes' ``/proc/<pid>/environ``, and new processes
   (``RLIMIT_NPROC`` is not enforced for root). Without root the child keeps
   the user's identity and can *read* what the user can read.
4. A fresh temporary directory as working directory, removed afterwards, and
   a minimal environment (``PATH``, ``LANG``; no tokens, no ``HOME``).

On top of that a short Python prelude replaces ``os.fork``, ``subprocess``,
``os.system`` and friends, and refuses to open files for writing outside the
temporary directory. The prelude is defence in depth only: code can get
around a Python-level guard (``ctypes``, ``gc`` tricks), so it is not a
security boundary; the items above are. Do not run untrusted code as root
on a machine where ``setuid`` is unavailable and expect containment.
"""

from __future__ import annotations

import os
import resource
import shutil
import stat
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..errors import SettingsError

STATUSES = ("ok", "failed", "timeout", "memory", "output", "crashed", "refused")

_MEMORY_EXIT = 97  # the prelude's exit code after an uncaught MemoryError
_REFUSED_EXIT = 98  # ... after an operation the prelude refused
_NOBODY = 65534
_FILE_CAP = 16 * 1024 * 1024  # largest file the code may write (RLIMIT_FSIZE)
_CHUNK = 65536


@dataclass(frozen=True)
class SandboxResult:
    """How one piece of untrusted code ended."""

    passed: bool
    """True only when the program exited with status 0 within every limit."""
    status: str
    """One of ok, failed, timeout, memory, output, crashed, refused."""
    output: str
    """Standard output and error together, cut to ``max_output`` bytes."""


_PRELUDE = r'''
import builtins, io, os, sys

class SandboxRefused(PermissionError):
    """An operation the sandbox does not allow."""

_ROOT = os.path.realpath(os.getcwd())
_REFUSED = []

def _refuse(what):
    _REFUSED.append(what)
    raise SandboxRefused(f"sandbox: {what} is not allowed")

def _inside(path):
    try:
        real = os.path.realpath(os.fspath(path))
    except (TypeError, ValueError):
        return False
    return real == _ROOT or real.startswith(_ROOT + os.sep)

_real_open = builtins.open
def _open(file, mode="r", *args, **kwargs):
    if not isinstance(file, int) and any(c in mode for c in "wax+") and not _inside(file):
        _refuse(f"writing {file!r}")
    return _real_open(file, mode, *args, **kwargs)
builtins.open = io.open = _open

_real_os_open = os.open
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
def _os_open(path, flags, mode=0o777, *, dir_fd=None):
    if flags & _WRITE_FLAGS and (dir_fd is not None or not _inside(path)):
        _refuse(f"writing {path!r}")
    return _real_os_open(path, flags, mode, dir_fd=dir_fd)
os.open = _os_open

def _path_guard(name):
    real = getattr(os, name)
    def guarded(*args, **kwargs):
        paths = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
        if kwargs.get("dir_fd") is not None or kwargs.get("src_dir_fd") is not None \
                or kwargs.get("dst_dir_fd") is not None or not all(_inside(p) for p in paths):
            _refuse(f"os.{name} outside the sandbox")
        return real(*args, **kwargs)
    return guarded

for _name in ("remove", "unlink", "rmdir", "rename", "replace", "mkdir", "makedirs",
              "symlink", "link", "chmod", "chown", "truncate", "utime", "mkfifo"):
    if hasattr(os, _name):
        setattr(os, _name, _path_guard(_name))

def _blocked(name):
    def blocked(*args, **kwargs):
        _refuse(name)
    return blocked

import posix
for _name in ("fork", "forkpty", "vfork", "system", "popen", "kill", "killpg",
              "posix_spawn", "posix_spawnp", "execv", "execve", "execl", "execle",
              "execlp", "execlpe", "execvp", "execvpe", "spawnl", "spawnle", "spawnlp",
              "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe", "setuid", "setgid"):
    for _mod in (os, posix):
        if hasattr(_mod, _name):
            setattr(_mod, _name, _blocked(f"os.{_name}"))

import _posixsubprocess
_posixsubprocess.fork_exec = _blocked("subprocess")
import subprocess
subprocess.Popen.__init__ = _blocked("subprocess")
import resource
resource.setrlimit = _blocked("resource.setrlimit")
sys.modules["_ctypes"] = None  # no raw system calls from Python (import ctypes fails)

_path = sys.argv[1]
with _real_open(_path, encoding="utf-8") as _f:
    _source = _f.read()
del _f, _name, _mod
sys.argv = [_path]
try:
    exec(compile(_source, _path, "exec"), {"__name__": "__main__", "__builtins__": builtins})
except SystemExit:
    raise
except MemoryError:
    sys.stderr.write("MemoryError\n")
    sys.stderr.flush()
    os._exit(97)
except BaseException:
    import traceback
    _t, _e, _tb = sys.exc_info()
    traceback.print_exception(_t, _e, _tb.tb_next)  # without this prelude's frame
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(98 if _REFUSED else 1)
if _REFUSED:
    sys.stdout.flush()
    os._exit(98)
'''


def _limits(cpu_s: float, memory_mb: int, drop_to: int | None):
    """The function run in the child between fork and exec."""
    cpu = max(1, int(cpu_s + 0.999))
    memory = memory_mb * 1024 * 1024

    def apply() -> None:
        if drop_to is not None:
            try:
                os.setgroups([])
                os.setgid(drop_to)
                os.setuid(drop_to)
            except OSError:
                pass  # no CAP_SETUID (rootless container): keep going as root
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (_FILE_CAP, _FILE_CAP))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        # after setuid: lowering NPROC before it would make exec fail
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))

    return apply


def _others_can_run(path: str) -> bool:
    """True when a user with no special rights can execute ``path``."""
    real = Path(os.path.realpath(path))
    try:
        if real.stat().st_mode & (stat.S_IROTH | stat.S_IXOTH) != stat.S_IROTH | stat.S_IXOTH:
            return False
        return all(p.stat().st_mode & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


def _interpreter() -> tuple[str, int | None]:
    """The Python to run and the uid to drop to (None: keep ours).

    As root the child runs as ``nobody``, so it needs an interpreter that
    ``nobody`` can reach: ours if it can, else the system's ``python3``. When
    none can be found the child keeps running as root (weaker; see the module
    docstring).
    """
    if os.geteuid() != 0:
        return sys.executable, None
    for candidate in (sys.executable, shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")):
        if candidate and _others_can_run(candidate):
            return candidate, _NOBODY
    return sys.executable, None


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(proc: subprocess.Popen, timeout_s: float, max_output: int) -> tuple[bytes, str | None]:
    """Read the child's output until EOF; return it and 'timeout'/'output' if cut."""
    out = bytearray()
    cut: str | None = None
    deadline = time.monotonic() + timeout_s
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                cut = "timeout"
                break
            if not sel.select(left):
                continue
            chunk = os.read(fd, _CHUNK)
            if not chunk:
                break
            out += chunk
            if len(out) > max_output:
                cut = "output"
                break
    if cut is not None:
        _kill_group(proc)
    return bytes(out[:max_output]), cut


def _status(code: int, cut: str | None) -> str:
    if cut is not None:
        return cut
    if code == 0:
        return "ok"
    if code == _MEMORY_EXIT:
        return "memory"
    if code == _REFUSED_EXIT:
        return "refused"
    if code == -signal.SIGXCPU:
        return "timeout"
    if code < 0:
        return "crashed"
    return "failed"


def run_untrusted(
    code: str,
    *,
    timeout_s: float = 10,
    cpu_s: float = 10,
    memory_mb: int = 512,
    max_output: int = 65536,
) -> SandboxResult:
    """Run ``code`` as a Python program in a limited child process (module docstring).

    Never raises for anything the code does; every way it can end maps to a
    status. ``passed`` is True only for status ``ok``. Limits out of range raise
    ``SettingsError``.
    """
    for name, value, low in (("timeout", timeout_s, 0.01), ("CPU time", cpu_s, 0.01),
                             ("memory", memory_mb, 32), ("output cap", max_output, 0)):
        if not isinstance(value, (int, float)) or value != value or value < low:
            raise SettingsError(f"sandbox {name} must be at least {low} (got {value!r})")
    python, drop_to = _interpreter()
    with tempfile.TemporaryDirectory(prefix="eager-sandbox-") as tmp:
        work = Path(tmp)
        (work / "prelude.py").write_text(_PRELUDE, encoding="utf-8")
        (work / "solution.py").write_text(code, encoding="utf-8", errors="surrogateescape")
        if drop_to is not None:
            os.chown(work, drop_to, drop_to)
            os.chmod(work, 0o700)
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
        try:
            proc = subprocess.Popen(
                [python, "-I", "-B", str(work / "prelude.py"), str(work / "solution.py")],
                cwd=work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_limits(cpu_s, memory_mb, drop_to),
                close_fds=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return SandboxResult(False, "crashed", f"sandbox: could not start Python: {exc}")
        try:
            out, cut = _collect(proc, timeout_s, max_output)
            try:
                code_ = proc.wait(timeout=max(1.0, timeout_s))
            except subprocess.TimeoutExpired:  # closed its output but kept running
                _kill_group(proc)
                code_, cut = proc.wait(), "timeout"
        finally:
            _kill_group(proc)  # anything left in the group
            if proc.stdout is not None:
                proc.stdout.close()
    status = _status(code_, cut)
    return SandboxResult(status == "ok", status, out.decode("utf-8", errors="replace"))
