"""``eager serve``: an OpenAI-compatible HTTP server on the loaded model (docs/server.md)."""

from __future__ import annotations

import os
import sys
from dataclasses import replace

from ..extras import require
from .common import add_model_args, default_theta, load_model_from_args


def register(sub) -> None:
    from ..server.limits import DEFAULT_CONCURRENCY, DEFAULT_MAX_BODY, DEFAULT_MAX_QUEUE, DEFAULT_MAX_TOKENS

    p = sub.add_parser(
        "serve", help="serve the model over an OpenAI-compatible HTTP API",
        description="Serve /v1/completions, /v1/chat/completions and /v1/models, with EAGER "
                    "as a decoding mode (the \"eager\" request field). Binds to 127.0.0.1 "
                    "unless --host says otherwise.")
    add_model_args(p)
    g = p.add_argument_group("server")
    g.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1: this machine only)")
    g.add_argument("--port", type=int, default=8080, help="TCP port (default 8080; 0 picks a free one)")
    g.add_argument("--api-key", metavar="KEY", default=os.environ.get("EAGER_API_KEY"),
                   help="require 'Authorization: Bearer KEY' on /v1 (default: $EAGER_API_KEY, else none)")
    g.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                   help="let web pages from ORIGIN call the server (CORS; repeatable; '*' for any)")
    g.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="answer requests whose Host is NAME, e.g. a reverse proxy's name (repeatable; "
                        "localhost, 127.0.0.1 and [::1] always are)")
    g.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                   help="requests decoded together, one batched decode per step "
                        f"(1: one at a time; default {DEFAULT_CONCURRENCY})")
    g.add_argument("--max-queue", type=int, default=DEFAULT_MAX_QUEUE, metavar="N",
                   help="requests that may wait while --concurrency are decoding; more get 429 "
                        f"(default {DEFAULT_MAX_QUEUE})")
    g.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS, metavar="N",
                   help=f"largest max_tokens a request may ask for (default {DEFAULT_MAX_TOKENS})")
    g.add_argument("--max-body", type=int, default=DEFAULT_MAX_BODY, metavar="BYTES",
                   help=f"largest request body in bytes; larger get 413 (default {DEFAULT_MAX_BODY})")
    p.set_defaults(func=main)


def main(args) -> int:
    for module in ("starlette", "uvicorn", "jinja2"):
        require(module, "eager serve")
    from ..server.access import exposure_warning, is_loopback
    from ..server.limits import ServerConfig
    from ..server.listener import bind, serve

    cfg = ServerConfig(
        model_id="", host=args.host, port=args.port, api_key=args.api_key,
        allow_origins=tuple(args.allow_origin), allow_hosts=tuple(args.allow_host),
        max_queue=args.max_queue, concurrency=args.concurrency, max_tokens=args.max_tokens, max_body=args.max_body,
    ).validate()
    bind(args.host, args.port).close()  # a taken port fails before the model loads
    if not is_loopback(args.host) and not args.api_key:
        print(exposure_warning(args.host, args.allow_host), file=sys.stderr)
    model = load_model_from_args(args)
    cfg = replace(
        cfg, model_id=model.spec.alias or os.path.basename(model.info.path),
        max_choices=min(cfg.max_choices, int(model.engine.n_seq_max)),
        n_ctx=int(model.engine.n_ctx), default_theta=default_theta(args.model),
    )

    def announce(url: str) -> None:
        print(f"eager serve: {cfg.model_id} on {url}/v1 (Ctrl-C to stop)", flush=True)

    serve(model, cfg, announce)  # the worker closes the model when it stops
    print("eager serve: stopped", flush=True)
    return 0
