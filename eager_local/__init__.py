"""eager-local: entropy-aware generation (EAGER) on llama.cpp.

The headless core: it never imports the TUI or textual.
"""

# llama.cpp's shared libraries are loaded before numpy's. With a CUDA build of
# llama-cpp-python (CUDA 13, H100) the other order bound libllama's C++ stream
# calls to the wrong runtime and crashed in model loading. Importing numpy
# yourself before eager_local brings that order back.
try:
    from .engine import llama as _llama  # noqa: F401  (the one llama_cpp user)
except ImportError:  # llama-cpp-python missing: the rest of the core still works
    _llama = None

from .api import Model, load
from .controller import collect, generate
from .errors import EagerError
from .result import RunResult
from .settings import Settings
from .version import version as _version

__all__ = ["EagerError", "Model", "RunResult", "Settings", "collect", "generate", "load"]
__version__ = _version()
