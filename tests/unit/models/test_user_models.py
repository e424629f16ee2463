"""The user's models.toml written by `eager models add/rm`: round trip, atomic, comments kept aside."""

import tomllib

import pytest

from eager_local.errors import ModelError
from eager_local.models.user_models import add_model, alias_for, dumps, remove_model
from tiny_gguf import build_tiny_gguf


def test_dumps_round_trips_the_keys_of_an_entry():
    doc = {"default": "q", "models": {
        "q": {"path": '/m/a "b"\\c\n.gguf', "n_ctx": 4096, "theta": 0.25, "stop": ["\n\n", "é"],
              "think": ["<think>", "</think>"]},
        "qwen2.5-1.5b": {"path": "/m/q.gguf", "n_gpu_layers": -1},
    }}
    assert tomllib.loads(dumps(doc)) == doc


def test_alias_from_file_name(tmp_path):
    assert alias_for(tmp_path / "Qwen3-4B-Q4_K_M.gguf") == "qwen3-4b-q4_k_m"
    assert alias_for(tmp_path / "my model (v2).gguf") == "my-model-v2"


def test_add_and_remove_keep_other_entries_and_back_up_comments(tmp_path):
    f = tmp_path / "cfg" / "models.toml"
    gguf = build_tiny_gguf(tmp_path / "t.gguf")
    f.parent.mkdir()
    f.write_text('# mine\n[models.old]\npath = "/x/old.gguf"\ntheta = 1.5\n')
    alias, _ = add_model(str(gguf), None, True, {"old"}, file=f)
    doc = tomllib.loads(f.read_text())
    assert alias == "t" and doc["default"] == "t"
    assert doc["models"] == {"old": {"path": "/x/old.gguf", "theta": 1.5}, "t": {"path": str(gguf)}}
    assert (tmp_path / "cfg" / "models.toml.bak").read_text().startswith("# mine")
    remove_model("t", file=f)
    assert tomllib.loads(f.read_text()) == {"models": {"old": {"path": "/x/old.gguf", "theta": 1.5}}}
    assert sorted(p.name for p in f.parent.iterdir()) == ["models.toml", "models.toml.bak"]  # no temp left


@pytest.mark.parametrize("alias, words", [("bad name", "use letters"), ("old", "already names")])
def test_bad_aliases(tmp_path, alias, words):
    gguf = build_tiny_gguf(tmp_path / "t.gguf")
    with pytest.raises(ModelError, match=words):
        add_model(str(gguf), alias, False, {"old"}, file=tmp_path / "models.toml")


def test_add_checks_the_file_first(tmp_path):
    (tmp_path / "x.gguf").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        add_model(str(tmp_path / "x.gguf"), None, False, set(), file=tmp_path / "models.toml")
    assert not (tmp_path / "models.toml").exists()
