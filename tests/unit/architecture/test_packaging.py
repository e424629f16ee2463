"""Packaging: the license file matches pyproject, every lazily imported package is in an extra."""

import re
import tomllib
from pathlib import Path

import pytest

from eager_local.errors import EagerError
from eager_local.extras import EXTRAS, require

ROOT = Path(__file__).resolve().parents[3]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def names(reqs):
    return {re.split(r"[<>=\[ ;]", r, maxsplit=1)[0].lower() for r in reqs}


def test_license_file_matches_pyproject():
    assert PROJECT["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text and "END OF TERMS AND CONDITIONS" in text


def test_each_lazy_import_is_in_its_extra_and_the_test_extra_has_them_all():
    extras = PROJECT["optional-dependencies"]
    for module, (dist, extra) in EXTRAS.items():
        assert dist in names(extras[extra]), (module, extra)
        assert dist not in names(PROJECT["dependencies"])  # optional indeed
    def pulled_in(reqs):  # the extras of eager-local that a list of requirements names
        return {x for r in reqs if r.startswith("eager-local[") for x in r[12:-1].split(",")}

    optional = set(extras) - {"test", "all"}
    assert optional <= pulled_in(extras["test"]) and optional <= pulled_in(extras["all"])


def test_textual_is_a_compatible_range():
    assert "textual>=8.2,<9" in PROJECT["dependencies"]


def test_a_missing_extra_is_one_line_with_the_command():
    require("matplotlib", "--plot")  # installed here: nothing happens
    EXTRAS["no_such_module_xyz"] = ("no-such", "eval")
    try:
        with pytest.raises(EagerError) as e:
            require("no_such_module_xyz", "checking answers")
    finally:
        del EXTRAS["no_such_module_xyz"]
    assert e.value.one_line() == 'install: checking answers needs no-such: pip install "eager-local[eval]" (or pip install no-such)'
