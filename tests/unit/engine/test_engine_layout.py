"""The engine's layering: only engine/native.py imports llama_cpp; the logic above it holds no raw handles."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _sources():
    for folder in ("eager_local", "tui"):
        yield from (ROOT / folder).rglob("*.py")


def test_only_native_imports_llama_cpp():
    users = sorted(str(p.relative_to(ROOT)) for p in _sources()
                   if "import llama_cpp" in p.read_text(encoding="utf-8")
                   or "from llama_cpp" in p.read_text(encoding="utf-8"))
    assert users == ["eager_local/engine/native.py"]


@pytest.mark.parametrize("name", ["llama.py", "base.py", "fake.py"])
def test_engine_logic_holds_no_raw_handles(name):
    text = (ROOT / "eager_local" / "engine" / name).read_text(encoding="utf-8")
    for raw in (r"\bctypes\b", r"\.ptr\b", r"\.raw\b", r"\.memory\b", r"\bC\.llama_"):
        assert not re.search(raw, text), raw
