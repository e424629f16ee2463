"""``eager serve``: an OpenAI-compatible HTTP server with EAGER as a decoding mode.

Modules, one noun each:

- ``limits``    ServerConfig: address, key and every limit, as a value
- ``errors``    ApiError and the OpenAI error shape
- ``requests``  JSON bodies -> CompletionRequest (one message naming the bad field)
- ``chat``      chat messages -> prompt text (the model's template, or a plain transcript)
- ``worker``    the one generation thread that owns the Model (the engine-facing part)
- ``choices``   core events and results -> choices, forks and text deltas (the only
                module that reads the core's event names)
- ``responses`` response bodies and stream chunks in OpenAI's shape
- ``access``    Host and Origin checks (a 403 before any work: DNS rebinding)
- ``template_process`` the bounded child process that renders chat templates
- ``app``       the Starlette application: routes, auth, body size, error handlers
- ``listener``  uvicorn: binds the socket, prints the URL, shuts down cleanly

See docs/server.md for the HTTP interface and the ``eager`` extension.
"""

from .limits import ServerConfig

__all__ = ["ServerConfig"]
