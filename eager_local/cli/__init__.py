"""The ``eager`` console script: one subcommand per module of this package.

User mistakes (``EagerError``, bad arguments) print one line and exit with 2.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import importlib
import os
import sys

from .. import __version__
from ..errors import EagerError
from ..startup import arm, forget_caught_interrupt, ignore_sigint

COMMANDS = ("run", "models", "eval", "sweep", "calibrate", "report", "bench", "tui", "serve")


# llama.cpp options that mean something else here (or nothing): the hint replaces a guess
LLAMA_HINTS = {
    "--top-k": "did you mean --top-k-entropy? (EAGER's K is not llama.cpp's top-k)",
    "--min-p": "eager-local samples with --top-p only",
    "--repeat-penalty": "eager-local has no repetition penalty",
    "--n-gpu": "did you mean --n-gpu-layers (-ngl)?",
}


class Parser(argparse.ArgumentParser):
    """argparse without abbreviations, and an argument error is one line (exit code 2)."""

    def __init__(self, *args, **kwargs) -> None:
        kwargs.setdefault("allow_abbrev", False)  # `--top-k 40` must not become --top-k-entropy
        super().__init__(*args, **kwargs)

    def error(self, message: str):  # noqa: D401
        self.exit(2, f"{self.prog}: {message}\n" if message.startswith("unknown option") else
                  f"{self.prog}: {message} (see {self.prog} --help)\n")

    def parse_known_args(self, args=None, namespace=None):
        return super().parse_known_args(self._optional_values(args), namespace)

    def _optional_values(self, args):
        """``--prune "a prompt"``: an option whose value is optional and one word does not take
        text with spaces in it (a prompt) as its value; it stands alone (its ``const``)."""
        args = list(sys.argv[1:] if args is None else args)
        for i, a in enumerate(args[:-1]):
            action = self._option_string_actions.get(a)
            if (action is not None and action.nargs == "?" and action.choices
                    and not args[i + 1].startswith("-") and len(args[i + 1].split()) > 1):
                args[i] = f"{a}={action.const}"
        return args

    def parse_args(self, args=None, namespace=None):
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            self.error(unknown_message(extras, self._chosen(ns)))
        return ns

    def _chosen(self, ns) -> argparse.ArgumentParser:
        """The innermost subcommand parser the arguments chose."""
        parser = self
        while parser._subparsers is not None:
            sub = parser._subparsers._group_actions[0]
            name = getattr(ns, sub.dest or "", None)
            if name not in sub.choices:
                break
            parser = sub.choices[name]
        return parser


def unknown_message(extras: list[str], parser: argparse.ArgumentParser) -> str:
    """One line for arguments nobody took: a hint for llama.cpp habits, else the closest option."""
    opts = [a for a in extras if a.startswith("-") and len(a) > 1]
    if not opts:
        return f"unrecognized arguments: {' '.join(extras)}"
    name = opts[0].split("=", 1)[0]
    hint = LLAMA_HINTS.get(name)
    if hint is None:
        close = difflib.get_close_matches(name, list(parser._option_string_actions), n=1, cutoff=0.6)
        hint = f"did you mean {close[0]}?" if close else f"see {parser.prog} --help"
    return f"unknown option {name}; {hint}"


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
        if getattr(args, "verbose", False):
            os.environ["EAGER_LOCAL_LLAMA_LOG"] = "stderr"  # -v: read when llama.cpp's backend starts
        arm()  # the command starts: Ctrl-C is reported from here on (see startup.py)
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


def entry() -> None:
    """The ``eager`` command: ``main``, then exit with its code.

    A Ctrl-C repeated while the first one is being reported (or while the
    interpreter winds down) must not turn exit 130 into death by SIGINT, which is
    what an uncaught KeyboardInterrupt does: once the code is known, SIGINT is ignored.
    """
    code = None
    while True:  # until SIGINT is ignored: a Ctrl-C may land on any line, this one too
        try:
            if code is None:
                code = main()
            ignore_sigint()
            break
        except KeyboardInterrupt:  # a second Ctrl-C while the first was being reported
            code = 130 if code is None else code
    forget_caught_interrupt()
    sys.exit(code)


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
