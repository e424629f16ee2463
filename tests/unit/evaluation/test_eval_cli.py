"""eager eval / calibrate / report from the command line: one-line errors, exit 2; reports."""

import json

import pytest

from eager_local.cli import main

from test_eval_runner import runner


@pytest.fixture
def data(tmp_path):
    p = tmp_path / "d.jsonl"
    p.write_text('{"id": "a", "question": "1 + 1?", "answer": "2"}\n')
    return p


def one_line_error(capsys, argv, match):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert "\n" not in err and match in err, err
    return err


def test_malformed_jsonl(tmp_path, capsys, data):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q", "answer": "1"}\n{"id": "b", "question"\n')
    err = one_line_error(capsys, ["eval", str(bad), "--out", str(tmp_path / "o.jsonl")], "line 2")
    assert err.startswith("dataset:") and str(bad) in err


def test_missing_field(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "a", "question": "q"}\n')
    one_line_error(capsys, ["eval", str(bad), "--out", str(tmp_path / "o.jsonl")], "missing field 'answer'")


def test_unknown_method(tmp_path, capsys, data):
    with pytest.raises(SystemExit) as e:  # --method has choices: argparse refuses it
        main(["eval", str(data), "--method", "beam", "--out", str(tmp_path / "o.jsonl")])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and "\n" not in err and "invalid choice: 'beam'" in err
    assert "eager-adapt" in err


def test_output_in_missing_directory(tmp_path, capsys, data):
    one_line_error(capsys, ["eval", str(data), "--out", str(tmp_path / "no" / "o.jsonl")], "does not exist")


def test_existing_output_without_resume(tmp_path, capsys, data):
    out = tmp_path / "o.jsonl"
    out.write_text('{"id": "a", "phase": "final"}\n')
    one_line_error(capsys, ["eval", str(data), "--out", str(out)], "--resume")


def test_bad_settings_and_calibrate_targets(tmp_path, capsys, data):
    one_line_error(capsys, ["eval", str(data), "--theta", "-1", "--out", str(tmp_path / "o.jsonl")], "theta")
    one_line_error(capsys, ["calibrate", str(data), "--branch-rate", "2"], "--branch-rate")
    one_line_error(capsys, ["calibrate", str(data), "--branch-rate", "0.1", "--target-seqs", "3"], "not both")
    one_line_error(capsys, ["eval", str(data), "--limit", "0", "--out", str(tmp_path / "o.jsonl")], "--limit")


def test_report_table_and_plot(tmp_path, capsys):
    a, b = tmp_path / "p.jsonl", tmp_path / "e.jsonl"
    runner(a, "parallel").run()
    runner(b, "eager-full").run()
    png = tmp_path / "cmp.png"
    assert main(["report", str(a), str(b), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    for text in ("parallel", "eager-full θ=2.2", "Pass@k", "Cons@k", "pass rate", "generated tokens",
                 "decoded tokens", "wall time", "Δ Pass@k", "model: fake", "toy (first 6 of 6 items",
                 "M=4 θ=2.2 τ=0.6"):
        assert text in out, text
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_report_errors(tmp_path, capsys):
    one_line_error(capsys, ["report", str(tmp_path / "none.jsonl")], "not found")
    junk = tmp_path / "junk.jsonl"
    junk.write_text(json.dumps({"x": 1}) + "\n")
    one_line_error(capsys, ["report", str(junk)], "not a record")
    empty = tmp_path / "init-only.jsonl"
    runner(empty, "eager-full").run()
    empty.write_text("".join(ln + "\n" for ln in empty.read_text().splitlines()
                             if json.loads(ln)["phase"] == "init"))
    one_line_error(capsys, ["report", str(empty)], "no finished prompts")


def test_init_from_needs_a_two_phase_method(tmp_path, capsys, data):
    one_line_error(capsys, ["eval", str(data), "--method", "eager", "--init-from", str(data),
                            "--out", str(tmp_path / "o.jsonl")], "--init-from is for")


@pytest.mark.parametrize("extra, words", [
    (["--shots", "-1"], "--shots"),
    (["--code-timeout", "-1"], "--code-timeout"),
    (["--code-memory", "0"], "--code-memory"),
    (["--exemplars", "/nonexistent/ex.jsonl"], "--exemplars"),
])
def test_bad_eval_options_are_one_line_errors(tmp_path, capsys, extra, words):
    from eager_local.cli import main as cli_main

    data = tmp_path / "d.jsonl"
    data.write_text('{"id": "1", "question": "1+1?", "answer": "2"}\n')
    code = cli_main(["eval", str(data), "--out", str(tmp_path / "o.jsonl"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1


def test_ray_without_its_extra_is_one_line_with_the_command(tmp_path, capsys, data, monkeypatch):
    import importlib.util

    find = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "ray" else find(name, *a))
    err = one_line_error(capsys, ["eval", str(data), "--out", str(tmp_path / "o.jsonl"), "--ray"], "install:")
    assert err == 'install: eager eval --ray needs ray: pip install "eager-local[distributed]" (or pip install ray)'
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("flag, value", [("--workers", "0"), ("--cpus-per-worker", "0"), ("--gpus-per-worker", "-1")])
def test_ray_worker_counts_out_of_range(tmp_path, capsys, data, flag, value):
    one_line_error(capsys, ["eval", str(data), "--out", str(tmp_path / "o.jsonl"), "--ray", "auto", flag, value], flag)


def test_ray_address_where_nothing_answers_is_one_line(tmp_path, capsys, data):
    pytest.importorskip("ray")
    err = one_line_error(capsys, ["eval", str(data), "--out", str(tmp_path / "o.jsonl"), "--ray", "127.0.0.1:1"],
                         "ray: cannot join a Ray cluster at '127.0.0.1:1': nothing answers there")
    assert "ray start --head" in err
