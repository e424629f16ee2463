import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

#: benchmarks/gpu_check.sh sets it to -1: every engine the tests make without an explicit
#: n_gpu_layers offloads that many layers (a CPU build of llama.cpp ignores it).
GPU_LAYERS = os.environ.get("EAGER_TEST_GPU_LAYERS")
if GPU_LAYERS:
    from eager_local.engine import llama as _llama

    _init = _llama.LlamaEngine.__init__

    def _offloaded(self, *args, **kwargs):
        kwargs.setdefault("n_gpu_layers", int(GPU_LAYERS))
        _init(self, *args, **kwargs)

    _llama.LlamaEngine.__init__ = _offloaded


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory, monkeypatch):
    """Every test gets its own config/cache dirs, except the shared model cache."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("EAGER_LOCAL_HOME", str(home))
    # the embedded model is assembled once per session into a shared cache
    shared = os.environ.get("EAGER_TEST_MODEL_CACHE") or str(_shared_cache(tmp_path_factory))
    (home / "cache").mkdir(parents=True, exist_ok=True)
    models = home / "cache" / "models"
    if not models.exists():
        Path(shared).mkdir(parents=True, exist_ok=True)
        models.symlink_to(shared, target_is_directory=True)
    yield home


_CACHE = {}


def _shared_cache(factory):
    if "dir" not in _CACHE:
        _CACHE["dir"] = factory.getbasetemp() / "shared-models"
    return _CACHE["dir"]


@pytest.fixture(scope="session")
def tiny_gguf(tmp_path_factory):
    from tiny_gguf import build_tiny_gguf

    return build_tiny_gguf(tmp_path_factory.mktemp("gguf") / "tiny.gguf")


@pytest.fixture(scope="session")
def tiny_engine(tiny_gguf):
    from eager_local.engine.llama import LlamaEngine

    e = LlamaEngine(tiny_gguf, n_ctx=4096, n_threads=1)
    yield e
    e.close()
