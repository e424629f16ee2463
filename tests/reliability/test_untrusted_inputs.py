"""Round 3 of the hunt (issue 24): inputs a user or a client controls, checked at the edge
with bounded reads; each refusal is one line with exit code 2 (rows in docs/bad-input.md)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from eager_local.cli import main
from eager_local.models import locations

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad-input.md"


def one_line(capsys, argv, *words) -> str:
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:
        code = e.code
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert "\n" not in err and "Traceback" not in err, err
    for w in words:
        assert w in err, err
    return err


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "a", "question": "1 + 1?", "answer": "2"}\n')
    return p


def test_toml_too_large(capsys, tmp_path):  # `toml-too-large`
    f = locations.user_models_toml()
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(b"#" + b"x" * (5 << 20))
    one_line(capsys, ["models"], "models.toml:", "more than the 4,194,304", str(f))


def test_models_add_while_another_edits(capsys, tmp_path, tiny_gguf, monkeypatch):  # `models-add-locked`
    import fcntl

    from eager_local.models import user_models

    f = locations.user_models_toml()
    f.parent.mkdir(parents=True, exist_ok=True)
    monkeypatch.setattr(user_models, "LOCK_WAIT_S", 0.3)
    held = os.open(f.parent, os.O_RDONLY)  # another editor holds the lock (a real flock)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        pid = os.fork()
        if pid == 0:  # the lock is per open file: a child process tries to edit
            code = main(["models", "add", str(tiny_gguf), "--alias", "x"])
            os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(held)
    assert os.waitstatus_to_exitcode(status) == 2
    assert not f.exists()


def test_sweep_out_not_creatable(capsys, tmp_path, data, tiny_gguf):  # `sweep-out-unwritable`
    # /proc takes no new directories, whoever runs the test (root included)
    one_line(capsys, ["sweep", data, "--theta", "1", "--out", "/proc/eager-sweep", "-m", tiny_gguf],
             "--out", "cannot create the directory")


def test_sweep_plot_is_a_directory(capsys, tmp_path, data, tiny_gguf):  # `sweep-plot-directory`
    out = tmp_path / "s"
    (out / "sweep.png").mkdir(parents=True)
    one_line(capsys, ["sweep", data, "--theta", "1", "--out", out, "-m", tiny_gguf], "plot", "sweep.png", "is a directory")


def test_every_case_is_in_the_table():
    here = Path(__file__).read_text()
    others = [ROOT / "tests" / "server" / n for n in ("test_serve_access.py", "test_serve_hostile_template.py",
                                                       "test_serve_hostile_requests.py")]
    others += [ROOT / "tests" / "reliability" / "test_hostile_gguf.py",
               ROOT / "tests" / "unit" / "evaluation" / "test_ray_address.py"]
    lines = [ln.split("# `", 1)[1] for ln in (here + "".join(p.read_text() for p in others)).splitlines()
             if "# `" in ln]
    ids = {i for ln in lines for i in re.findall(r"`?([a-z0-9]+-[a-z0-9-]+)`", "`" + ln)}
    text = DOC.read_text(encoding="utf-8")
    missing = sorted(i for i in ids if f"`{i}`" not in text)
    assert ids and not missing, f"add rows to {DOC}: {missing}"
