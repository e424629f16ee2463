"""``eager run``: one prompt, streamed as a growing sequence tree, or one JSON document;
``--prompts-file``: many prompts decoded together, one JSON document per line, in input order."""

from __future__ import annotations

import json
import sys

from ..errors import PromptError
from ..files.user_files import expand_path, read_user_file
from .common import (add_concurrency_arg, add_model_args, add_settings_args, load_model_from_args,
                     settings_from_args)

#: A prompt is refused above this many bytes (far beyond any context) before it is read whole.
MAX_PROMPT_BYTES = 16 << 20


def register(sub) -> None:
    p = sub.add_parser("run", help="run EAGER, full parallel or greedy on one prompt",
                       description="Decode one prompt; stream the sequence tree, or print --json.")
    p.add_argument("prompt", nargs="?", help="the prompt (or --prompt-file, or standard input)")
    p.add_argument("--prompt", "-p", dest="prompt_option", metavar="TEXT", help="the prompt (llama.cpp's spelling)")
    p.add_argument("--prompt-file", "-f", "--file", dest="prompt_file", metavar="PATH", help="read the prompt from a UTF-8 file")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of the live view")
    p.add_argument("--full", action="store_true", help="every sequence in full, each token coloured by its entropy")
    p.add_argument("--html", metavar="FILE", help="also write the run as one self-contained HTML page (as the TUI saves it)")
    p.add_argument("--svg", metavar="FILE", help="also write the tree against token position as an SVG (as the TUI saves it)")
    p.add_argument("--prompts-file", metavar="PATH",
                   help="many prompts (one per line, or JSONL with a prompt field), decoded together; "
                        "prints one --json document per prompt as JSONL, in input order")
    add_concurrency_arg(p)
    add_model_args(p)
    add_settings_args(p)
    p.set_defaults(func=main)


def read_prompt(args) -> str:
    if getattr(args, "prompt_option", None) is not None:
        if args.prompt is not None:
            raise PromptError("give the prompt as an argument or with --prompt, not both")
        args.prompt = args.prompt_option
    if args.prompt is not None and args.prompt_file:
        raise PromptError("give the prompt as an argument or with --prompt-file, not both")
    if args.prompt_file:
        path = expand_path(args.prompt_file, "prompt file", PromptError)
        data = read_user_file(path, "prompt file", PromptError, "a text file", limit=MAX_PROMPT_BYTES)
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise PromptError(f"prompt file {path} is not UTF-8 (byte {e.start}): convert it to UTF-8") from None
    elif args.prompt is not None:
        text = args.prompt
    elif sys.stdin is not None and not sys.stdin.isatty():
        try:  # bounded: `eager run < /dev/zero` must not read without end
            data = sys.stdin.buffer.read(MAX_PROMPT_BYTES + 1)
        except (OSError, ValueError) as e:
            raise PromptError(f"cannot read the prompt from standard input: {e}") from None
        if len(data) > MAX_PROMPT_BYTES:
            raise PromptError(f"standard input holds more than {MAX_PROMPT_BYTES:,} bytes: "
                              "that is no prompt; give a shorter one")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise PromptError("standard input is not UTF-8: convert it to UTF-8") from None
    else:
        raise PromptError('no prompt: eager run "your prompt" (or --prompt-file PATH, or pipe it in)')
    if not text.strip():
        raise PromptError("the prompt is empty: give some text for the model to continue")
    return text


def export_targets(args) -> dict[str, Path]:
    """--html and --svg, checked before the model loads."""
    from ..files.user_files import check_output_path

    out = {}
    for name, suffixes in (("html", (".html", ".htm")), ("svg", (".svg",))):
        path = getattr(args, name, None)
        if path:
            out[name] = check_output_path(path, f"--{name}", f"a file name ending in {suffixes[0]}",
                                          suffixes=suffixes)
    return out


def main(args) -> int:
    if args.prompts_file:
        return run_many(args)
    from ..decoding.controller import collect
    from ..view.live_run import LiveRun
    from ..files.run_export import recorded, save_html, save_svg

    prompt = read_prompt(args)
    settings = settings_from_args(args)
    targets = export_targets(args)
    if "html" in targets:  # the page's inspector shows the candidates, as the TUI's does
        settings = settings.with_(record_candidates=settings.top_k_entropy)
    model = load_model_from_args(args)
    run = LiveRun()
    try:
        events = recorded(model.stream(prompt, settings), run)
        if args.json:
            result = collect(events)
            json.dump(result.to_json(), sys.stdout, ensure_ascii=False)
            sys.stdout.write("\n")
        else:
            from .live import stream_to_terminal

            stream_to_terminal(events, model.info, full=args.full)
        run.add_vocab(model.engine)
    finally:
        model.close()
    for name, path in targets.items():
        written = (save_html if name == "html" else save_svg)(run, path)
        print(f"{name.upper()} written to {written}", file=sys.stderr)
    return 0


def run_many(args) -> int:
    """Decode every prompt of --prompts-file together; print each document once it and
    every earlier one are done."""
    from ..events import RunFinished
    from ..files.user_files import read_prompts

    if args.prompt is not None or args.prompt_option is not None or args.prompt_file:
        raise PromptError("give --prompts-file alone, without a prompt, --prompt or --prompt-file")
    if args.html or args.svg:
        raise PromptError("--html and --svg write one run: give them with one prompt, not with --prompts-file")
    prompts = read_prompts(args.prompts_file)
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
