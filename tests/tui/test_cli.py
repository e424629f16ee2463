"""``eager tui`` and ``python -m tui``: options reach the app, the core stays UI-free."""

from __future__ import annotations

import subprocess
import sys

from eager_local.cli import main


def test_options_fill_the_app(monkeypatch, tmp_path):
    import tui.app

    seen = {}

    def fake_run(self):
        seen.update(settings=self.base_settings, model=self.model_spec, load=self.load_path,
                    prompt=self.prompt, model_obj=self.models.get("some-alias"))

    monkeypatch.setattr(tui.app.EagerApp, "run", fake_run)
    import eager_local.api

    monkeypatch.setattr(eager_local.api, "load", lambda spec, **kw: ("loaded", spec, kw))
    path = tmp_path / "run.json"
    code = main(["tui", "--model", "/m/x.gguf", "--load", str(path), "-p", "hi",
                 "--theta", "1.25", "-M", "5", "--method", "parallel", "--n-ctx", "2048",
                 "--threads", "1"])
    assert code == 0
    s = seen["settings"]
    assert (s.theta, s.max_seqs, s.method) == (1.25, 5, "parallel")
    assert seen["model"] == "/m/x.gguf" and seen["load"] == str(path) and seen["prompt"] == "hi"
    assert seen["model_obj"] == ("loaded", "some-alias", {"n_ctx": 2048, "n_gpu_layers": None, "n_threads": 1,
                                                          "prefix_cache": True, "prefix_cache_cells": None})


def test_bad_settings_fail_before_the_app_opens(capsys):
    assert main(["tui", "--theta", "-1"]) == 2
    assert "theta" in capsys.readouterr().err
    assert main(["tui", "--n-ctx", "8"]) == 2
    assert "n-ctx" in capsys.readouterr().err


def test_python_m_tui_is_the_same_command():
    out = subprocess.run([sys.executable, "-m", "tui", "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "--load" in out.stdout and "--theta" in out.stdout
