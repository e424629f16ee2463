"""The ``eager`` console script: one subcommand per module of this package.

User mistakes (``EagerError``, bad arguments) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import sys

from .. import __version__
from ..errors import EagerError

COMMANDS = ("run", "models", "eval", "sweep", "calibrate", "report", "bench", "tui", "serve")


class Parser(argparse.ArgumentParser):
    """argparse, but an argument error is one line (and exit code 2)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    p = Parser(prog="eager", description="Entropy-aware generation on llama.cpp.")
    p.add_argument("--version", action="version", version=f"eager-local {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMANDS:
        try:
            mod = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name == f"{__name__}.{name}":
                continue
            raise
        mod.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    try:
        parser = build_parser()  # imports every subcommand: Ctrl-C may land here too
        args = parser.parse_args(argv)
        if not getattr(args, "func", None):
            parser.print_help()
            return 2
        if sys.stdout is None:  # started with standard output closed (>&-)
            print("output: standard output is closed: redirect it to a file or /dev/null", file=sys.stderr)
            return 2
        return int(args.func(args) or 0)
    except EagerError as e:
        from .common import flag

        print(e.one_line(flag), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eager: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `eager ... | head`: the reader has all it wants
        _silence_stdout()
        return 0
    except OSError as e:  # standard output full or unusable (>/dev/full)
        if e.errno in (errno.ENOSPC, errno.EPIPE, errno.EBADF, errno.EIO):
            _silence_stdout()
            print(f"output: cannot write to standard output: {e.strerror}; "
                  "free some space or redirect it elsewhere", file=sys.stderr)
            return 2
        raise


def _silence_stdout() -> None:
    """Point standard output at /dev/null so the interpreter's last flush cannot fail."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
