"""The core package never imports the UI: importing every eager_local module leaves
``textual`` and ``tui`` out of sys.modules (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

PROBE = r"""
import importlib, json, pkgutil, sys
import eager_local
names = []
for info in pkgutil.walk_packages(eager_local.__path__, "eager_local."):
    if info.name.endswith(".__main__"):
        continue  # runs the CLI
    importlib.import_module(info.name)
    names.append(info.name)
bad = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "tui", "textual_plotext"))
print(json.dumps({"imported": names, "ui": bad}))
"""


def test_core_imports_no_ui():
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert "eager_local.cli.tui" in report["imported"]  # the subcommand itself is checked too
    assert "eager_local.decoding.controller" in report["imported"]
    assert report["ui"] == []


def test_the_probe_would_notice_a_ui_import():
    leaky = PROBE.replace("import eager_local\n", "import eager_local\nimport tui.app\n", 1)
    out = subprocess.run([sys.executable, "-c", leaky], capture_output=True, text=True, check=True)
    assert "textual" in json.loads(out.stdout.strip().splitlines()[-1])["ui"]


def test_the_cli_contract_names_every_module_outside_the_cli():
    """pyproject's import contract lists the modules that must not import eager_local.cli;
    a new module outside the CLI has to be listed too, or the contract would not see it."""
    import pkgutil
    import tomllib
    from pathlib import Path

    import eager_local

    root = Path(__file__).resolve().parents[3]
    config = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    contract = next(c for c in config["tool"]["importlinter"]["contracts"]
                    if c["forbidden_modules"] == ["eager_local.cli"])
    listed = set(contract["source_modules"])
    modules = {f"eager_local.{m.name}" for m in pkgutil.iter_modules(eager_local.__path__)}
    assert modules - {"eager_local.cli", "eager_local.__main__"} <= listed
    assert "tui" in listed
