import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


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
