"""``eager run``: one prompt, streamed as a growing sequence tree, or one JSON document;
``--prompts-file``: many prompts decoded together, one JSON document per line, in input order."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..errors import PromptError
from ..user_files import read_user_file
from .common import (add_concurrency_arg, add_model_args, add_settings_args, load_model_from_args,
                     settings_from_args)


def register(sub) -> None:
    p = sub.add_parser("run", help="run EAGER, full parallel or greedy on one prompt",
                       description="Decode one prompt; stream the sequence tree, or print --json.")
    p.add_argument("prompt", nargs="?", help="the prompt (or --prompt-file, or standard input)")
    p.add_argument("--prompt-file", "-f", metavar="PATH", help="read the prompt from a UTF-8 file")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the live view")
    p.add_argument("--prompts-file", metavar="PATH",
                   help="many prompts (one per line, or JSONL with a prompt field), decoded together; "
                        "prints one --json document per prompt as JSONL, in input order")
    add_concurrency_arg(p)
    add_model_args(p)
    add_settings_args(p)
    p.set_defaults(func=main)


def read_prompt(args) -> str:
    if args.prompt is not None and args.prompt_file:
        raise PromptError("give the prompt as an argument or with --prompt-file, not both")
    if args.prompt_file:
        path = Path(args.prompt_file).expanduser()
        data = read_user_file(path, "prompt file", PromptError, "a text file")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PromptError(f"prompt file {path} is not UTF-8 (byte {e.start}): convert it to UTF-8") from None
    elif args.prompt is not None:
        text = args.prompt
    elif not sys.stdin.isatty():
        data = sys.stdin.buffer.read()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PromptError("standard input is not UTF-8: convert it to UTF-8") from None
    else:
        raise PromptError('no prompt: eager run "your prompt" (or --prompt-file PATH, or pipe it in)')
    if not text.strip():
        raise PromptError("the prompt is empty: give some text for the model to continue")
    return text


def main(args) -> int:
    if args.prompts_file:
        return run_many(args)
    prompt = read_prompt(args)
    settings = settings_from_args(args)
    model = load_model_from_args(args)
    try:
        if args.json:
            result = model.run(prompt, settings)
            json.dump(result.to_json(), sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            from .live import stream_to_terminal

            stream_to_terminal(model.stream(prompt, settings), model.info)
    finally:
        model.close()
    return 0


def run_many(args) -> int:
    """Decode every prompt of --prompts-file together; print each document once it and
    every earlier one are done."""
    from ..events import RunFinished
    from ..user_files import read_prompts

    if args.prompt is not None or args.prompt_file:
        raise PromptError("give --prompts-file alone, without a prompt or --prompt-file")
    prompts = read_prompts(Path(args.prompts_file).expanduser())
    settings = settings_from_args(args)
    model = load_model_from_args(args)
    done: dict[int, dict] = {}
    printed = 0
    try:
        for i, ev in model.stream_many(prompts, settings, concurrency=args.concurrency):
            if isinstance(ev, RunFinished):
                done[i] = ev.result.to_json()
            while printed in done:
                json.dump(done.pop(printed), sys.stdout, ensure_ascii=False)
                sys.stdout.write("\n")
                sys.stdout.flush()
                printed += 1
    finally:
        model.close()
    return 0
