"""``python -m eager_local``: the ``eager`` command (Ctrl-C during start-up: see startup.py)."""

from .cli import entry

entry()
