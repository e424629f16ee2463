"""benchmarks/gpu_check.sh in its CPU mode: the GPU check's plumbing runs green here.

The script builds nothing with ``--cpu``; it runs the engine and scheduler tests with
EAGER_TEST_GPU_LAYERS=-1 and two small ``eager bench --quick --gpu-layers -1`` runs
(backend sampling on and off) on the tiny GGUF, and writes the figures.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_gpu_check_runs_green_on_the_cpu_build(tmp_path):
    env = {**os.environ, "PYTHON": sys.executable, "OUT": str(tmp_path / "device-out")}
    env.pop("EAGER_TEST_GPU_LAYERS", None)
    (tmp_path / "device-out").mkdir()
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--cpu", "--small",
                        "--out", str(tmp_path / "figures")], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    out = tmp_path / "figures"
    assert "passed" in (out / "tests.txt").read_text() and "failed" not in (out / "tests.txt").read_text()
    assert "GPU offload: False" in (out / "device.txt").read_text()
    for s in ("backend", "host"):
        doc = json.loads((out / f"bench-{s}.json").read_text())
        assert doc["details"]["config"]["quick"]
        assert doc["overhead_share_m32_open"] is not None
        assert "\nS " in (out / f"bench-{s}.txt").read_text()
    assert (tmp_path / "device-out" / "figures" / "bench-host.json").is_file()  # copied to $OUT


def test_gpu_check_refuses_an_unknown_option():
    r = subprocess.run(["bash", str(ROOT / "benchmarks" / "gpu_check.sh"), "--gpu-please"], cwd=ROOT,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "unknown option --gpu-please" in r.stderr
