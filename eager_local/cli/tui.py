"""``eager tui``: the full-screen app (the Textual package is imported only here, lazily)."""

from __future__ import annotations

import importlib

from .common import add_model_args, add_settings_args, load_options, settings_from_args


def register(sub) -> None:
    p = sub.add_parser("tui", help="open the terminal UI: live sequence tree, entropy colours, inspector",
                       description="Open the full-screen app. Settings given here fill its controls.")
    p.add_argument("--load", metavar="RUN.json[l]",
                   help="open a saved run (eager run --json, or Save), or an eval run file (.jsonl) to browse its prompts")
    p.add_argument("--prompt", "-p", default="", help="text to put in the prompt editor")
    add_model_args(p)
    add_settings_args(p)
    p.set_defaults(func=main)


def model_loader(args):
    """Load what the picker names, with the --n-ctx/--gpu-layers/--threads given here."""
    options = load_options(args)

    def load(spec: str | None):
        from ..api import load as load_model

        return load_model(spec, **options)

    return load


def main(args) -> int:
    settings = settings_from_args(args)
    loader = model_loader(args)
    app_module = importlib.import_module("tui.app")  # lazy: the core never imports textual
    app = app_module.EagerApp(settings=settings, model=args.model, load=args.load,
                              prompt=args.prompt, loader=loader)
    app.run()
    return int(app.return_code or 0)
