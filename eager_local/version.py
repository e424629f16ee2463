"""The installed version of eager-local, from the package metadata (the one place it is read)."""

from __future__ import annotations

from functools import lru_cache
from importlib import metadata

DISTRIBUTION = "eager-local"


@lru_cache(maxsize=1)
def version() -> str:
    """``pyproject.toml``'s version as installed; "unknown" when run from an uninstalled tree."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return "unknown"
