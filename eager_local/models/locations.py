"""Where eager-local keeps things, computed when asked (tests redirect them).

``EAGER_LOCAL_HOME`` overrides both with ``$EAGER_LOCAL_HOME/{config,cache}``.
"""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "eager-local"


def _home() -> Path | None:
    h = os.environ.get("EAGER_LOCAL_HOME")
    if not h:
        return None
    from ..errors import ConfigError
    from ..files.user_files import expand_path

    return expand_path(h, "EAGER_LOCAL_HOME", ConfigError)


def config_dir() -> Path:
    h = _home()
    return h / "config" if h else Path(platformdirs.user_config_dir(APP))


def cache_dir() -> Path:
    h = _home()
    return h / "cache" if h else Path(platformdirs.user_cache_dir(APP))


def user_models_toml() -> Path:
    return config_dir() / "models.toml"
