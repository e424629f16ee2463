"""A downloaded GGUF is untrusted input: tensor data declared past the end of the file or
overlapping another tensor's is refused with one line before llama.cpp maps the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eager_local.errors import ModelError
from eager_local.models.model_file import check_gguf

ROOT = Path(__file__).resolve().parents[2]


def set_offset(src: Path, dst: Path, index: int, offset: int) -> Path:
    """A copy of ``src`` whose tensor ``index`` declares its data at ``offset`` (relative
    to the data section, as GGUF stores it)."""
    import gguf

    shutil.copyfile(src, dst)
    reader = gguf.GGUFReader(dst, "r+")
    reader.tensors[index].field.parts[-1][0] = offset
    reader.data.flush()
    del reader
    return dst


def tensors(path: Path) -> list[tuple[int, int]]:
    """(offset, bytes) of each tensor, relative to the data section."""
    import gguf

    r = gguf.GGUFReader(path)
    return [(int(t.field.parts[-1][0]), int(t.n_bytes)) for t in r.tensors]


def run_eager(model: Path, home: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), EAGER_LOCAL_HOME=str(home))
    return subprocess.run([sys.executable, "-m", "eager_local", "run", "the cat", "-m", str(model),
                           "--threads", "1", "-n", "2"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)


def test_overlapping_tensors_are_refused_in_one_line(tiny_gguf, tmp_path):  # `model-tensor-overlap`
    spans = tensors(tiny_gguf)
    bad = set_offset(tiny_gguf, tmp_path / "overlap.gguf", 2, spans[1][0])  # onto tensor 1
    with pytest.raises(ModelError, match="overlaps tensor"):
        check_gguf(bad)
    r = run_eager(bad, tmp_path / "home")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "overlap.gguf" in lines[0] and "overlaps tensor" in lines[0]


def test_tensor_past_the_end_is_refused_in_one_line(tiny_gguf, tmp_path):  # `model-tensor-past-end`
    bad = set_offset(tiny_gguf, tmp_path / "past-end.gguf", 0, 1 << 40)
    with pytest.raises(ModelError, match="truncated"):
        check_gguf(bad)
    r = run_eager(bad, tmp_path / "home")
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "past-end.gguf" in lines[0] and "Traceback" not in r.stderr


def test_the_untouched_file_passes(tiny_gguf):
    check_gguf(Path(tiny_gguf))  # adjacent tensors touch but do not overlap
