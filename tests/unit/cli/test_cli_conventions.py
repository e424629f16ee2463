"""CLI conventions: llama.cpp's option names as aliases, no abbreviations, --version."""

import importlib.metadata

import pytest

from eager_local.cli import build_parser, main
from eager_local.cli.common import settings_from_args

# (llama.cpp spelling, eager-local spelling) of the same option and value
ALIASES = [
    (["-c", "1024"], ["--n-ctx", "1024"]),
    (["--ctx-size", "1024"], ["--n-ctx", "1024"]),
    (["-ngl", "99"], ["--gpu-layers", "99"]),
    (["--n-gpu-layers", "-1"], ["--gpu-layers", "-1"]),
    (["-t", "3"], ["--threads", "3"]),
    (["-n", "17"], ["--max-new-tokens", "17"]),
    (["--n-predict", "17"], ["--max-new-tokens", "17"]),
    (["-s", "5"], ["--seed", "5"]),
    (["--temp", "0.8"], ["--temperature", "0.8"]),
    (["-p", "hello"], ["hello"]),
    (["-f", "q.txt"], ["--prompt-file", "q.txt"]),
    (["--file", "q.txt"], ["--prompt-file", "q.txt"]),
]


def parsed(argv):
    ns = build_parser().parse_args(["run", *argv])
    if ns.prompt_option is not None:
        ns.prompt, ns.prompt_option = ns.prompt_option, None
    return ns


@pytest.mark.parametrize("alias, long", ALIASES, ids=[" ".join(a) for a, _ in ALIASES])
def test_llama_cpp_alias_parses_like_the_long_name(alias, long):
    a, b = parsed(alias), parsed(long)
    assert vars(a) == vars(b)
    assert settings_from_args(a) == settings_from_args(b)


def one_line_exit(capsys, argv):
    with pytest.raises(SystemExit) as e:
        main(argv)
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and err and "\n" not in err, err
    return err


def test_top_k_is_refused_with_a_hint(capsys):
    err = one_line_exit(capsys, ["run", "--top-k", "40", "x"])
    assert "unknown option --top-k; did you mean --top-k-entropy?" in err and "llama.cpp's top-k" in err
    err = one_line_exit(capsys, ["eval", "data.jsonl", "--out", "o.jsonl", "--top-k=40"])
    assert "unknown option --top-k;" in err


@pytest.mark.parametrize("argv", [
    ["run", "--max-s", "4", "x"],            # was an abbreviation of --max-seqs
    ["run", "--temperat", "1", "x"],
    ["models", "--ver"],                     # a subcommand's parser too
    ["models", "add", "m.gguf", "--ali", "x"],
])
def test_no_abbreviations(capsys, argv):
    err = one_line_exit(capsys, argv)
    assert "unknown option" in err


def test_close_misspelling_is_named(capsys):
    assert "did you mean --max-seqs?" in one_line_exit(capsys, ["run", "--max-seq", "4", "x"])


def test_method_has_choices(capsys):
    assert "invalid choice: 'beam'" in one_line_exit(capsys, ["run", "--method", "beam", "x"])


def test_branch_region_option():
    assert parsed(["--branch-region", "answer"]).branch_region == "answer"
    assert settings_from_args(parsed([])).branch_region == "auto"


def test_version_is_the_installed_metadata(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"eager-local {importlib.metadata.version('eager-local')}"


def test_every_parser_refuses_abbreviations():
    p = build_parser()
    stack = [p]
    while stack:
        q = stack.pop()
        assert q.allow_abbrev is False, q.prog
        if q._subparsers is not None:
            stack += list(q._subparsers._group_actions[0].choices.values())


def test_a_bare_prune_before_a_prompt_leaves_the_prompt_alone(capsys):
    p = build_parser()
    args = p.parse_args(["run", "--prune", "Tom had 15 marbles. He lost 6.", "-M", "8"])
    assert args.prune == "confidence" and args.prompt == "Tom had 15 marbles. He lost 6."
    assert p.parse_args(["run", "--prune", "none", "a prompt"]).prune == "none"
    with pytest.raises(SystemExit) as e:
        p.parse_args(["run", "--prune", "entropy", "a prompt"])
    assert e.value.code == 2 and "invalid choice: 'entropy'" in capsys.readouterr().err
