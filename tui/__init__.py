"""eager-local's terminal UI (Textual). The core package never imports this one.

``python -m tui`` is the ``eager tui`` command (tui/__main__.py hands its
arguments to the CLI, the one place the TUI package meets it).
"""
