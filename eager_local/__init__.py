"""eager-local: entropy-aware generation (EAGER) on llama.cpp.

The headless core: it never imports the TUI or textual.
"""

from .api import Model, load
from .controller import collect, generate
from .errors import EagerError
from .result import RunResult
from .settings import Settings

__all__ = ["EagerError", "Model", "RunResult", "Settings", "collect", "generate", "load"]
__version__ = "0.1.0"
