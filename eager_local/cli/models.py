"""``eager models``: the registry's aliases, where each file is, present or not."""

from __future__ import annotations

import json
import sys

from rich.console import Console
from rich.table import Table

from ..registry import describe_model, load_registry


def register(sub) -> None:
    p = sub.add_parser("models", help="list the model registry",
                       description="List models.toml aliases and whether their files are present.")
    p.add_argument("--verify", action="store_true", help="check each present file's size, header and sha256")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(func=main)


def main(args) -> int:
    reg = load_registry()
    rows = [describe_model(spec, args.verify) for spec in reg.models.values()]
    for r in rows:
        r["default"] = r["alias"] == reg.default
    if args.json:
        json.dump({"files": list(reg.files), "default": reg.default, "models": rows}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        console = Console(highlight=False)
        table = Table(title="eager-local models", title_justify="left")
        for col in ("alias", "status", "size", "n_ctx", "gpu", "format", "path"):
            table.add_column(col, overflow="fold")
        for r in rows:
            size = f"{r['size'] / 1e6:.0f} MB" if r.get("size") else "-"
            alias = r["alias"] + (" (default)" if r["default"] else "")
            table.add_row(alias, r["status"], size, str(r["n_ctx"]), str(r["n_gpu_layers"]),
                          r["prompt_format"], r.get("path") or r["source"])
        console.print(table)
        console.print(f"registry files: {', '.join(reg.files)}", style="dim")
    if reg.default is not None and reg.default not in reg.models:
        print(f"models.toml: default = {reg.default!r} is not a model alias; fix it in {reg.files[-1]}",
              file=sys.stderr)
    bad = [r for r in rows if args.verify and r["status"] not in ("verified", "ok (no sha256 to compare)", "missing", "assembled on first use")]
    return 1 if bad else 0
