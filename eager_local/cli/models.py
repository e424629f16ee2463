"""``eager models``: the registry's aliases, where each file is, present or not."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from ..models import locations
from ..models.registry import describe_model, load_registry


def register(sub) -> None:
    p = sub.add_parser("models", help="list the model registry; add or remove your own models",
                       description="List models.toml aliases and whether their files are present; "
                                   "`eager models add FILE.gguf` registers a model of yours.")
    p.add_argument("--verify", action="store_true", help="check each present file's size, header and sha256")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=main)
    actions = p.add_subparsers(dest="models_command", metavar="ACTION")
    a = actions.add_parser("add", help="add a GGUF file to your models.toml",
                           description="Add a GGUF file to your models.toml under an alias; its prompt format, "
                                       "context and think markers come from the file when it is loaded.")
    a.add_argument("path", metavar="PATH", help="the .gguf file")
    a.add_argument("--alias", metavar="NAME", help="the name for -m (default: from the file name)")
    a.add_argument("--default", action="store_true", help="make it the model used without -m")
    a.set_defaults(func=add_main)
    r = actions.add_parser("rm", help="remove an alias from your models.toml",
                           description="Remove an alias (and a default naming it) from your models.toml.")
    r.add_argument("name", metavar="NAME", help="the alias")
    r.set_defaults(func=rm_main)


def add_main(args) -> int:
    from ..models.user_models import add_model

    alias, file = add_model(args.path, args.alias, args.default, set(load_registry().models))
    print(f"added {alias} to {file}" + (" (the default model)" if args.default else ""))
    print(f'try: eager run -m {alias} "Why is the sky blue?"')
    return 0


def rm_main(args) -> int:
    from ..models.user_models import remove_model

    file = remove_model(args.name)
    print(f"removed {args.name} from {file}")
    return 0


def _or_file(value) -> str:
    return "from file" if value is None else str(value)


def main(args) -> int:
    reg = load_registry()
    user = locations.user_models_toml()
    rows = [describe_model(spec, args.verify) for spec in reg.models.values()]
    for r in rows:
        r["default"] = r["alias"] == reg.default
    if args.json:
        json.dump({"files": list(reg.files), "user_file": str(user), "default": reg.default, "models": rows},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console = Console(highlight=False)
        table = Table(title="eager-local models", title_justify="left")
        for col in ("alias", "status", "size", "n_ctx", "gpu", "format", "θ", "path"):
            table.add_column(col, overflow="fold")
        for r in rows:
            size = f"{r['size'] / 1e6:.0f} MB" if r.get("size") else "-"
            alias = r["alias"] + (" (default)" if r["default"] else "")
            table.add_row(alias, r["status"], size, _or_file(r["n_ctx"]),
                          "auto" if r["n_gpu_layers"] is None else str(r["n_gpu_layers"]),
                          _or_file(r["prompt_format"]), f"{r['theta']:g}", r.get("path") or r["source"])
        console.print(table)
        console.print(f"registry files: {', '.join(reg.files)}", style="dim")
        state = "" if user.is_file() else " (not created yet: `eager models add FILE.gguf` creates it)"
        console.print(f"your models.toml: {user}{state}", markup=False, soft_wrap=True)
    if reg.default is not None and reg.default not in reg.models:
        print(f"models.toml: default = {reg.default!r} is not a model alias; fix it in {reg.files[-1]}",
              file=sys.stderr)
    bad = [r for r in rows if args.verify and r["status"] not in ("verified", "ok (no sha256 to compare)", "missing", "assembled on first use")]
    return 1 if bad else 0
