"""eager-local: entropy-aware generation (EAGER) on llama.cpp.

The headless core: it never imports the TUI or textual.
"""

import sys as _sys

# the ``eager`` command (or ``python -m eager_local``), told apart before any import
_argv0 = _sys.argv[0] if _sys.argv else ""
# (``-m`` is argv[0] while ``python -m eager_local`` imports the package; another
# program's ``__main__.py``, such as ``python -m pytest``, is not the command)
_cli = _argv0 == "-m" or _argv0.rsplit("/", 1)[-1] == "eager" or _argv0.endswith("eager_local/__main__.py")

if _cli:
    try:
        from . import startup as _startup

        _startup.guard()  # Ctrl-C from here on: exit 130 with one line (see startup.py)
    except KeyboardInterrupt:  # Ctrl-C before the guard was up
        print("eager: interrupted", file=_sys.stderr)
        raise SystemExit(130) from None

# llama.cpp's shared libraries are loaded before numpy's. With a CUDA build of
# llama-cpp-python (CUDA 13, H100) the other order bound libllama's C++ stream
# calls to the wrong runtime and crashed in model loading. Importing numpy
# yourself before eager_local brings that order back.
try:
    from .engine import llama as _llama  # noqa: F401  (loads llama.cpp through engine.native)
except ImportError:  # llama-cpp-python missing: the rest of the core still works
    _llama = None

from .api import Model, load
from .decoding.controller import collect, generate
from .errors import EagerError
from .result import RunResult
from .settings import Settings
from .notebook import display as _notebook_display

_notebook_display.register()  # a RunResult shows itself inline in a notebook (result.VIEWS)

__all__ = ["EagerError", "Model", "RunResult", "Settings", "collect", "generate", "load"]
from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("eager-local")  # written once, in pyproject.toml
except PackageNotFoundError:  # not installed (a source checkout on sys.path)
    __version__ = "unknown"
