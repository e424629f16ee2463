"""examples/entropy-lesson.ipynb: committed without outputs, and it runs to the end on the
embedded default model (nbclient over an ipykernel, as a reader's Jupyter would run it)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LESSON = ROOT / "examples" / "entropy-lesson.ipynb"
#: where the lesson finds MAWPS (as the notebook looks: $EAGER_DATA, then ../shared/data)
DATA = Path(os.environ.get("EAGER_DATA") or ROOT.parent / "shared" / "data")


def test_the_lesson_is_committed_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(LESSON, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.outputs == [] and c.execution_count is None for c in code)


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "mawps_singleop_dev.jsonl").exists(), reason="../shared/data absent")
def test_the_lesson_runs_to_the_end():
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
    nb = nbformat.read(LESSON, as_version=4)
    env = {"EAGER_DATA": str(DATA), "PYTHONPATH": os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the kernel inherits them
    started = time.monotonic()
    try:
        nbclient.NotebookClient(nb, timeout=300, kernel_name="python3",
                                resources={"metadata": {"path": str(LESSON.parent)}}).execute()
    finally:
        for k, v in old.items():
            os.environ.pop(k) if v is None else os.environ.__setitem__(k, v)
    print(f"lesson executed in {time.monotonic() - started:.0f} s")
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o for o in outputs if "text/html" in o.get("data", {})]
    assert any("<iframe srcdoc=" in o["data"]["text/html"] for o in html)  # the tree, inline
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2  # the entropy figure and the sweep plot
    text = "".join(o.get("text", "") for o in outputs)
    assert "H recorded" in text and "Pass@k against parallel's curve" in text
