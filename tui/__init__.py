"""eager-local's terminal UI (Textual). The core package never imports this one."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    """``python -m tui``: the same as ``eager tui``."""
    from eager_local.cli import main as cli_main

    return cli_main(["tui", *(argv or [])])
