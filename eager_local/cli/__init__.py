"""The ``eager`` console script: one subcommand per module of this package.

User mistakes (``EagerError``, bad arguments) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from ..errors import EagerError

COMMANDS = ("run", "models", "eval", "calibrate", "report", "bench", "tui", "serve")


class Parser(argparse.ArgumentParser):
    """argparse, but an argument error is one line (and exit code 2)."""

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> Parser:
    p = Parser(prog="eager", description="Entropy-aware generation on llama.cpp.")
    p.add_argument("--version", action="version", version="eager-local 0.1.0")
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
        return int(args.func(args) or 0)
    except EagerError as e:
        print(e.one_line(), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("eager: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
